"""What the Train page draws from a training job's events: the live loss chart, progress figures and previews."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas  # noqa: F401 - Plotly looks pandas up in sys.modules; a half-imported one from another thread breaks it.
import plotly.graph_objects as go

from core.losses import LOSS_NAMES
from core.pixels import enlarge_pixels

SMOOTHING = 0.9  # Weight of the past in the exponential moving average of the batch loss.
MAX_CHART_POINTS = 2000  # Per line: a long job's batches are averaged in bins so the chart stays light.


@dataclass(frozen=True)
class Progress:
    """Where a job stands, for the progress bar."""

    fraction: float  # Of all planned steps, in [0, 1].
    epoch: int  # The epoch in progress (1-based), or the last one when finished.
    epochs: int
    step: int
    steps_per_epoch: int
    images_per_second: float | None
    seconds_remaining: float | None

    def describe(self) -> str:
        parts = [f"Epoch {self.epoch}/{self.epochs}", f"step {self.step}/{self.steps_per_epoch}"]
        if self.images_per_second:
            parts.append(f"{self.images_per_second:,.0f} images/s")
        if self.seconds_remaining is not None:
            parts.append(f"about {format_duration(self.seconds_remaining)} left")
        return " · ".join(parts)


def format_duration(seconds: float) -> str:
    """ "42 s", "3 min 5 s", "1 h 2 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def smooth(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average, as TensorBoard smooths its scalars."""
    smoothed, average = [], 0.0
    for count, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight**count))
    return smoothed


def bin_means(values: list[float], limit: int) -> list[float]:
    """`values` as they are when there are at most `limit`, else the means of `limit` equal consecutive bins."""
    if len(values) <= limit:
        return list(values)
    return [float(chunk.mean()) for chunk in np.array_split(np.asarray(values, dtype=np.float64), limit)]


def progress(events: list[dict[str, Any]], epochs: int, steps_per_epoch: int, batch_size: int) -> Progress:
    """Progress from the job's events: the last batch, and the throughput over the batches so far."""
    batches = [event for event in events if event["kind"] == "batch"]
    total_steps = max(1, epochs * max(steps_per_epoch, 1))
    if not batches:
        return Progress(0.0, 1, epochs, 0, steps_per_epoch, None, None)
    last = batches[-1]
    done = (last["epoch"] - 1) * steps_per_epoch + last["step"]
    start = next(event["time"] for event in events if event["kind"] == "start") if _has(events, "start") else None
    elapsed = last["time"] - start if start is not None else 0.0
    rate = done / elapsed if elapsed > 0 else None  # Steps per second, validation time included.
    remaining = (total_steps - done) / rate if rate else None
    images_per_second = rate * batch_size if rate else None
    return Progress(min(1.0, done / total_steps), last["epoch"], epochs, last["step"], steps_per_epoch,
                    images_per_second, remaining)  # fmt: skip


def _has(events: list[dict[str, Any]], kind: str) -> bool:
    return any(event["kind"] == kind for event in events)


def loss_figure(
    events: list[dict[str, Any]], steps_per_epoch: int, loss: str, floor: float | None, height: int = 420
) -> go.Figure:
    """The live chart: batch loss (raw and smoothed) and epoch train and validation loss, over epochs.

    The x axis counts epochs, so batch points sit between the epoch markers that end them. A dashed line marks
    `floor`, the loss of a perfect reconstruction, which no model can go below.
    """
    batches = [event for event in events if event["kind"] == "batch" and math.isfinite(event["loss"])]
    epochs = [event for event in events if event["kind"] == "epoch"]
    per_epoch = max(steps_per_epoch, 1)
    figure = go.Figure()
    if batches:
        x = [(event["epoch"] - 1) + event["step"] / per_epoch for event in batches]
        raw = [event["loss"] for event in batches]
        smoothed = smooth(raw)
        x, raw, smoothed = (bin_means(values, MAX_CHART_POINTS) for values in (x, raw, smoothed))
        figure.add_trace(go.Scatter(x=x, y=raw, name="batch loss", mode="lines",
                                    line={"color": "rgba(99, 110, 250, 0.3)", "width": 1}))  # fmt: skip
        figure.add_trace(go.Scatter(x=x, y=smoothed, name="batch loss (smoothed)", mode="lines",
                                    line={"color": "rgb(99, 110, 250)", "width": 2}))  # fmt: skip
    if epochs:
        x = [event["epoch"] for event in epochs]
        figure.add_trace(go.Scatter(x=x, y=[event["loss"] for event in epochs], name="epoch loss",
                                    mode="lines+markers", line={"color": "rgb(239, 85, 59)"}))  # fmt: skip
        validation = [event.get("val_loss") for event in epochs]
        if any(value is not None for value in validation):
            figure.add_trace(go.Scatter(x=x, y=validation, name="validation loss", mode="lines+markers",
                                        line={"color": "rgb(0, 204, 150)", "dash": "dot"}))  # fmt: skip
    if floor is not None and floor > 0:  # A log axis has no 0, the floor of the mean squared error.
        figure.add_hline(y=floor, line={"color": "grey", "dash": "dash"})
        # Not add_hline's own annotation: on a log axis Plotly places an annotation at 10**y, so it landed at
        # 10**0.0581 = 1.14, at the top of the chart, and stretched the axis to reach it. Its y is log10(floor).
        figure.add_annotation(text=f"perfect reconstruction {floor:.4f}", x=1, xref="x domain", xanchor="right",
                              y=math.log10(floor), yref="y", yanchor="bottom", showarrow=False,
                              font={"color": "grey"})  # fmt: skip
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="epoch",
        yaxis_title=LOSS_NAMES.get(loss, loss) + " (log scale)",
        # A fresh model's loss starts ten times above where it ends; a log axis shows both ends and the floor.
        yaxis_type="log",
        legend={"orientation": "h", "y": 1.08, "x": 0},
        uirevision="loss",  # Keeps the user's zoom while the chart updates.
    )
    return figure


def preview_strip(originals: np.ndarray, reconstructions: np.ndarray, scale: int = 3) -> np.ndarray:
    """Originals above their reconstructions as one grayscale uint8 image, enlarged `scale` times."""
    count = len(originals)
    gap = 2
    strip = np.ones((2 * 28 + gap, count * (28 + gap) - gap), dtype=np.float32)
    for index in range(count):
        left = index * (28 + gap)
        strip[:28, left : left + 28] = originals[index]
        strip[28 + gap :, left : left + 28] = reconstructions[index]
    image = np.clip(strip * 255, 0, 255).astype(np.uint8)
    return enlarge_pixels(image, scale)
