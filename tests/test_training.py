"""Tests for core.training: the procedure a worker process runs, run here in the test process.

Running it in-process lets a test break a piece of it (MNIST, the disk) with monkeypatch; what it leaves in the
run directory is read back with the job runner, as the dashboard reads it. Jobs train the `strided` preset on a
few hundred images, so each takes seconds on two CPU cores. `tests/test_jobs.py` runs the same procedure in real
worker processes.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from core import inference, jobs, runs, training
from core import mnist as mnist_data
from core.jobs import JobRunner, JobSnapshot
from core.presets import preset
from core.shapes import infer_shapes
from core.spec import ExperimentSpec

pytestmark = pytest.mark.slow  # Every test here trains or starts a worker process.

LIMIT = 600  # 480 training and 120 validation images after the 0.2 split.
SHORT = preset("strided").with_training(batch_size=100, epochs=2, learning_rate=0.003)  # 5 steps an epoch.


def batch_events(snapshot: JobSnapshot) -> list[dict]:
    return [event for event in snapshot.events if event["kind"] == "batch"]


def epoch_events(snapshot: JobSnapshot) -> list[dict]:
    return [event for event in snapshot.events if event["kind"] == "epoch"]


def train(spec: ExperimentSpec, runs_dir: Path, limit: int = LIMIT) -> tuple[JobSnapshot, Path]:
    """Queues `spec` without starting a worker, trains it in this process, and reads what it left."""
    path = jobs.submit(spec, limit, runs_dir, start=False)
    training.train_run(path)
    snapshot = JobRunner(runs_dir).snapshot(path.name)
    assert snapshot.finished, snapshot.status
    return snapshot, path


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[JobSnapshot, Path]:
    """One completed two-epoch job: its final snapshot (with every event) and its run directory."""
    return train(SHORT, tmp_path_factory.mktemp("short-run"))


# --- A short training run ----------------------------------------------------------------------------------


def test_short_run_completes(short_run: tuple[JobSnapshot, Path]) -> None:
    snapshot, path = short_run
    assert snapshot.status == "completed", snapshot.message
    assert snapshot.message == "Completed 2 epochs."
    assert snapshot.run_id == snapshot.job_id == path.name
    assert snapshot.spec == SHORT
    assert (snapshot.epoch, snapshot.epochs) == (2, 2)
    assert snapshot.steps_per_epoch == 5
    assert snapshot.train_images == 480
    assert snapshot.started_at <= snapshot.ended_at
    assert not snapshot.active and snapshot.finished
    result = snapshot.result
    assert result["epochs_completed"] == 2
    assert result["steps"] == 10
    assert result["train_seconds"] > 0
    assert result["images_per_second"] > 0
    assert 0 < result["test_loss"] < 0.7


def test_short_run_loss_falls_and_events_arrive_in_order(short_run: tuple[JobSnapshot, Path]) -> None:
    snapshot, path = short_run
    kinds = [event["kind"] for event in snapshot.events]
    assert kinds == ["start", *["batch"] * 5, "epoch", *["batch"] * 5, "epoch", "end"]
    assert snapshot.next_index == len(kinds)
    start = snapshot.events[0]
    assert start["run_id"] == path.name
    assert start["params"] == infer_shapes(SHORT).params
    assert (start["steps_per_epoch"], start["train_images"], start["validation_images"]) == (5, 480, 120)

    batches = batch_events(snapshot)
    assert [(event["epoch"], event["step"]) for event in batches] == [(1, step) for step in range(1, 6)] + [
        (2, step) for step in range(1, 6)
    ]
    assert [event["global_step"] for event in batches] == list(range(1, 11))
    assert all(math.isfinite(event["loss"]) and math.isfinite(event["mean_loss"]) for event in batches)
    # The mean reported at an epoch's last step is the epoch's loss; each batch's own loss averages to it.
    epochs = epoch_events(snapshot)
    for epoch, event in enumerate(epochs, start=1):
        own = [batch for batch in batches if batch["epoch"] == epoch]
        assert own[-1]["mean_loss"] == pytest.approx(event["loss"], rel=1e-6)
        weights = [100, 100, 100, 100, 80]
        assert np.average([batch["loss"] for batch in own], weights=weights) == pytest.approx(event["loss"], rel=1e-4)

    assert epochs[1]["loss"] < epochs[0]["loss"]
    assert epochs[1]["val_loss"] < epochs[0]["val_loss"]
    for event in epochs:
        assert event["seconds"] > 0 and event["images_per_second"] > 0
        assert event["preview"].shape == event["reconstructions"].shape == (8, 28, 28)
        assert event["reconstructions"].min() >= 0 and event["reconstructions"].max() <= 1
    times = [event["time"] for event in snapshot.events]
    assert times == sorted(times)
    end = snapshot.events[-1]
    assert end["status"] == "completed"
    assert end["test_loss"] == snapshot.result["test_loss"]


def test_short_run_leaves_a_complete_run_directory(short_run: tuple[JobSnapshot, Path]) -> None:
    import keras

    snapshot, path = short_run
    backend = keras.backend.backend()  # This file also runs on JAX (tests/test_backends.py) and on PyTorch.
    # TensorBoard's event files (tests/test_tensorboard_logs.py) are written on TensorFlow only.
    tensorboard = ["tensorboard"] if backend == "tensorflow" else []
    assert sorted(item.name for item in path.iterdir()) == [
        "config.json",
        "events.jsonl",
        "history.jsonl",
        "model.keras",
        "summary.json",
        *tensorboard,
    ]
    config = json.loads((path / "config.json").read_text())
    assert ExperimentSpec.from_dict(config["spec"]) == SHORT
    assert config["settings"] == {
        "limit": LIMIT,
        "backend": backend,
        "train_images": 480,
        "validation_images": 120,
    }

    history = [json.loads(line) for line in (path / "history.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in history] == [1, 2]
    assert [record["loss"] for record in history] == [event["loss"] for event in epoch_events(snapshot)]
    assert all(record["val_loss"] is not None and record["images_per_second"] > 0 for record in history)

    summary = json.loads((path / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["message"] == "Completed 2 epochs."
    assert summary["params"] == infer_shapes(SHORT).params
    assert summary["epochs_planned"] == summary["epochs_completed"] == 2
    assert (summary["train_images"], summary["validation_images"]) == (480, 120)
    assert summary["loss"] == history[-1]["loss"]
    assert summary["val_loss"] == history[-1]["val_loss"]
    assert summary["test_loss"] == snapshot.result["test_loss"]
    assert summary["train_seconds"] > 0
    assert summary["images_per_second"] > 0
    assert summary["denoiser"] is False
    assert set(summary["versions"]) == {"python", backend, "keras", "numpy"}
    assert summary["ended_at"] >= summary["created_at"]
    # The event log holds exactly what the runner read, so a late watcher sees the same job.
    assert len((path / "events.jsonl").read_text().splitlines()) == snapshot.next_index


def test_short_run_reloads_and_predicts(short_run: tuple[JobSnapshot, Path]) -> None:
    snapshot, path = short_run
    run = runs.load_run(path.name, path.parent)
    assert run.status == "completed"
    assert [record["epoch"] for record in runs.load_history(run)] == [1, 2]
    model = runs.load_model(run)
    images = mnist_data.scale(mnist_data.load_mnist().x_test[:8])
    reconstructions = inference.reconstruct(model, images)
    assert reconstructions.shape == (8, 28, 28, 1)
    assert reconstructions.min() >= 0 and reconstructions.max() <= 1
    # The saved model is the one that drew the last epoch's preview (which travels as float16: 3 digits).
    np.testing.assert_allclose(reconstructions[..., 0], epoch_events(snapshot)[-1]["reconstructions"], atol=1e-3)
    maps = inference.feature_maps(model, images[0])
    assert [array.shape for _, array in maps] == [layer.output_shape for layer in infer_shapes(SHORT).layers]


def test_same_spec_and_seed_train_the_same(short_run: tuple[JobSnapshot, Path], tmp_path: Path) -> None:
    first, _ = short_run
    second, _ = train(SHORT, tmp_path / "again")
    assert second.status == "completed"
    # TensorFlow on CPU reproduces these runs bit for bit, so the comparison is exact.
    assert [event["loss"] for event in batch_events(second)] == [event["loss"] for event in batch_events(first)]
    for key in ("loss", "val_loss"):
        assert [event[key] for event in epoch_events(second)] == [event[key] for event in epoch_events(first)]
    assert second.result["test_loss"] == first.result["test_loss"]


@pytest.mark.parametrize("dtype_policy", ["float32", "mixed_bfloat16"])
def test_each_precision_auto_may_pick_on_a_cpu_trains_the_same_twice(tmp_path: Path, dtype_policy: str) -> None:
    # "auto" is float32 or mixed_bfloat16 on a CPU, by its instructions (core.backends); both must reproduce exactly.
    spec = SHORT.with_training(epochs=1, dtype_policy=dtype_policy)
    first, first_path = train(spec, tmp_path / "first", limit=300)
    second, _ = train(spec, tmp_path / "second", limit=300)
    assert runs.read_run(first_path).summary["dtype_policy"] == dtype_policy
    assert [event["loss"] for event in batch_events(second)] == [event["loss"] for event in batch_events(first)]
    assert second.result["test_loss"] == first.result["test_loss"]


def test_denoising_job_trains_on_noisy_inputs(runs_dir: Path) -> None:
    spec = preset("denoising").with_training(batch_size=200, epochs=1)  # 3 steps: 200, 200 and 80 images.
    snapshot, path = train(spec, runs_dir)
    assert snapshot.status == "completed", snapshot.message
    assert [event["step"] for event in batch_events(snapshot)] == [1, 2, 3]
    summary = json.loads((path / "summary.json").read_text())
    assert summary["denoiser"] is True
    assert summary["test_loss"] > 0 and summary["test_noisy_loss"] > 0
    assert runs.load_run(path.name, runs_dir).is_denoiser


@pytest.mark.parametrize("noise", ["none", "gaussian"])
def test_each_batch_event_is_that_batchs_own_loss_with_a_short_batch(runs_dir: Path, noise: str) -> None:
    # The chart's batch losses are recovered from Keras' running mean, which needs to know each batch's size: with
    # batches of 200 the epoch's 480 images make 200, 200 and 80. A learning rate this small leaves the weights
    # where they began, so each batch's own loss is the initial model's loss on that batch.
    import keras

    from core import batches
    from core.model import build_model
    from core.spec import NoiseSpec

    noise_spec = NoiseSpec(kind=noise, amount=0.4 if noise != "none" else 0.0)
    spec = preset("strided").with_training(batch_size=200, epochs=1, learning_rate=1e-9, dtype_policy="float32",
                                           noise=noise_spec)  # fmt: skip
    snapshot, _ = train(spec, runs_dir)
    losses = [event["loss"] for event in batch_events(snapshot)]

    training_spec = spec.training
    keras.utils.set_random_seed(training_spec.seed)  # As the worker does, so the same initial weights.
    images, _ = mnist_data.split_validation(mnist_data.load_mnist().x_train[:LIMIT], training_spec.validation_split)
    data = batches.training_batches(images, 200, training_spec.noise, training_spec.seed)
    model = build_model(spec, steps_per_epoch=data.num_batches, dtype_policy="float32")
    order = data.epoch_order(1)
    drawn = [data.batch(index, 1, order) for index in range(data.num_batches)]  # Epoch 1's batches, in order.
    assert [len(inputs) for inputs, _ in drawn] == [200, 200, 80]
    expected = [model.evaluate(inputs, targets, batch_size=200, verbose=0) for inputs, targets in drawn]
    assert losses == pytest.approx(expected, abs=2e-6)  # Recovered to within 2e-7 here.
    # The batches' losses differ by more than that, so a batch's loss given to another would show.
    assert min(abs(a - b) for a, b in itertools.combinations(expected, 2)) > 1e-5


def test_a_stop_before_training_begins_keeps_an_empty_stopped_run(runs_dir: Path) -> None:
    path = jobs.submit(SHORT, LIMIT, runs_dir, start=False)
    assert training.train_run(path, stop_requested=lambda: True) == "stopped"
    snapshot = JobRunner(runs_dir).snapshot(path.name)
    assert (snapshot.status, snapshot.message) == ("stopped", "Stopped before training began.")
    assert [event["kind"] for event in snapshot.events] == ["end"]
    assert runs.load_run(path.name, runs_dir).status == "stopped"


def test_a_stop_after_a_batch_ends_training_there(runs_dir: Path) -> None:
    asked: list[int] = []

    def stop_at_third_batch() -> bool:  # Asked once before training, then after each batch.
        asked.append(1)
        return len(asked) > 3

    path = jobs.submit(SHORT, LIMIT, runs_dir, start=False)
    assert training.train_run(path, stop_requested=stop_at_third_batch) == "stopped"
    snapshot = JobRunner(runs_dir).snapshot(path.name)
    assert [event["global_step"] for event in batch_events(snapshot)] == [1, 2, 3]
    assert snapshot.message == "Stopped after 0 full epochs and 3 steps in all."
    assert runs.load_run(path.name, runs_dir).has_model  # The weights as they were when it stopped.


@pytest.mark.parametrize(("interval", "saved_at_epochs"), [(0.0, [1, 2, 3]), (math.inf, [1, 3])])
def test_the_model_is_saved_at_the_first_epoch_then_once_an_interval_and_at_the_end(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch, interval: float, saved_at_epochs: list[int]
) -> None:
    saves: list[int] = []
    save_model = runs.save_model

    def recording_save(path: Path, model: object) -> None:
        saves.append(len((path / "history.jsonl").read_text().splitlines()))  # Epochs done at the save.
        save_model(path, model)

    monkeypatch.setattr(training, "SAVE_INTERVAL_SECONDS", interval)
    monkeypatch.setattr(runs, "save_model", recording_save)
    snapshot, path = train(SHORT.with_training(epochs=3), runs_dir)
    assert snapshot.status == "completed", snapshot.message
    assert saves == saved_at_epochs  # With an endless interval: the first epoch, then the end of training.
    saved = runs.load_model(runs.load_run(path.name, runs_dir))  # The weights training ended with.
    saved.compile(loss=SHORT.training.loss)
    x_test = mnist_data.scale(mnist_data.load_mnist().x_test)
    assert float(saved.evaluate(x_test, x_test, batch_size=1000, verbose=0)) == pytest.approx(
        snapshot.result["test_loss"], abs=1e-6
    )


# --- Failures ----------------------------------------------------------------------------------------------


def test_a_nan_loss_fails_the_job_and_the_process_lives_on(runs_dir: Path, diverging_spec: ExperimentSpec) -> None:
    snapshot, _ = train(diverging_spec, runs_dir)
    assert snapshot.status == "failed"
    assert re.fullmatch(
        r"The loss became NaN at epoch \d+, step \d+, so training stopped\. Try a lower learning rate "
        r"\(it was 1\.0\) or a different optimizer\.",
        snapshot.message,
    ), snapshot.message
    assert not math.isfinite(batch_events(snapshot)[-1]["mean_loss"])
    assert snapshot.events[-1]["kind"] == "end" and snapshot.events[-1]["status"] == "failed"
    assert not snapshot.active
    run = runs.load_run(snapshot.run_id, runs_dir)
    assert run.status == "failed"
    assert run.summary["message"] == snapshot.message


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RuntimeError("disk on fire"), "Training failed with RuntimeError: disk on fire"),
        (mnist_data.DataError("MNIST is missing. Set MNIST_PATH."), "MNIST is missing. Set MNIST_PATH."),
        (MemoryError(), "Training ran out of memory (MemoryError:). Try a smaller batch size (now 100)."),
    ],
)
def test_an_exception_while_preparing_fails_the_job(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, message: str
) -> None:
    def broken_load(*arguments: object, **keywords: object) -> None:
        raise error

    monkeypatch.setattr(mnist_data, "load_mnist", broken_load)
    snapshot, path = train(SHORT, runs_dir)
    assert snapshot.status == "failed"
    assert snapshot.message == message
    assert type(error).__name__ in snapshot.result["error"]  # The traceback, for a details box.
    assert [event["kind"] for event in snapshot.events] == ["end"]
    # The queued run stays in the store, failed with the reason, so the user sees what happened.
    run = runs.load_run(path.name, runs_dir)
    assert (run.status, run.summary["message"], run.has_model) == ("failed", message, False)


def test_an_exception_during_training_fails_the_job_and_its_run(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(path: Path, record: dict) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "append_history", full_disk)
    snapshot, _ = train(SHORT.with_training(epochs=1), runs_dir)
    assert snapshot.status == "failed"
    assert snapshot.message == "Training failed with OSError: [Errno 28] No space left on device"
    run = runs.load_run(snapshot.run_id, runs_dir)
    assert run.status == "failed"
    assert run.summary["message"] == snapshot.message
    runs.delete_run(snapshot.run_id, runs_dir)


def test_a_run_whose_config_is_gone_fails_with_the_reason(runs_dir: Path) -> None:
    path = jobs.submit(SHORT, LIMIT, runs_dir, start=False)
    (path / "config.json").unlink()
    assert training.train_run(path) == "failed"
    summary = runs.read_summary(path)
    assert summary["status"] == "failed"
    assert summary["message"].startswith("Training failed with FileNotFoundError")


def test_batch_events_keep_their_order_when_keras_reports_batches_out_of_order(tmp_path: Path) -> None:
    # On a GPU the callback is async-safe, and Keras may call it for batch 2 before batch 1.
    from types import SimpleNamespace

    from core.events import EventWriter, read_events

    spec = preset("strided").with_training(batch_size=100)
    means = [0.6, 0.5, 0.45]  # Keras' running means after batches 1, 2 and 3 of 100 images each.
    with EventWriter(tmp_path) as events:
        callback = training.EventCallback(events, tmp_path, spec, 300, np.zeros((1, 28, 28, 1), np.float32),
                                          lambda: False, async_safe=True)  # fmt: skip
        callback.set_model(SimpleNamespace(stop_training=False))
        callback.on_epoch_begin(0)
        for batch in (1, 2, 0):
            callback.on_train_batch_end(batch, {"loss": means[batch]})
    batches = [event for event in read_events(tmp_path) if event["kind"] == "batch"]
    assert [event["step"] for event in batches] == [1, 2, 3]
    assert [event["mean_loss"] for event in batches] == means
    assert [round(event["loss"], 6) for event in batches] == [0.6, 0.4, 0.35]
    assert callback.async_safe
