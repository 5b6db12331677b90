"""Pictures of reconstructions, drawn with Matplotlib: grid cells for the screen and the grid as a PNG file.

Digits are drawn as the reference tutorial draws them: grey levels from black (0) to white (1), no axes. A
difference is the reconstruction minus the original, from blue (ink the reconstruction misses) through black
(no difference) to red (ink it adds), on a fixed scale of -1 to 1 so that images can be compared. The interactive
Plotly charts of the same images are in `core.charts`.

Images are scaled float arrays in [0, 1] of shape (28, 28) or (28, 28, 1), or batches of them. Nothing here
imports Streamlit; the PNG is drawn with Matplotlib's object API, never pyplot, so it is safe in any thread.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from core.pixels import DIFFERENCE_COLORMAP, as_grey_image, enlarge_pixels, panel_labels

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZOOM = 4  # Screen pixels per MNIST pixel: 28 -> 112.
GAP = 4  # Pixels between the pictures of one cell.

# The grid PNG, in output pixels.
_IMAGE_GAP = 6
_BLOCK_GAP = 20
_TITLE_HEIGHT = 38
_LABEL_WIDTH = 150
_LABEL_PAD = 12  # Between a row's label, right-aligned, and the row's first image.
_MARGIN = 12
_LEGEND_HEIGHT = 30
_DPI = 100
_FONT_SIZE = 9  # Points, for every text of the PNGs.
ELLIPSIS = "…"


# --- One test image ----------------------------------------------------------------------------------------


def gray_rgb(image: np.ndarray) -> np.ndarray:
    """One image as float RGB (height, width, 3) in [0, 1]: black for 0, white for 1."""
    square = np.clip(as_grey_image(image), 0, 1)
    return np.repeat(square[..., np.newaxis], 3, axis=-1)


def difference_rgb(original: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """The reconstruction minus the original as float RGB (height, width, 3) in [0, 1].

    Blue where the reconstruction misses ink, red where it adds ink, black where they agree.
    """
    difference = as_grey_image(reconstruction) - as_grey_image(original)  # In [-1, 1].
    colormap = matplotlib.colormaps[DIFFERENCE_COLORMAP]
    return colormap((difference + 1) / 2)[..., :3].astype(np.float32)


def cell_panels(
    original: np.ndarray,
    reconstruction: np.ndarray,
    noisy: np.ndarray | None = None,
    show_difference: bool = False,
) -> list[np.ndarray]:
    """The pictures of one test image, top to bottom: original, noisy input (if any), reconstruction, difference.

    `core.pixels.panel_labels` names them, in the same order.

    Returns:
        A list of float RGB (28, 28, 3) arrays.
    """
    panels = [gray_rgb(original)]
    if noisy is not None:
        panels.append(gray_rgb(noisy))
    panels.append(gray_rgb(reconstruction))
    if show_difference:
        panels.append(difference_rgb(original, reconstruction))
    return panels


def cell_image(
    original: np.ndarray,
    reconstruction: np.ndarray,
    noisy: np.ndarray | None = None,
    show_difference: bool = False,
    zoom: int = ZOOM,
) -> np.ndarray:
    """One test image's pictures stacked top to bottom (see `cell_panels`), enlarged, for `st.image`.

    Args:
        original: the clean image.
        reconstruction: the model's output.
        noisy: the corrupted input a denoiser was given, or None.
        show_difference: whether to add the difference map below.
        zoom: screen pixels per image pixel.

    Returns:
        uint8 RGB (rows * 28 * zoom + gaps, 28 * zoom, 3), white between the pictures.

    Raises:
        ValueError: if `zoom` is not a positive integer.
    """
    if zoom < 1:
        raise ValueError(f"Invalid value for argument `zoom`. Expected a positive integer. Received zoom={zoom}.")
    panels = [enlarge_pixels(panel, zoom) for panel in cell_panels(original, reconstruction, noisy, show_difference)]
    width = panels[0].shape[1]
    gap = np.ones((GAP, width, 3), dtype=np.float32)
    stacked = [part for panel in panels for part in (panel, gap)][:-1]
    return np.round(np.concatenate(stacked) * 255).astype(np.uint8)


# --- The grid as a PNG -------------------------------------------------------------------------------------


def grid_size(count: int, rows: int, columns: int = 16, titles: bool = True, legend: bool = False) -> tuple[int, int]:
    """The (width, height) in pixels of `grid_png` for `count` images with `rows` pictures each."""
    columns = max(1, min(columns, count))
    blocks = max(1, -(-count // columns))
    side = 28 * ZOOM
    width = _MARGIN + _LABEL_WIDTH + columns * side + (columns - 1) * _IMAGE_GAP + _MARGIN
    block_height = (_TITLE_HEIGHT if titles else 0) + rows * side + (rows - 1) * _IMAGE_GAP
    height = 2 * _MARGIN + blocks * block_height + (blocks - 1) * _BLOCK_GAP + (_LEGEND_HEIGHT if legend else 0)
    return width, height


def grid_png(
    originals: np.ndarray,
    reconstructions: np.ndarray,
    noisy: np.ndarray | None = None,
    show_difference: bool = False,
    titles: Sequence[str] | None = None,
    columns: int = 16,
) -> bytes:
    """The images as the reference tutorial shows them: originals in one row, reconstructions in the row below.

    Grey levels, no axes; a noisy-input row sits between them for a denoiser, and a difference row below them
    when asked for. More than `columns` images wrap into further blocks of rows. Each row is named on the left,
    and each image can carry a short title (say its index, digit and error).

    Args:
        originals: (n, 28, 28) or (n, 28, 28, 1) clean images in [0, 1].
        reconstructions: the model's outputs, same shape.
        noisy: the corrupted inputs of a denoiser, same shape, or None.
        show_difference: whether to add a row of difference maps (reconstruction minus original).
        titles: one short text per image, drawn above its original (a newline splits it in two), or None.
        columns: the most images in one row.

    Returns:
        The PNG file's bytes; its size is `grid_size(n, rows, columns, titles is not None, show_difference)`.

    Raises:
        ValueError: for no images, arrays of different lengths, a wrong number of titles, or `columns` < 1.
    """
    count = len(originals)
    if count == 0:
        raise ValueError("Invalid value for argument `originals`. Expected at least one image. Received none.")
    lengths = {"reconstructions": len(reconstructions), **({"noisy": len(noisy)} if noisy is not None else {})}
    for name, length in lengths.items():
        if length != count:
            raise ValueError(
                f"Invalid value for argument `{name}`. Expected {count} images, as many as `originals`. "
                f"Received {length}."
            )
    _check_titles(titles, count)
    if columns < 1:
        raise ValueError(f"Invalid value for argument `columns`. Expected a positive integer. Received {columns}.")

    labels = fit_labels(panel_labels(noisy is not None, show_difference))
    rows = len(labels)
    columns = min(columns, count)
    width, height = grid_size(count, rows, columns, titles is not None, show_difference)
    canvas = np.ones((height, width, 3), dtype=np.float32)
    side = 28 * ZOOM
    block_height = (_TITLE_HEIGHT if titles is not None else 0) + rows * side + (rows - 1) * _IMAGE_GAP
    texts: list[tuple[float, float, str, dict[str, str]]] = []
    for block_start in range(0, count, columns):
        top = _MARGIN + (block_start // columns) * (block_height + _BLOCK_GAP)
        images_top = top + (_TITLE_HEIGHT if titles is not None else 0)
        for row, label in enumerate(labels):
            y = images_top + row * (side + _IMAGE_GAP)
            texts.append((_MARGIN + _LABEL_WIDTH - _LABEL_PAD, y + side / 2, label, {"ha": "right", "va": "center"}))
        for column, index in enumerate(range(block_start, min(block_start + columns, count))):
            x = _MARGIN + _LABEL_WIDTH + column * (side + _IMAGE_GAP)
            panels = cell_panels(
                originals[index], reconstructions[index], None if noisy is None else noisy[index], show_difference
            )
            for row, panel in enumerate(panels):
                y = images_top + row * (side + _IMAGE_GAP)
                canvas[y : y + side, x : x + side] = enlarge_pixels(panel, ZOOM)
            if titles is not None:
                texts.append((x + side / 2, images_top - 4, titles[index], {"ha": "center", "va": "bottom"}))
    if show_difference:
        legend = "Difference = reconstruction - original: blue where ink is missing, red where ink is added."
        texts.append(
            (_MARGIN + _LABEL_WIDTH, height - _MARGIN - _LEGEND_HEIGHT / 2, legend, {"ha": "left", "va": "center"})
        )

    return _render_png(canvas, texts)


def _render_png(canvas: np.ndarray, texts: list[tuple[float, float, str, dict[str, str]]]) -> bytes:
    height, width = canvas.shape[:2]
    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    # `figimage` lays the pixels down one to one, with none of the resampling an axes image would cost.
    figure.figimage(np.round(canvas * 255).astype(np.uint8), origin="upper")
    for x, y, text, alignment in texts:
        # A run's name is the user's text: a pair of "$" in it is not Matplotlib's mathtext.
        figure.text(x / width, 1 - y / height, text, fontsize=_FONT_SIZE, color="#31333F", linespacing=1.3,
                    parse_math=False, **alignment)  # fmt: skip
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def text_width(text: str) -> float:
    """The width in pixels of one line of `text` as the PNGs draw it: Matplotlib's default font at their size."""
    renderer = RendererAgg(1, 1, _DPI)
    width, _, _ = renderer.get_text_width_height_descent(text, FontProperties(size=_FONT_SIZE), ismath=False)
    return width


def fit_labels(labels: Sequence[str], width: float = _LABEL_WIDTH - _LABEL_PAD) -> list[str]:
    """Each label as it fits `width` pixels (the label column's), shortened with "…" where it is longer.

    A right-aligned label wider than its column would run off the picture's left edge, so each is measured with
    the font it is drawn in. A long label keeps its start and the part where it first differs from the other
    labels: two runs both named "seed" are "seed (20261127-154515-seed)" and "seed (20261127-160102-seed)", and
    the times are what tell them apart, so "seed…154515-seed)" loses characters between the two first, and only
    then from its end.

    Returns:
        The labels in the same order, each at most `width` pixels wide (an ellipsis alone if nothing more fits).
    """
    return [_fit_label(label, [other for other in labels if other != label], width) for label in labels]


def _fit_label(label: str, others: Sequence[str], width: float) -> str:
    if text_width(label) <= width:
        return label
    # Where the label first differs from the nearest other one, moved back to the start of that word.
    differs = max((len(os.path.commonprefix([label, other])) for other in others), default=0)
    while differs > 0 and label[differs - 1].isalnum():
        differs -= 1
    head, tail = label[:differs], label[differs:]
    for kept in range(len(head) - 1, 0, -1):  # Lose characters between the start and the difference.
        candidate = f"{head[:kept].rstrip()}{ELLIPSIS}{tail}"
        if text_width(candidate) <= width:
            return candidate
    # Too long even so: lose characters from the end, keeping the start if some of the difference stays with it.
    for text, shortest in ((label, differs + 1), (f"{ELLIPSIS}{tail}", 2)):
        for kept in range(len(text) - 1, shortest - 1, -1):
            candidate = f"{text[:kept].rstrip()}{ELLIPSIS}"
            if text_width(candidate) <= width:
                return candidate
    return ELLIPSIS


def png_size(png: bytes) -> tuple[int, int]:
    """The (width, height) a PNG file declares in its header.

    Raises:
        ValueError: if `png` does not start with the PNG signature.
    """
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("Invalid value for argument `png`. Expected the bytes of a PNG file.")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def comparison_png(
    originals: np.ndarray,
    reconstructions: Sequence[np.ndarray],
    names: Sequence[str],
    titles: Sequence[str] | None = None,
) -> bytes:
    """The same test images reconstructed by several models: originals in the top row, one row per model below.

    Args:
        originals: (n, 28, 28) or (n, 28, 28, 1) clean images in [0, 1].
        reconstructions: one array of n outputs per model, in the order of `names`.
        names: each model's row label; a long one is shortened to fit the label column (see `fit_labels`).
        titles: one short text per image, drawn above its original, or None.

    Returns:
        The PNG file's bytes, `grid_size(n, 1 + len(names), n, titles is not None)` in size.

    Raises:
        ValueError: for no images, no models, names and reconstructions of different lengths, or a model with a
            different number of images.
    """
    count = len(originals)
    if count == 0 or not names or len(names) != len(reconstructions):
        raise ValueError(
            "Invalid value for argument `reconstructions`. Expected at least one image and one array per name. "
            f"Received {count} images, {len(reconstructions)} arrays and {len(names)} names."
        )
    for name, outputs in zip(names, reconstructions, strict=True):
        if len(outputs) != count:
            raise ValueError(
                f"Invalid value for argument `reconstructions`. Expected {count} images for {name!r}, as many as "
                f"`originals`. Received {len(outputs)}."
            )
    _check_titles(titles, count)
    return rows_png(["Original", *names], [originals, *reconstructions], titles)


def rows_png(labels: Sequence[str], rows: Sequence[np.ndarray], titles: Sequence[str] | None = None) -> bytes:
    """Rows of grey images, each row named on the left, with a short title above each column.

    Args:
        labels: each row's name; a long one is shortened to fit the label column (see `fit_labels`).
        rows: one array of n images, (n, 28, 28) or (n, 28, 28, 1) in [0, 1], per label; all of the same length.
        titles: one short text per column, drawn above the first row, or None.

    Returns:
        The PNG file's bytes, `grid_size(n, len(rows), n, titles is not None)` in size.

    Raises:
        ValueError: for no rows or no images, labels and rows of different lengths, rows of different lengths, or a
            wrong number of titles.
    """
    count = len(rows[0]) if len(rows) else 0
    if count == 0 or len(labels) != len(rows):
        raise ValueError(
            "Invalid value for argument `rows`. Expected at least one row of images and one label per row. "
            f"Received {len(rows)} rows of {count} images and {len(labels)} labels."
        )
    for label, images in zip(labels, rows, strict=True):
        if len(images) != count:
            raise ValueError(
                f"Invalid value for argument `rows`. Expected {count} images in row {label!r}, as many as in the "
                f"first row. Received {len(images)}."
            )
    _check_titles(titles, count)
    width, height = grid_size(count, len(rows), count, titles is not None)
    canvas = np.ones((height, width, 3), dtype=np.float32)
    side = 28 * ZOOM
    images_top = _MARGIN + (_TITLE_HEIGHT if titles is not None else 0)
    texts: list[tuple[float, float, str, dict[str, str]]] = []
    for row, (label, images) in enumerate(zip(fit_labels(labels), rows, strict=True)):
        y = images_top + row * (side + _IMAGE_GAP)
        texts.append((_MARGIN + _LABEL_WIDTH - _LABEL_PAD, y + side / 2, label, {"ha": "right", "va": "center"}))
        for column in range(count):
            x = _MARGIN + _LABEL_WIDTH + column * (side + _IMAGE_GAP)
            canvas[y : y + side, x : x + side] = enlarge_pixels(gray_rgb(images[column]), ZOOM)
    for column, title in enumerate(titles or []):
        x = _MARGIN + _LABEL_WIDTH + column * (side + _IMAGE_GAP)
        texts.append((x + side / 2, images_top - 4, title, {"ha": "center", "va": "bottom"}))
    return _render_png(canvas, texts)


def _check_titles(titles: Sequence[str] | None, count: int) -> None:
    """Refuses titles that are not one per image (none at all is fine)."""
    if titles is not None and len(titles) != count:
        raise ValueError(
            f"Invalid value for argument `titles`. Expected {count} titles, one per image. Received {len(titles)}."
        )
