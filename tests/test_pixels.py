"""Tests for core.pixels: enlarging grey and colour images into crisp squares, and refusing what cannot be."""

from __future__ import annotations

import numpy as np
import pytest

from core.pixels import enlarge, enlarge_pixels


@pytest.mark.parametrize(
    ("image", "factor"),
    [
        (np.arange(6, dtype=np.uint8).reshape(2, 3), 3),  # (height, width) grey
        (np.arange(12, dtype=np.float32).reshape(2, 2, 3) / 12, 4),  # (height, width, 3) RGB
        (np.arange(4, dtype=np.float64).reshape(2, 2, 1), 1),  # (height, width, 1); a factor of 1 copies
    ],
)
def test_each_pixel_becomes_a_square_of_its_value(image: np.ndarray, factor: int) -> None:
    enlarged = enlarge_pixels(image, factor)
    assert enlarged.dtype == image.dtype
    assert enlarged.shape == (image.shape[0] * factor, image.shape[1] * factor, *image.shape[2:])
    for row in range(image.shape[0]):
        for column in range(image.shape[1]):
            square = enlarged[row * factor : (row + 1) * factor, column * factor : (column + 1) * factor]
            assert (square == image[row, column]).all()


def test_it_matches_the_kronecker_product_it_replaced() -> None:
    rgb = np.random.default_rng(0).random((28, 28, 3), dtype=np.float32)
    np.testing.assert_array_equal(enlarge_pixels(rgb, 4), np.kron(rgb, np.ones((4, 4, 1), dtype=np.float32)))
    grey = np.random.default_rng(1).integers(0, 256, (62, 100), dtype=np.uint8)
    np.testing.assert_array_equal(enlarge_pixels(grey, 3), np.kron(grey, np.ones((3, 3), dtype=np.uint8)))


@pytest.mark.parametrize("factor", [0, -2, 1.5, True, "2"])
def test_a_factor_that_is_not_a_positive_integer_is_refused(factor: object) -> None:
    with pytest.raises(ValueError, match=r"Invalid value for argument `factor`. Expected an integer >= 1\."):
        enlarge_pixels(np.zeros((2, 2)), factor)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(4,), (1, 2, 2, 1)])
def test_an_image_that_is_not_two_or_three_dimensional_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"Expected \(height, width\) or \(height, width, channels\)"):
        enlarge_pixels(np.zeros(shape), 2)


def test_enlarge_repeats_pixels_into_squares() -> None:
    image = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)
    grey = enlarge(image, 3)
    assert grey.shape == (6, 6) and grey.dtype == np.uint8
    assert (grey[:3, 3:] == 255).all() and (grey[:3, :3] == 0).all() and (grey[3:, :3] == 128).all()
    colour = enlarge(image[..., np.newaxis], 2, colormap="inferno")
    assert colour.shape == (4, 4, 3) and colour.dtype == np.uint8
    with pytest.raises(ValueError, match=r"Expected an integer >= 1\. Received factor=0\."):
        enlarge(image, 0)
