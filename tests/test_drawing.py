"""Drawings to MNIST-like digits: the shape of what comes out, its size and centring, and a check against MNIST."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.drawing import BOX_SIZE, CENTRE, ink, to_mnist
from core.mnist import load_mnist, scale
from tests.drawings import ONE, SEVEN, drawing


def _bounding_box(digit: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(digit.any(axis=1))
    columns = np.flatnonzero(digit.any(axis=0))
    return rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1


def _centre_of_mass(digit: np.ndarray) -> tuple[float, float]:
    total = digit.sum()
    indices = np.arange(digit.shape[0])
    return (digit.sum(axis=1) * indices).sum() / total, (digit.sum(axis=0) * indices).sum() / total


def _one_pixel() -> np.ndarray:
    pixels = drawing([])
    pixels[100, 200, :3] = 255
    return pixels


def _edges() -> np.ndarray:
    # A frame whose ink touches all four sides of the canvas.
    return drawing([[(0, 0), (279, 0), (279, 279), (0, 279), (0, 0)]], width=10)


def _transparent_seven() -> np.ndarray:
    return drawing(SEVEN, background=(255, 255, 255, 0))


def _grey_seven() -> np.ndarray:
    return drawing(SEVEN)[..., 0]


def _retina_seven() -> np.ndarray:
    # A browser on a high-density screen may hand back twice the pixels.
    return drawing([[(2 * x, 2 * y) for x, y in stroke] for stroke in SEVEN], width=44, size=560)


DRAWINGS = {
    "seven": lambda: drawing(SEVEN),
    "one": lambda: drawing(ONE),
    "dot": lambda: drawing([[(90, 200)]]),
    "one pixel": _one_pixel,
    "thin diagonal line": lambda: drawing([[(30, 20), (250, 260)]], width=1),
    "ink touching the edges": _edges,
    "all white": lambda: np.full((280, 280, 4), 255, np.uint8),  # A canvas filled with ink: a 20x20 square.
    "wide short stroke": lambda: drawing([[(30, 140), (250, 150)]], width=20),
    "transparent background": _transparent_seven,
    "grey values": _grey_seven,
    "high-density canvas": _retina_seven,
}


@pytest.mark.parametrize("name", list(DRAWINGS))
def test_drawing_becomes_an_mnist_like_digit(name: str) -> None:
    digit = to_mnist(DRAWINGS[name]())
    assert digit is not None
    assert digit.shape == (28, 28)
    assert digit.dtype == np.float32
    assert digit.min() >= 0 and digit.max() == pytest.approx(1.0)
    assert abs(max(_bounding_box(digit)) - BOX_SIZE) <= 1
    row, column = _centre_of_mass(digit)
    assert abs(row - CENTRE) <= 0.5 + 1e-6 and abs(column - CENTRE) <= 0.5 + 1e-6, (row, column)


EMPTY = {
    "opaque black": np.zeros((280, 280, 4), np.uint8) + np.array([0, 0, 0, 255], np.uint8),
    "all transparent": np.zeros((280, 280, 4), np.uint8),
    "transparent white": np.full((280, 280, 4), [255, 255, 255, 0], np.uint8),
    "faint smudge": np.full((280, 280, 4), [6, 6, 6, 255], np.uint8),
    "black floats": np.zeros((280, 280, 3), np.float32),
}


@pytest.mark.parametrize("name", list(EMPTY))
def test_a_canvas_without_ink_gives_none(name: str) -> None:
    assert to_mnist(EMPTY[name]) is None


def test_aspect_ratio_is_kept() -> None:
    # A 260 x 40 pixel bar (with round ends) becomes 20 pixels wide and 3 high.
    digit = to_mnist(drawing([[(30, 140), (230, 140)]], width=40))
    assert _bounding_box(digit) == (round(40 * BOX_SIZE / 240), BOX_SIZE)
    one = to_mnist(drawing(ONE))
    height, width = _bounding_box(one)
    assert height == BOX_SIZE and width <= 4


def test_transparent_and_black_backgrounds_give_the_same_digit() -> None:
    np.testing.assert_array_equal(to_mnist(_transparent_seven()), to_mnist(drawing(SEVEN)))


def test_thin_strokes_are_brightened_into_an_unbroken_line() -> None:
    # A one-pixel line scaled down twelve times would be a faint grey haze of a tenth of a pixel's ink.
    digit = to_mnist(drawing([[(30, 20), (250, 260)]], width=1))
    assert digit.max() == pytest.approx(1.0)
    rows = np.flatnonzero(digit.any(axis=1))
    assert (digit[rows[0] : rows[-1] + 1].sum(axis=1) > 0.5).all()


def test_ink_counts_the_brightest_channel_times_opacity() -> None:
    pixels = np.array([[[255, 0, 0, 255], [255, 255, 255, 128], [255, 255, 255, 0], [0, 0, 0, 255]]], np.uint8)
    np.testing.assert_allclose(ink(pixels), [[1.0, 128 / 255, 0.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize(
    ("pixels", "shape"),
    [(np.zeros((280, 280, 2)), "(280, 280, 2)"), (np.zeros(280), "(280,)"), (np.zeros((0, 0)), "(0, 0)")],
)
def test_what_is_not_an_image_is_refused(pixels: np.ndarray, shape: str) -> None:
    with pytest.raises(ValueError, match=r"Invalid shape for argument `pixels`\. Expected .* Received shape=") as error:
        to_mnist(pixels)
    assert str(error.value).endswith(f"Received shape={shape}.")


def _upscaled(digit: np.ndarray, resample: Image.Resampling) -> np.ndarray:
    big = np.asarray(Image.fromarray(digit).resize((280, 280), resample))
    return np.dstack([big, big, big, np.full_like(big, 255)])


def _correlation(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.corrcoef(first.ravel(), second.ravel())[0, 1])


def _best_shifted_correlation(first: np.ndarray, second: np.ndarray) -> float:
    # Integer centring can land one pixel off when a centre of mass sits near half a pixel.
    shifts = [(row, column) for row in (-1, 0, 1) for column in (-1, 0, 1)]
    return max(_correlation(np.roll(first, shift, axis=(0, 1)), second) for shift in shifts)


@pytest.mark.parametrize(
    ("resample", "median_correlation", "worst_shifted_correlation"),
    [(Image.Resampling.NEAREST, 0.999, 0.95), (Image.Resampling.BILINEAR, 0.95, 0.85)],
)
def test_an_mnist_digit_drawn_large_comes_back_as_itself(
    resample: Image.Resampling, median_correlation: float, worst_shifted_correlation: float
) -> None:
    """MNIST test digits blown up to canvas size (sharp, or smoothed like a soft pen) are prepared back into MNIST."""
    mnist = load_mnist()
    originals = scale(mnist.x_test[:200])[..., 0]
    prepared = np.stack([to_mnist(_upscaled(digit, resample)) for digit in mnist.x_test[:200]])
    correlations = [_correlation(mine, theirs) for mine, theirs in zip(prepared, originals, strict=True)]
    shifted = [_best_shifted_correlation(mine, theirs) for mine, theirs in zip(prepared, originals, strict=True)]
    assert np.median(correlations) > median_correlation
    assert min(shifted) > worst_shifted_correlation
    assert np.median(np.abs(prepared - originals).mean(axis=(1, 2))) < 0.04
