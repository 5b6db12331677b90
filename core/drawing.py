"""Drawing preprocessing: a canvas's RGBA pixels turned into an MNIST-like 28x28 input (`ink`, `to_mnist`).

MNIST's digits were prepared in a known way (LeCun et al.): each binary NIST digit was scaled, keeping its aspect
ratio, so that its longer side fits a 20x20 box, with antialiasing that leaves grey edges; then it was placed in a
28x28 field so that its intensity centre of mass sits at the centre. `to_mnist` does the same to a drawing, so a
model trained on MNIST sees a drawn digit the way it saw the digits it learned from.

The centre is pixel (14, 14) in row and column index coordinates: that is where the 10,000 MNIST test digits put
their centre of mass (13.99 and 14.01 on average, each within half a pixel, as integer shifts leave it).

This module imports NumPy and Pillow only. Running a model on the prepared digit is `core.inference.denoise`, and
enlarging it for the screen `core.pixels.enlarge`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

IMAGE_SIZE = 28
BOX_SIZE = 20  # The longer side of every MNIST digit, in pixels.
CENTRE = 14.0  # Row and column of the centre of mass of MNIST digits, in index coordinates.
INK_THRESHOLD = 0.15  # Fainter pixels (a brush's antialiased fringe) neither count as ink nor widen the crop.


def ink(pixels: np.ndarray) -> np.ndarray:
    """How much ink each pixel of a drawing holds, from 0 (background) to 1 (full white stroke).

    The canvas draws white strokes on black, so the ink of a pixel is the brightest of its red, green and blue
    values, times its opacity: a transparent background counts as no ink, whatever colour it hides.

    Args:
        pixels: a drawing as (height, width, 4) RGBA, (height, width, 3) RGB or (height, width) grey values, either
            uint8 in [0, 255] or floats in [0, 1].

    Returns:
        A float32 (height, width) array in [0, 1].

    Raises:
        ValueError: for any other shape, or an empty image.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)) or pixels.size == 0:
        raise ValueError(
            "Invalid shape for argument `pixels`. Expected (height, width, 4) RGBA, (height, width, 3) RGB or "
            f"(height, width) grey values. Received shape={pixels.shape}."
        )
    values = pixels.astype(np.float32)
    if pixels.dtype == np.uint8:
        values /= np.float32(255)
    values = np.clip(values, 0, 1)
    if values.ndim == 2:
        return values
    brightness = values[..., :3].max(axis=-1)
    return brightness * values[..., 3] if values.shape[-1] == 4 else brightness


def to_mnist(pixels: np.ndarray) -> np.ndarray | None:
    """A drawing prepared as MNIST's digits were: cropped to its ink, scaled to a 20-pixel longer side, centred.

    The crop is the bounding box of the pixels with ink; it is resized with area averaging (each output pixel is
    the mean of the canvas pixels it covers, the antialiasing that gives MNIST its grey edges) so that its longer
    side is 20 pixels and its aspect ratio is kept; the result is brightened so that its strongest pixel is 1, as a
    thin stroke would otherwise fade to grey; then it is pasted into a black 28x28 image at the integer offset that
    puts its intensity centre of mass nearest to pixel (14, 14), moved only as far as keeps all of it inside.

    Args:
        pixels: the drawing, as `ink` takes it: usually the canvas's (280, 280, 4) uint8 RGBA, white on black.

    Returns:
        A float32 (28, 28) array in [0, 1], or None when the drawing has no ink (an empty canvas).

    Raises:
        ValueError: if `pixels` does not have the shape of an image (see `ink`).
    """
    amount = ink(pixels)
    rows = np.flatnonzero((amount >= INK_THRESHOLD).any(axis=1))
    columns = np.flatnonzero((amount >= INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        return None
    cropped = amount[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    height, width = cropped.shape
    factor = BOX_SIZE / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))  # PIL takes (width, height).
    scaled = np.asarray(Image.fromarray(cropped, mode="F").resize(size, Image.Resampling.BOX), dtype=np.float32)
    scaled = np.clip(scaled / scaled.max(), 0, 1)

    # Where the centre of mass would land if the scaled digit were pasted at the top-left corner.
    total = scaled.sum()
    centre_row = (scaled.sum(axis=1) * np.arange(scaled.shape[0])).sum() / total
    centre_column = (scaled.sum(axis=0) * np.arange(scaled.shape[1])).sum() / total
    top = int(np.clip(round(CENTRE - centre_row), 0, IMAGE_SIZE - scaled.shape[0]))
    left = int(np.clip(round(CENTRE - centre_column), 0, IMAGE_SIZE - scaled.shape[1]))

    digit = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    digit[top : top + scaled.shape[0], left : left + scaled.shape[1]] = scaled
    return digit
