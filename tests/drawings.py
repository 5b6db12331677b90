"""Fake canvas drawings for tests: white strokes on black, as the Draw page's canvas returns them."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

CANVAS_SIZE = 280
SEVEN = [[(70, 60), (210, 60), (120, 230)]]
ONE = [[(140, 40), (140, 240)]]


def drawing(
    strokes: list[list[tuple[int, int]]],
    width: int = 22,
    size: int = CANVAS_SIZE,
    background: tuple[int, int, int, int] = (0, 0, 0, 255),
) -> np.ndarray:
    """A (size, size, 4) uint8 RGBA canvas with each stroke drawn as a white polyline with round ends."""
    image = Image.new("RGBA", (size, size), background)
    pen = ImageDraw.Draw(image)
    for points in strokes:
        if len(points) == 1:
            x, y = points[0]
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=(255, 255, 255, 255))
            continue
        pen.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=(255, 255, 255, 255))
    return np.asarray(image).copy()
