"""What the Sweeps page draws: the trials' loss curves overlaid, the trial table, and settings against results.

Plain data in (a `core.sweep.SweepInfo` and the trials' events), Plotly figures and rows out. Nothing here imports
Streamlit or Keras.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas  # noqa: F401 - Plotly looks pandas up in sys.modules; a half-imported one from another thread breaks it.
import plotly.graph_objects as go
from plotly.colors import qualitative

from core.events import read_events
from core.sweep import SweepInfo, TrialRow
from core.training_chart import LOSS_NAMES, bin_means, smooth

COLORS = qualitative.Plotly  # One colour per trial, for its batch loss line and its validation points alike.
MAX_POINTS_PER_TRIAL = 300  # Batch points per trial on the overlaid chart: many trials stay light to redraw.


def trial_label(row: TrialRow) -> str:
    """ "#2 learning_rate=0.003": the trial's number and the settings it tries, in short."""
    settings = ", ".join(f"{path.split('.')[-1]}={_short(value)}" for path, value in row.parameters.items())
    return f"#{row.number} {settings}"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def trial_curves(info: SweepInfo, runs_dir: Path | str) -> dict[int, list[dict[str, Any]]]:
    """Each started trial's batch and epoch events (without previews), by trial number."""
    curves = {}
    for row in info.trials:
        if row.run_id is None:
            continue
        events = read_events(Path(runs_dir) / row.run_id)
        curves[row.number] = [{key: value for key, value in event.items() if key not in ("preview", "reconstructions")}
                              for event in events if event["kind"] in ("start", "batch", "epoch")]  # fmt: skip
    return curves


def curves_figure(info: SweepInfo, curves: dict[int, list[dict[str, Any]]], height: int = 420) -> go.Figure:
    """The trials' smoothed batch loss and validation loss per epoch, overlaid over epochs; an early stop is an ✕
    where early stopping ended the trial, and dotted lines mark the epochs where trials are compared."""
    figure = go.Figure()
    rows = {row.number: row for row in info.trials}
    for number, events in sorted(curves.items()):
        row = rows[number]
        label = trial_label(row)
        steps = next((int(event.get("steps_per_epoch") or 1) for event in events if event["kind"] == "start"), 1)
        batches = [event for event in events if event["kind"] == "batch" and math.isfinite(event["loss"])]
        epochs = [event for event in events if event["kind"] == "epoch"]
        group, color = f"trial-{number}", COLORS[(number - 1) % len(COLORS)]
        if batches:
            x = [(event["epoch"] - 1) + event["step"] / steps for event in batches]
            y = smooth([event["loss"] for event in batches])
            figure.add_trace(go.Scatter(x=bin_means(x, MAX_POINTS_PER_TRIAL), y=bin_means(y, MAX_POINTS_PER_TRIAL),
                                        name=label, legendgroup=group, mode="lines",
                                        line={"width": 1.5, "color": color},
                                        opacity=0.6 if row.status == "early stopped" else 1.0))  # fmt: skip
        validation = [(event["epoch"], event.get("val_loss")) for event in epochs if event.get("val_loss") is not None]
        if validation:
            figure.add_trace(go.Scatter(x=[epoch for epoch, _ in validation], y=[value for _, value in validation],
                                        name=f"{label} (validation)", legendgroup=group, showlegend=False,
                                        mode="markers",
                                        marker={"size": 8, "symbol": "circle-open", "color": color}))  # fmt: skip
        if row.early_stopped_at is not None and validation:
            stop_value = dict(validation).get(row.early_stopped_at, validation[-1][1])
            figure.add_trace(go.Scatter(x=[row.early_stopped_at], y=[stop_value], mode="markers+text",
                                        name=f"{label}: stopped early", legendgroup=group, showlegend=False,
                                        text=["stopped early"], textposition="top center",
                                        marker={"symbol": "x", "size": 13, "color": "crimson"}))  # fmt: skip
    stopping = info.definition.early_stopping
    if stopping is not None:
        epochs_planned = info.definition.base_spec().training.epochs
        rung = stopping.grace_epochs
        while rung < epochs_planned:
            figure.add_vline(x=rung, line={"color": "grey", "dash": "dot", "width": 1})
            rung *= stopping.reduction_factor
    loss = info.definition.base_spec().training.loss
    figure.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="epoch",
        yaxis_title=LOSS_NAMES.get(loss, loss) + " (log scale)", yaxis_type="log", uirevision="sweep",
        legend={"orientation": "h", "y": -0.2, "x": 0},
    )  # fmt: skip
    return figure


def table_rows(info: SweepInfo) -> list[dict[str, Any]]:
    """One row per trial, settings then results, for a sortable table."""
    rows = []
    for row in info.trials:
        rows.append({
            "trial": row.number,
            **{path: _short(value) if isinstance(value, str) else value for path, value in row.parameters.items()},
            "status": row.status + (f" at epoch {row.early_stopped_at}" if row.early_stopped_at else ""),
            "epochs": row.epochs_completed,
            "val_loss": row.val_loss,
            "test_loss": row.test_loss,
            "parameters": row.params,
            "seconds": round(row.train_seconds, 1) if row.train_seconds is not None else None,
            "run": row.run_id or "",
        })  # fmt: skip
    return rows


def parallel_coordinates_figure(info: SweepInfo, height: int = 380) -> go.Figure | None:
    """Each finished trial as a line through its settings, its parameter count, its training time and its final
    test loss, coloured by the test loss; None until a trial has finished.

    A setting or count that is the same in every finished trial is no axis (Plotly would stretch its one value over
    a made-up range); the title names it and its value instead.
    """
    finished = [row for row in info.trials if row.test_loss is not None and math.isfinite(row.test_loss)]
    if not finished:
        return None
    columns = {parameter.path: [row.parameters.get(parameter.path) for row in finished]
               for parameter in info.definition.parameters}  # fmt: skip
    columns["parameters"] = [row.params or 0 for row in finished]
    columns["seconds"] = [row.train_seconds or 0.0 for row in finished]
    constant = {label: values[0] for label, values in columns.items() if len({repr(value) for value in values}) == 1}
    dimensions = []
    for parameter in info.definition.parameters:
        if parameter.path in constant:
            continue
        values = columns[parameter.path]
        if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
            dimension: dict[str, Any] = {"label": parameter.path, "values": values}
            if parameter.distribution == "log_uniform" or _spans_decades(values):
                dimension = {"label": f"{parameter.path} (log10)", "values": [math.log10(v) for v in values]}
        else:  # Names (presets, activations): one tick each.
            names = sorted({str(value) for value in values})
            dimension = {"label": parameter.path, "values": [names.index(str(value)) for value in values],
                         "tickvals": list(range(len(names))), "ticktext": names}  # fmt: skip
        dimensions.append(dimension)
    dimensions += [{"label": label, "values": columns[label]} for label in ("parameters", "seconds")
                   if label not in constant]  # fmt: skip
    dimensions.append({"label": "test loss", "values": [row.test_loss for row in finished]})
    losses = [row.test_loss for row in finished]
    figure = go.Figure(go.Parcoords(
        line={"color": losses, "colorscale": "Viridis_r", "showscale": True, "colorbar": {"title": "test loss"}},
        dimensions=dimensions,
    ))  # fmt: skip
    same = ", ".join(f"{label} {_shown(value)}" for label, value in constant.items())
    # The axes' names are written in the top margin: the title goes above them, at the top of the figure.
    title = {"text": f"The same in every finished trial: {same}", "font": {"size": 12}, "y": 1, "yref": "container",
             "yanchor": "top", "pad": {"t": 8}} if same else None  # fmt: skip
    figure.update_layout(height=height, margin={"l": 60, "r": 40, "t": 80 if same else 50, "b": 20}, title=title)
    return figure


def _shown(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else _short(value)


def _spans_decades(values: list[float]) -> bool:
    positive = [value for value in values if value > 0]
    return len(positive) == len(values) and max(positive) / min(positive) >= 100
