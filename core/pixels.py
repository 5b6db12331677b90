"""Pixels as the studio shows them: small images enlarged with crisp square pixels, and the panels of a test image.

A browser smooths a small image it scales up, which blurs the very pixels a 28x28 digit is made of; an image
already at its display size is shown as it is. `enlarge_pixels` is the one place the studio enlarges; `enlarge`
first turns values in [0, 1] into grey or colour-mapped uint8 pixels for it.

The pictures (`core.pictures`) and the charts (`core.charts`) show a test image as the same panels, under the same
names, with the same colormap for the difference; those shared pieces live here so that neither imports the other.
This module imports only NumPy, and Matplotlib when `enlarge` is asked for a colormap.
"""

from __future__ import annotations

import numbers

import numpy as np

DIFFERENCE_COLORMAP = "berlin"  # Diverging through black, so an exact reconstruction looks like the background.


def enlarge_pixels(image: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel repeated `factor` times along the height and the width (nearest-neighbour enlargement).

    Args:
        image: (height, width) grey or (height, width, channels) values of any dtype.
        factor: how many output pixels each image pixel becomes, along each side; at least 1.

    Returns:
        A new array of the same dtype, (height * factor, width * factor) or (height * factor, width * factor,
        channels).

    Raises:
        ValueError: for a `factor` that is not an integer >= 1, or an image that is not 2- or 3-dimensional.
    """
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or factor < 1:
        raise ValueError(f"Invalid value for argument `factor`. Expected an integer >= 1. Received factor={factor!r}.")
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(
            "Invalid shape for argument `image`. Expected (height, width) or (height, width, channels). "
            f"Received shape={image.shape}."
        )
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)  # (h, w[, c]) -> (h * f, w * f[, c])


def enlarge(image: np.ndarray, factor: int, colormap: str | None = None) -> np.ndarray:
    """An image of values in [0, 1] as uint8 pixels for the screen, each repeated `factor` times each way.

    Args:
        image: values in [0, 1], shape (height, width) or (height, width, 1).
        factor: how many screen pixels each image pixel becomes, along each side; at least 1.
        colormap: a Matplotlib colormap name ("inferno") for a colour heat map, or None for grey.

    Returns:
        uint8 (height * factor, width * factor) grey, or (height * factor, width * factor, 3) RGB with a colormap.

    Raises:
        ValueError: for a `factor` below 1.
    """
    values = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    values = values.reshape(values.shape[:2])
    if colormap is None:
        pixels = np.round(values * 255).astype(np.uint8)
    else:
        import matplotlib

        pixels = matplotlib.colormaps[colormap](values, bytes=True)[..., :3]  # (height, width, 3) uint8
    return enlarge_pixels(pixels, factor)


def as_grey_image(image: np.ndarray) -> np.ndarray:
    """One grey image as float32 (height, width): the channel axis of a (height, width, 1) image dropped."""
    image = np.asarray(image, dtype=np.float32)
    return image[..., 0] if image.ndim == 3 else image


def panel_labels(noisy: bool = False, show_difference: bool = False) -> list[str]:
    """The names of the panels of one test image, top to bottom in a picture and left to right in a chart.

    Args:
        noisy: whether a denoiser's noisy input is shown between the original and the reconstruction.
        show_difference: whether the difference (reconstruction minus original) is shown last.
    """
    return [
        "Original",
        *(["Noisy input"] if noisy else []),
        "Reconstruction",
        *(["Difference"] if show_difference else []),
    ]
