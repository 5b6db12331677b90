"""Tests for core.losses: binary cross-entropy as Keras computes it, and the reconstruction and test-set floors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import losses
from core.mnist import load_mnist, scale

pytestmark = pytest.mark.usefixtures("verified_mnist")  # `load_mnist` returns the data verified once.

BCE_TEST_FLOOR = 0.0580797823  # Equal to keras.losses.binary_crossentropy(x, x) in float64 over the test set.


@pytest.mark.parametrize(
    ("loss", "value", "expected"),
    [
        ("mse", 0.37, 0.0),
        ("binary_crossentropy", 0.0, -math.log(1 - 1e-7)),  # Black pixels cost only the clipping.
        ("binary_crossentropy", 1.0, -math.log(1 - 1e-7)),
        ("binary_crossentropy", 0.5, math.log(2)),
    ],
)
def test_reconstruction_floor_of_uniform_images(loss: str, value: float, expected: float) -> None:
    images = np.full((4, 28, 28, 1), value, np.float32)
    assert losses.reconstruction_floor(loss, images) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_reconstruction_floor_refuses_unknown_losses_and_unscaled_images() -> None:
    with pytest.raises(ValueError, match=r"Expected one of \['binary_crossentropy', 'mse'\]. Received loss='mae'."):
        losses.reconstruction_floor("mae", np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match=r"Expected scaled images with values in \[0, 1\]"):
        losses.reconstruction_floor("binary_crossentropy", load_mnist().x_test[:2])


@pytest.mark.parametrize("loss", sorted(losses.TEST_FLOORS))
def test_test_floors_are_the_floors_of_the_verified_test_set(loss: str) -> None:
    computed = losses.reconstruction_floor(loss, scale(load_mnist().x_test))
    assert losses.test_floor(loss) == pytest.approx(computed, rel=1e-12, abs=0)
    assert losses.test_floor("binary_crossentropy") == pytest.approx(BCE_TEST_FLOOR, abs=1e-10)


def test_test_floor_refuses_unknown_losses() -> None:
    with pytest.raises(ValueError, match="Invalid value for argument `loss`"):
        losses.test_floor("mae")


def test_bce_floor_agrees_with_keras() -> None:
    keras = pytest.importorskip("keras")
    images = scale(load_mnist().x_test[:200]).astype(np.float64)
    keras_loss = float(keras.ops.mean(keras.losses.binary_crossentropy(images, images)))
    assert losses.reconstruction_floor("binary_crossentropy", images) == pytest.approx(keras_loss, rel=1e-9)


def test_binary_crossentropy_clips_the_prediction_and_not_the_target() -> None:
    targets = np.array([0.0, 1.0, 0.5, 0.25])
    predictions = np.array([0.0, 1.0, 0.5, 0.75])
    expected = [-math.log(1 - 1e-7), -math.log(1 - 1e-7), math.log(2), -(0.25 * math.log(0.75) + 0.75 * math.log(0.25))]
    np.testing.assert_allclose(losses.binary_crossentropy(targets, predictions), expected, rtol=1e-12)
    assert losses.binary_crossentropy(targets.astype(np.float32), predictions).dtype == np.float64


def test_per_image_errors_average_over_each_image() -> None:
    targets = np.stack([np.zeros((2, 2, 1)), np.full((2, 2, 1), 0.5)])  # (2, 2, 2, 1)
    predictions = np.stack([np.full((2, 2, 1), 0.5), np.full((2, 2, 1), 0.5)])
    np.testing.assert_allclose(losses.per_image_binary_crossentropy(targets, predictions), [math.log(2)] * 2)
    np.testing.assert_allclose(losses.per_image_mean_squared_error(targets, predictions), [0.25, 0.0])


def test_the_floor_is_the_mean_binary_crossentropy_of_images_against_themselves() -> None:
    images = scale(load_mnist().x_test[:50])
    per_image = losses.per_image_binary_crossentropy(images, images)
    assert losses.reconstruction_floor("binary_crossentropy", images) == pytest.approx(per_image.mean(), rel=1e-12)


def test_a_test_loss_is_described_in_its_own_loss_and_floor() -> None:
    assert losses.describe_test_loss("binary_crossentropy") == (
        "The binary cross-entropy (the run's training loss) on the 10,000 MNIST test images. A perfect "
        "reconstruction scores 0.0581, because the targets are grey, not binary."
    )
    assert losses.describe_test_loss("mse").startswith("The mean squared error (the run's training loss)")
    assert losses.describe_test_loss("mse").endswith("A perfect reconstruction scores 0.0000.")
    with pytest.raises(ValueError, match="Invalid value for argument `loss`"):
        losses.describe_test_loss("hinge")
