"""Enlarging small images for the screen with crisp square pixels, the one place the studio does it.

A browser smooths a small image it scales up, which blurs the very pixels a 28x28 digit is made of; an image
already at its display size is shown as it is. This module imports only NumPy.
"""

from __future__ import annotations

import numbers

import numpy as np


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
