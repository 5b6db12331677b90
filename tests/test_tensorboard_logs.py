"""TensorBoard logs of a training run: event files under the run, with the scalars and images TensorBoard shows.

Read back with TensorFlow's own record reader (the `tensorboard` package is not installed here), as TensorBoard's
scalar and image plugins would read them: by tag, step and plugin name.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core import jobs, runs, tensorboard_logs, training
from core.presets import preset

pytestmark = pytest.mark.slow  # The first test trains (a few seconds, in this process).

SHORT = preset("strided").with_training(batch_size=100, epochs=2, learning_rate=0.003)  # 5 steps an epoch.


def read_events(directory: Path) -> dict[str, list[tuple[int, str, Any]]]:
    """Every summary value in the event files of `directory`: tag -> [(step, plugin name, value)]."""
    import tensorflow as tf

    values: dict[str, list[tuple[int, str, Any]]] = defaultdict(list)
    for path in sorted(directory.glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                values[value.tag].append((event.step, value.metadata.plugin_data.plugin_name,
                                          tf.make_ndarray(value.tensor)))  # fmt: skip
    return values


@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
    reason="the run trains in this process, and only TensorFlow writes TensorBoard's files",
)
def test_a_run_writes_its_losses_and_reconstructions_for_tensorboard(runs_dir: Path) -> None:
    path = jobs.submit(SHORT, 600, runs_dir, start=False)  # 480 training images: 5 batches an epoch.
    assert training.train_run(path) == "completed"
    directory = path / tensorboard_logs.LOG_DIRECTORY
    assert list(directory.glob("events.out.tfevents.*"))
    values = read_events(directory)
    assert {"loss", "val_loss", "batch_loss", "reconstructions"} <= set(values)

    history = runs.load_history(runs.load_run(path.name, runs_dir))
    for tag in ("loss", "val_loss"):
        assert [(step, plugin) for step, plugin, _ in values[tag]] == [(1, "scalars"), (2, "scalars")]
        assert [float(value) for _, _, value in values[tag]] == pytest.approx([record[tag] for record in history])
    batches = values["batch_loss"]
    assert [step for step, _, _ in batches] == list(range(1, 11))
    assert all(plugin == "scalars" and np.isfinite(value) for _, plugin, value in batches)
    # Each batch's own loss, as the Train page's chart draws it from the run's events.
    events = jobs.JobRunner(runs_dir).snapshot(path.name).events
    batch_events = [event["loss"] for event in events if event["kind"] == "batch"]
    assert [float(value) for _, _, value in batches] == pytest.approx(batch_events, rel=1e-5)

    images = values["reconstructions"]
    assert [(step, plugin) for step, plugin, _ in images] == [(1, "images"), (2, "images")]
    width, height, *pngs = images[-1][2]
    assert (int(width), int(height)) == (56, 28)  # Each test digit beside its reconstruction.
    assert len(pngs) == training.PREVIEW_IMAGES
    assert all(png.startswith(b"\x89PNG") for png in pngs)


def test_no_logs_on_a_backend_other_than_tensorflow(tmp_path: Path) -> None:
    for backend in ("jax", "torch"):
        assert tensorboard_logs.tensorboard_logs(tmp_path, backend) is None
    assert list(tmp_path.iterdir()) == []
