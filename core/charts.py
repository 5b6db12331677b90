"""Interactive Plotly charts of reconstructions: one test image large, and the summary charts of the test set.

`detail_figure` shows the panels of one test image as the pictures in `core.pictures` draw them, with each
pixel's value on hover; `class_error_figure` and `error_histogram_figure` summarise the errors of many images.
`loss_curves_figure` and `digit_errors_figure` set several runs side by side for the Compare page.
Nothing here imports Streamlit; the page passes each figure to `st.plotly_chart`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.losses import test_floor
from core.pixels import DIFFERENCE_COLORMAP, as_grey_image, panel_labels

if TYPE_CHECKING:  # Only its type: the charts import nothing that reads runs.
    from core.comparison import LossCurve

BAR_COLOR = "#83C9FF"
HIGHLIGHT_COLOR = "#0068C9"
FLOOR_COLOR = "#FF4B4B"
ERROR_LABELS = {"bce": "BCE", "mse": "MSE"}


# Matplotlib's colormap, sampled into a Plotly colorscale, so the chart's differences match the PNG's colours.
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
    panels = [
        as_grey_image(original),
        *([as_grey_image(noisy)] if noisy is not None else []),
        as_grey_image(reconstruction),
    ]
    panels.append(as_grey_image(reconstruction) - as_grey_image(original))
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
        figure.add_trace(_digit_floor_marks(class_floors, label, width=30))
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


# One colour per compared run (Streamlit's own palette), the same in every chart of the Compare page.
RUN_COLORS = ("#0068C9", "#FF8700", "#29B09D", "#7D353B")


def loss_curves_figure(curves: Sequence[LossCurve]) -> go.Figure:
    """The loss curves of several runs overlaid: train loss solid, validation loss dashed, one colour per run.

    Each loss the runs trained with has its floor (the test loss of a perfect reconstruction) drawn as a
    horizontal line; a run whose history is empty has no line but keeps its place in the legend's colours.

    Raises:
        ValueError: for more curves than `RUN_COLORS`, or none.
    """
    if not 1 <= len(curves) <= len(RUN_COLORS):
        raise ValueError(
            f"Invalid value for argument `curves`. Expected 1 to {len(RUN_COLORS)} curves. Received {len(curves)}."
        )
    figure = go.Figure()
    for curve, color in zip(curves, RUN_COLORS, strict=False):
        for values, kind, dash in ((curve.loss, "train", "solid"), (curve.val_loss, "validation", "dash")):
            figure.add_trace(
                go.Scatter(
                    x=list(curve.epochs),
                    y=list(values),
                    mode="lines+markers",
                    name=f"{curve.name} · {kind}",
                    legendgroup=curve.name,
                    line={"color": color, "dash": dash, "width": 2},
                    marker={"size": 5},
                    hovertemplate=f"{curve.name}<br>epoch %{{x}}<br>{kind} loss %{{y:.4f}}<extra></extra>",
                )
            )
    for loss_name in dict.fromkeys(curve.loss_name for curve in curves):
        floor = test_floor(loss_name)
        label = ERROR_LABELS.get("bce" if loss_name == "binary_crossentropy" else loss_name, loss_name)
        figure.add_hline(
            y=floor,
            line={"color": FLOOR_COLOR, "dash": "dot", "width": 2},
            annotation={"text": f"{label} floor {floor:.4f}", "font": {"color": FLOOR_COLOR}},
            annotation_position="bottom right",
        )
    figure.update_layout(
        title={"text": "Loss per epoch"},
        xaxis={"title": "epoch", "dtick": 1},
        yaxis_title="loss",
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.15, "xanchor": "left", "x": 0},
    )
    return figure


def digit_errors_figure(
    names: Sequence[str],
    digit_means: Sequence[Sequence[float]],
    digit_floors: Sequence[float] | None = None,
    error: str = "bce",
) -> go.Figure:
    """Grouped bars: the mean error of each digit 0-9, one bar per run in its colour, floors marked when given.

    Raises:
        ValueError: for a number of runs outside 1 to `len(RUN_COLORS)`, names and means of different lengths,
            or a run without 10 means.
    """
    if not 1 <= len(names) <= len(RUN_COLORS) or len(names) != len(digit_means):
        raise ValueError(
            f"Invalid value for argument `digit_means`. Expected one row per name, 1 to {len(RUN_COLORS)} rows. "
            f"Received {len(digit_means)} rows for {len(names)} names."
        )
    label = ERROR_LABELS.get(error, error)
    digits = [str(digit) for digit in range(10)]
    figure = go.Figure()
    for name, means, color in zip(names, digit_means, RUN_COLORS, strict=False):
        if len(means) != 10:
            raise ValueError(
                f"Invalid value for argument `digit_means`. Expected 10 values per run. Received {len(means)}."
            )
        figure.add_trace(
            go.Bar(
                x=digits,
                y=list(means),
                name=name,
                marker_color=color,
                hovertemplate=f"{name}<br>digit %{{x}}<br>mean {label} %{{y:.4f}}<extra></extra>",
            )
        )
    if digit_floors is not None:
        figure.add_trace(_digit_floor_marks(digit_floors, label, width=40))
    figure.update_layout(
        title={"text": f"Mean {label} per digit"},
        barmode="group",
        xaxis={"title": "digit", "type": "category"},
        yaxis_title=f"mean {label}",
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.15, "xanchor": "left", "x": 0},
    )
    return figure


def _digit_floor_marks(floors: Sequence[float], label: str, width: int) -> go.Scatter:
    """Each digit's floor (the error of a perfect reconstruction) as a short line across its bar or bars."""
    return go.Scatter(
        x=[str(digit) for digit in range(10)],
        y=list(floors),
        mode="markers",
        marker={
            "symbol": "line-ew-open",
            "size": width,
            "color": FLOOR_COLOR,
            "line": {"width": 3, "color": FLOOR_COLOR},
        },
        name="floor (perfect reconstruction)",
        hovertemplate=f"digit %{{x}}<br>floor {label} %{{y:.4f}}<extra></extra>",
    )
