"""Small grids of numbers as Plotly heatmaps, every cell labelled with its value, one window outlined.

The Conv2DTranspose page draws its inputs, kernels, partial sums and outputs with `grid_figure`: row 0 at the
top as NumPy prints an array, square cells, the value written in each, blue below zero and red above.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

WINDOW_COLOUR = "#f2a900"
CELL_PIXELS = 34  # Up to about 12 cells; larger grids shrink to MAX_PIXELS.
MAX_PIXELS = 420


def format_value(value: float) -> str:
    """A cell's label: integers without decimals, other numbers to two decimals ("3", "-0.5", "1.25")."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0")


def grid_figure(
    values: np.ndarray,
    window: tuple[int, int, int, int] | None = None,
    scale: float | None = None,
) -> go.Figure:
    """A 2-D array as a heatmap with each value written in its cell.

    Args:
        values: the grid; row 0 is drawn at the top.
        window: cells to outline as (top, left, bottom, right), bottom and right exclusive, or None.
        scale: the value drawn in the strongest colour (blue for -scale, red for +scale), so that several grids
            share one scale; by default the grid's own largest magnitude.

    Returns:
        A Plotly figure with square cells, ticks at every row and column, no colour bar.
    """
    values = np.asarray(values, dtype=float)
    rows, columns = values.shape
    scale = scale or float(np.max(np.abs(values))) or 1.0
    labels = [[format_value(value) for value in row] for row in values]
    figure = go.Figure(
        go.Heatmap(
            z=values.tolist(),  # Plain lists: the numbers read the same in the JSON a browser gets.
            text=labels,
            texttemplate="%{text}",
            textfont={"size": 13 if max(rows, columns) <= 10 else 10},
            colorscale="RdBu_r",
            zmin=-scale,
            zmax=scale,
            showscale=False,
            xgap=1,
            ygap=1,
            hovertemplate="row %{y}, column %{x}: %{text}<extra></extra>",
        )
    )
    if window is not None:
        top, left, bottom, right = window
        figure.add_shape(
            type="rect", x0=left - 0.5, x1=right - 0.5, y0=top - 0.5, y1=bottom - 0.5,
            line={"color": WINDOW_COLOUR, "width": 4},
        )  # fmt: skip
    cell = min(CELL_PIXELS, MAX_PIXELS // max(rows, columns))
    # Fixed ranges: the square cells (scaleanchor) would otherwise widen the range past the grid, with ticks there.
    axes = {"dtick": 1, "fixedrange": True, "showgrid": False, "zeroline": False, "constrain": "domain"}
    figure.update_xaxes(side="top", range=[-0.5, columns - 0.5], **axes)
    figure.update_yaxes(range=[rows - 0.5, -0.5], scaleanchor="x", **axes)
    figure.update_layout(
        height=cell * rows + 40, margin={"l": 28, "r": 4, "t": 28, "b": 4}, plot_bgcolor="rgba(0,0,0,0)"
    )
    return figure
