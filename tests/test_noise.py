"""Tests for core.noise: every kind of noise keeps shape, dtype and range, follows its seed and its amount."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.mnist import Mnist, scale
from core.noise import NOISE_KINDS, add_noise

NOISY_KINDS = ["gaussian", "salt_pepper", "block"]


@pytest.fixture
def digits(real_mnist: Mnist) -> np.ndarray:
    return scale(real_mnist.x_test[:64])  # (64, 28, 28, 1)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_keeps_shape_dtype_and_range_and_leaves_the_input_alone(kind: str, digits: np.ndarray) -> None:
    original = digits.copy()
    noisy = add_noise(digits, kind, 0.3, seed=1)
    assert noisy.dtype == np.float32
    assert noisy.shape == digits.shape
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert noisy is not digits
    np.testing.assert_array_equal(digits, original)


@pytest.mark.parametrize("kind", NOISY_KINDS)
def test_noise_is_determined_by_the_seed(kind: str, digits: np.ndarray) -> None:
    first = add_noise(digits, kind, 0.3, seed=7)
    np.testing.assert_array_equal(first, add_noise(digits, kind, 0.3, seed=7))
    np.testing.assert_array_equal(first, add_noise(digits, kind, 0.3, seed=np.random.default_rng(7)))
    assert not np.array_equal(first, add_noise(digits, kind, 0.3, seed=8))
    assert not np.array_equal(first, digits)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_zero_amount_changes_nothing(kind: str, digits: np.ndarray) -> None:
    np.testing.assert_array_equal(add_noise(digits, kind, 0.0), digits)


def test_none_returns_a_float32_copy() -> None:
    images = np.full((2, 28, 28), 0.5, np.float64)
    noisy = add_noise(images, "none", 0.9)
    assert noisy.dtype == np.float32
    np.testing.assert_array_equal(noisy, images)


def test_gaussian_amount_is_the_standard_deviation() -> None:
    gray = np.full((100, 28, 28, 1), 0.5, np.float32)
    noise = add_noise(gray, "gaussian", 0.1, seed=0) - gray
    assert float(noise.mean()) == pytest.approx(0, abs=2e-3)
    assert float(noise.std()) == pytest.approx(0.1, rel=0.02)


def test_salt_pepper_amount_is_the_fraction_of_pixels_set_to_black_or_white() -> None:
    gray = np.full((100, 28, 28, 1), 0.5, np.float32)
    noisy = add_noise(gray, "salt_pepper", 0.2, seed=0)
    pixels = noisy.size
    assert set(np.unique(noisy).tolist()) == {0.0, 0.5, 1.0}
    assert np.count_nonzero(noisy == 0) / pixels == pytest.approx(0.1, abs=0.005)
    assert np.count_nonzero(noisy == 1) / pixels == pytest.approx(0.1, abs=0.005)


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1), (50, 28, 28), (50, 28, 28, 1)])
def test_block_erases_one_square_of_about_amount_of_each_image(shape: tuple[int, ...]) -> None:
    white = np.ones(shape, np.float32)
    noisy = add_noise(white, "block", 0.25, seed=3)
    images = noisy.reshape(-1, 28, 28)
    corners = set()
    for image in images:
        erased_rows, erased_columns = np.nonzero(image == 0)
        assert len(erased_rows) == 14 * 14  # round(sqrt(0.25 * 784)) = 14
        top, left = erased_rows.min(), erased_columns.min()
        assert erased_rows.max() - top == 13 and erased_columns.max() - left == 13  # One solid square.
        corners.add((int(top), int(left)))
    assert len(corners) > min(len(images), 10) // 2  # Each image gets its own place.


def test_block_of_a_whole_amount_erases_everything() -> None:
    assert not add_noise(np.ones((3, 28, 28, 1), np.float32), "block", 1.0).any()


def test_unknown_noise_kind_is_refused_in_keras_voice() -> None:
    with pytest.raises(ValueError) as raised:
        add_noise(np.zeros((28, 28), np.float32), "speckle", 0.1)
    assert str(raised.value) == (
        "Invalid value for argument `kind`. Expected one of ['none', 'gaussian', 'salt_pepper', 'block']. "
        "Received kind='speckle'."
    )


@pytest.mark.parametrize("amount", [-0.1, 1.5, math.nan, True, "0.1"])
def test_noise_amount_outside_unit_range_is_refused(amount: object) -> None:
    with pytest.raises(ValueError, match=r"Invalid value for argument `amount`. Expected a number in \[0, 1\]"):
        add_noise(np.zeros((28, 28), np.float32), "gaussian", amount)  # type: ignore[arg-type]


def test_noisy_test_images_are_drawn_with_the_runs_seed_plus_the_test_offset() -> None:
    from core.noise import TEST_NOISE_SEED_OFFSET, noisy_test_images
    from core.spec import NoiseSpec, TrainingSpec

    images = np.full((4, 28, 28, 1), 0.5, dtype=np.float32)
    training = TrainingSpec(noise=NoiseSpec(kind="gaussian", amount=0.2), seed=7)
    expected = add_noise(images, "gaussian", 0.2, seed=7 + TEST_NOISE_SEED_OFFSET)
    np.testing.assert_array_equal(noisy_test_images(images, training), expected)
    assert not np.array_equal(noisy_test_images(images, TrainingSpec(noise=training.noise, seed=8)), expected)
