"""Pictures of reconstructions: grid cells for the screen, the grid as a PNG, and Plotly summary charts.

Digits are drawn as the reference tutorial draws them: grey levels from black (0) to white (1), no axes. A
difference is the reconstruction minus the original, from blue (ink the reconstruction misses) through black
(no difference) to red (ink it adds), on a fixed scale of -1 to 1 so that images can be compared.

Images are scaled float arrays in [0, 1] of shape (28, 28) or (28, 28, 1), or batches of them. Nothing here
imports Streamlit; the PNG is drawn with Matplotlib's object API, never pyplot, so it is safe in any thread.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import numpy as np
import plotly.graph_objects as go
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from plotly.subplots import make_subplots

from core.pixels import enlarge_pixels

DIFFERENCE_COLORMAP = "berlin"  # Diverging through black, so an exact reconstruction looks like the background.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZOOM = 4  # Screen pixels per MNIST pixel: 28 -> 112.
GAP = 4  # Pixels between the pictures of one cell.
BAR_COLOR = "#83C9FF"
HIGHLIGHT_COLOR = "#0068C9"
FLOOR_COLOR = "#FF4B4B"
ERROR_LABELS = {"bce": "BCE", "mse": "MSE"}

# The grid PNG, in output pixels.
_IMAGE_GAP = 6
_BLOCK_GAP = 20
_TITLE_HEIGHT = 38
_LABEL_WIDTH = 150
_MARGIN = 12
_LEGEND_HEIGHT = 30
_DPI = 100


# --- Pixels ------------------------------------------------------------------------------------------------


def _as_square(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    return image[..., 0] if image.ndim == 3 else image


def gray_rgb(image: np.ndarray) -> np.ndarray:
    """One image as float RGB (height, width, 3) in [0, 1]: black for 0, white for 1."""
    square = np.clip(_as_square(image), 0, 1)
    return np.repeat(square[..., np.newaxis], 3, axis=-1)


def difference_rgb(original: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """The reconstruction minus the original as float RGB (height, width, 3) in [0, 1].

    Blue where the reconstruction misses ink, red where it adds ink, black where they agree.
    """
    difference = _as_square(reconstruction) - _as_square(original)  # In [-1, 1].
    colormap = matplotlib.colormaps[DIFFERENCE_COLORMAP]
    return colormap((difference + 1) / 2)[..., :3].astype(np.float32)


def cell_panels(
    original: np.ndarray,
    reconstruction: np.ndarray,
    noisy: np.ndarray | None = None,
    show_difference: bool = False,
) -> list[np.ndarray]:
    """The pictures of one test image, top to bottom: original, noisy input (if any), reconstruction, difference.

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


def panel_labels(noisy: bool = False, show_difference: bool = False) -> list[str]:
    """The names of the pictures `cell_panels` returns, in the same order."""
    return [
        "Original",
        *(["Noisy input"] if noisy else []),
        "Reconstruction",
        *(["Difference"] if show_difference else []),
    ]


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
    if titles is not None and len(titles) != count:
        raise ValueError(
            f"Invalid value for argument `titles`. Expected {count} titles, one per image. Received {len(titles)}."
        )
    if columns < 1:
        raise ValueError(f"Invalid value for argument `columns`. Expected a positive integer. Received {columns}.")

    labels = panel_labels(noisy is not None, show_difference)
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
            texts.append((_MARGIN + _LABEL_WIDTH - 12, y + side / 2, label, {"ha": "right", "va": "center"}))
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

    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    # `figimage` lays the pixels down one to one, with none of the resampling an axes image would cost.
    figure.figimage(np.round(canvas * 255).astype(np.uint8), origin="upper")
    for x, y, text, alignment in texts:
        figure.text(x / width, 1 - y / height, text, fontsize=9, color="#31333F", linespacing=1.3, **alignment)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """The (width, height) a PNG file declares in its header.

    Raises:
        ValueError: if `png` does not start with the PNG signature.
    """
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("Invalid value for argument `png`. Expected the bytes of a PNG file.")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


# --- Plotly charts -----------------------------------------------------------------------------------------


def _difference_colorscale(steps: int = 11) -> list[list[float | str]]:
    colormap = matplotlib.colormaps[DIFFERENCE_COLORMAP]
    return [[position, matplotlib.colors.to_hex(colormap(position))] for position in np.linspace(0, 1, steps)]


def detail_figure(
    original: np.ndarray,
    reconstruction: np.ndarray,
    noisy: np.ndarray | None = None,
) -> go.Figure:
    """One test image large, side by side: original, noisy input (if any), reconstruction and difference.

    Hovering shows each pixel's row, column and value.
    """
    names = panel_labels(noisy is not None, show_difference=True)
    panels = [_as_square(original), *([_as_square(noisy)] if noisy is not None else []), _as_square(reconstruction)]
    panels.append(_as_square(reconstruction) - _as_square(original))
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=names, horizontal_spacing=0.03)
    gray = [[0.0, "#000000"], [1.0, "#ffffff"]]
    for column, (name, panel) in enumerate(zip(names, panels, strict=True), start=1):
        is_difference = name == "Difference"
        figure.add_trace(
            go.Heatmap(
                z=panel,
                zmin=-1 if is_difference else 0,
                zmax=1,
                colorscale=_difference_colorscale() if is_difference else gray,
                showscale=is_difference,
                colorbar={"thickness": 12, "len": 0.9, "tickvals": [-1, 0, 1]} if is_difference else None,
                hovertemplate=f"{name}<br>row %{{y}}, column %{{x}}<br>value %{{z:.3f}}<extra></extra>",
            ),
            row=1,
            col=column,
        )
    figure.update_xaxes(visible=False, constrain="domain")
    figure.update_yaxes(visible=False, autorange="reversed", scaleratio=1)
    for column in range(1, len(panels) + 1):
        suffix = "" if column == 1 else str(column)
        figure.update_yaxes(scaleanchor=f"x{suffix}", row=1, col=column)
    figure.update_layout(height=300, margin={"l": 0, "r": 0, "t": 30, "b": 0})
    return figure


def class_error_figure(
    class_means: Sequence[float],
    error: str = "bce",
    class_floors: Sequence[float] | None = None,
    highlight: int | None = None,
    class_counts: Sequence[int] | None = None,
) -> go.Figure:
    """A bar chart of the mean error of each digit 0-9, with each class's floor marked when given.

    Args:
        class_means: the mean error of digits 0 to 9.
        error: "bce" or "mse", for the labels.
        class_floors: the mean floor of each class (the error of a perfect reconstruction), or None.
        highlight: a digit whose bar is drawn in the accent colour (the one being browsed), or None.
        class_counts: how many test images each class has, for the hover text, or None.

    Raises:
        ValueError: if `class_means` does not hold 10 values.
    """
    if len(class_means) != 10:
        raise ValueError(
            f"Invalid value for argument `class_means`. Expected 10 values, one per digit. Received {len(class_means)}."
        )
    label = ERROR_LABELS.get(error, error)
    digits = [str(digit) for digit in range(10)]
    colors = [HIGHLIGHT_COLOR if digit == highlight else BAR_COLOR for digit in range(10)]
    counts = list(class_counts) if class_counts is not None else [None] * 10
    figure = go.Figure(
        go.Bar(
            x=digits,
            y=list(class_means),
            marker_color=colors,
            name=f"mean {label}",
            customdata=counts,
            hovertemplate=f"digit %{{x}}<br>mean {label} %{{y:.4f}}"
            + ("<br>%{customdata:,} images" if class_counts is not None else "")
            + "<extra></extra>",
        )
    )
    if class_floors is not None:
        figure.add_trace(
            go.Scatter(
                x=digits,
                y=list(class_floors),
                mode="markers",
                marker={
                    "symbol": "line-ew-open",
                    "size": 30,
                    "color": FLOOR_COLOR,
                    "line": {"width": 3, "color": FLOOR_COLOR},
                },
                name="floor (perfect reconstruction)",
                hovertemplate=f"digit %{{x}}<br>floor {label} %{{y:.4f}}<extra></extra>",
            )
        )
    figure.update_layout(
        title={"text": f"Mean {label} per digit"},
        xaxis={"title": "digit", "type": "category"},  # Digits are classes, not a number line.
        yaxis_title=f"mean {label}",
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        showlegend=class_floors is not None,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
    )
    return figure


def error_histogram_figure(
    errors: np.ndarray,
    error: str = "bce",
    floor: float = 0.0,
    bins: int = 60,
    title: str | None = None,
) -> go.Figure:
    """A histogram of per-image errors, with the floor and the mean marked as vertical lines.

    The bins are counted here with NumPy, so the browser receives `bins` bars rather than every error.

    Args:
        errors: per-image errors (at least one).
        error: "bce" or "mse", for the labels.
        floor: the error of a perfect reconstruction: `core.losses.test_floor` for BCE, 0 for MSE.
        bins: the number of bins.
        title: the chart's title, or None for "Per-image <error>".

    Raises:
        ValueError: for no errors or fewer than one bin.
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        raise ValueError("Invalid value for argument `errors`. Expected at least one error. Received none.")
    if bins < 1:
        raise ValueError(f"Invalid value for argument `bins`. Expected a positive integer. Received bins={bins}.")
    label = ERROR_LABELS.get(error, error)
    counts, edges = np.histogram(errors, bins=bins)
    centers = (edges[:-1] + edges[1:]) / 2
    figure = go.Figure(
        go.Bar(
            x=centers,
            y=counts,
            width=np.diff(edges),
            marker_color=BAR_COLOR,
            customdata=np.stack([edges[:-1], edges[1:]], axis=-1),
            hovertemplate=f"{label} %{{customdata[0]:.4f}} to %{{customdata[1]:.4f}}<br>%{{y:,}} images<extra></extra>",
            name="images",
        )
    )
    mean = float(errors.mean())
    # The floor's label goes on its left and the mean's on its right, in headroom above the tallest bar, since
    # the mean always lies above the floor.
    figure.add_vline(
        x=floor,
        line={"color": FLOOR_COLOR, "dash": "dash", "width": 2},
        annotation={"text": f"floor {floor:.4f}", "font": {"color": FLOOR_COLOR}},
        annotation_position="top left",
    )
    figure.add_vline(
        x=mean,
        line={"color": HIGHLIGHT_COLOR, "dash": "dot", "width": 2},
        annotation={"text": f"mean {mean:.4f}", "font": {"color": HIGHLIGHT_COLOR}},
        annotation_position="top right",
    )
    low, high = min(floor, edges[0]), max(floor, edges[-1])
    padding = (high - low) * 0.03 or 0.001
    figure.update_layout(
        title={"text": title or f"Per-image {label}"},
        xaxis={"title": f"{label} of one image", "range": [low - padding, high + padding]},
        yaxis={"title": "images", "range": [0, max(1, int(counts.max())) * 1.15]},
        bargap=0,
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        showlegend=False,
    )
    return figure
