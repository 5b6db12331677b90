"""The Train page's pure parts: smoothing, binning, progress and the loss chart."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.training_chart import (
    MAX_CHART_POINTS,
    bin_means,
    format_duration,
    loss_figure,
    preview_strip,
    progress,
    smooth,
)


def batch_events(epochs: int, steps: int, start: float = 100.0, seconds_per_step: float = 0.5) -> list[dict]:
    events = [{"kind": "start", "time": start}]
    for epoch in range(1, epochs + 1):
        for step in range(1, steps + 1):
            done = (epoch - 1) * steps + step
            events.append({"kind": "batch", "epoch": epoch, "step": step, "loss": 1.0 / done,
                           "time": start + done * seconds_per_step})  # fmt: skip
        events.append({"kind": "epoch", "epoch": epoch, "loss": 1.0 / epoch, "val_loss": 1.1 / epoch,
                       "time": start + epoch * steps * seconds_per_step})  # fmt: skip
    return events


def test_smooth_is_bias_corrected() -> None:
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    assert smooth([1.0, 0.0], weight=0.5) == pytest.approx([1.0, 1 / 3])


def test_bin_means_keeps_short_series_and_averages_long_ones() -> None:
    assert bin_means([1.0, 2.0], 5) == [1.0, 2.0]
    binned = bin_means(list(range(10)), 5)
    assert binned == [0.5, 2.5, 4.5, 6.5, 8.5]


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0 s"), (42, "42 s"), (185, "3 min 5 s"), (3720, "1 h 2 min")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_progress_counts_steps_rate_and_time_left() -> None:
    events = batch_events(epochs=1, steps=10)[:6]  # start and five batches of epoch 1, 0.5 s each.
    now = progress(events, epochs=2, steps_per_epoch=10, batch_size=100)
    assert now.fraction == pytest.approx(5 / 20)
    assert (now.epoch, now.step) == (1, 5)
    assert now.images_per_second == pytest.approx(200)
    assert now.seconds_remaining == pytest.approx(15 * 0.5)
    assert now.describe() == "Epoch 1/2 · step 5/10 · 200 images/s · about 8 s left"


def test_progress_before_the_first_batch() -> None:
    now = progress([{"kind": "start", "time": 1.0}], epochs=3, steps_per_epoch=10, batch_size=100)
    assert now.fraction == 0 and now.seconds_remaining is None
    assert now.describe() == "Epoch 1/3 · step 0/10"


def test_loss_figure_has_batch_epoch_validation_and_floor() -> None:
    figure = loss_figure(batch_events(epochs=2, steps=4), 4, "binary_crossentropy", floor=0.0581)
    names = [trace.name for trace in figure.data]
    assert names == ["batch loss", "batch loss (smoothed)", "epoch loss", "validation loss"]
    assert list(figure.data[0].x) == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert list(figure.data[2].x) == [1, 2]
    assert figure.layout.yaxis.type == "log"
    assert figure.layout.shapes[0].y0 == pytest.approx(0.0581)
    (label,) = figure.layout.annotations
    assert label.text == "perfect reconstruction 0.0581"
    # On a log axis an annotation's y is the log of its value: the label sits on the line, not at 10**0.0581.
    assert (label.yref, label.y) == ("y", pytest.approx(math.log10(0.0581)))


def test_loss_figure_draws_no_floor_a_log_axis_cannot_show() -> None:
    figure = loss_figure(batch_events(epochs=1, steps=4), 4, "mse", floor=0.0)  # The mean squared error's floor.
    assert not figure.layout.shapes and not figure.layout.annotations


def test_loss_figure_skips_nan_batches_and_bins_long_jobs() -> None:
    events = batch_events(epochs=5, steps=1000)
    events[3]["loss"] = float("nan")
    figure = loss_figure(events, 1000, "mse", floor=None)
    assert len(figure.data[0].x) == MAX_CHART_POINTS
    assert all(np.isfinite(figure.data[0].y))
    assert not figure.layout.shapes


def test_empty_job_draws_an_empty_chart() -> None:
    assert loss_figure([], 0, "mse", floor=0.0).data == ()


def test_preview_strip_puts_originals_above_reconstructions() -> None:
    originals = np.zeros((3, 28, 28), dtype=np.float32)
    reconstructions = np.ones((3, 28, 28), dtype=np.float32)
    strip = preview_strip(originals, reconstructions, scale=2)
    assert strip.dtype == np.uint8
    assert strip.shape == ((2 * 28 + 2) * 2, (3 * 30 - 2) * 2)
    assert strip[:56, :56].max() == 0  # First original, black.
    assert strip[-56:, :56].min() == 255  # First reconstruction, white.
