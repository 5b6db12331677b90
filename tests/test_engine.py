"""Tests for core.engine: real (tiny) training jobs on a background thread, watched through events.

Jobs train the `strided` preset on a few hundred images, so each takes seconds on two CPU cores. One short run
is shared by the tests that only read what it left; jobs that are stopped, fail or are killed get their own.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from core import data, inference, runs
from core.engine import EngineBusyError, JobSnapshot, TrainingEngine, shared_engine, split_validation
from core.presets import preset
from core.shapes import infer_shapes
from core.spec import ExperimentSpec, SpecError

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
LIMIT = 600  # 480 training and 120 validation images after the 0.2 split.
SHORT = preset("strided").with_training(batch_size=100, epochs=2, learning_rate=0.003)  # 5 steps an epoch.
LONG = preset("strided").with_training(batch_size=10, epochs=2)  # 160 steps an epoch on 2,000 images.


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")
        time.sleep(0.05)


def batch_events(snapshot: JobSnapshot) -> list[dict]:
    return [event for event in snapshot.events if event["kind"] == "batch"]


def epoch_events(snapshot: JobSnapshot) -> list[dict]:
    return [event for event in snapshot.events if event["kind"] == "epoch"]


@pytest.fixture
def new_engine(runs_dir: Path) -> Iterator[Callable[[], TrainingEngine]]:
    """Makes engines over the test's store; any job still going at the end is stopped, so none outlives its test."""
    made: list[TrainingEngine] = []

    def make() -> TrainingEngine:
        engine = TrainingEngine(runs_dir)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.stop()
        engine.join(timeout=120)


@pytest.fixture
def engine(new_engine: Callable[[], TrainingEngine]) -> TrainingEngine:
    return new_engine()


def train(spec: ExperimentSpec, runs_dir: Path, limit: int = LIMIT) -> tuple[JobSnapshot, Path]:
    engine = TrainingEngine(runs_dir)
    engine.start(spec, limit=limit)
    snapshot = engine.join(timeout=300)
    assert snapshot.finished, "The job did not end within 300 s."
    return snapshot, runs_dir / snapshot.run_id


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[JobSnapshot, Path]:
    """One completed two-epoch job: its final snapshot (with every event) and its run directory."""
    return train(SHORT, tmp_path_factory.mktemp("short-run"))


# --- A short training run ----------------------------------------------------------------------------------


def test_short_run_completes(short_run: tuple[JobSnapshot, Path]) -> None:
    snapshot, path = short_run
    assert snapshot.status == "completed", snapshot.message
    assert snapshot.message == "Completed 2 epochs."
    assert snapshot.run_id == path.name
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
    snapshot, path = short_run
    assert sorted(item.name for item in path.iterdir()) == [
        "config.json",
        "history.jsonl",
        "model.keras",
        "summary.json",
    ]
    config = json.loads((path / "config.json").read_text())
    assert ExperimentSpec.from_dict(config["spec"]) == SHORT
    assert config["settings"] == {"limit": LIMIT, "train_images": 480, "validation_images": 120}

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
    assert set(summary["versions"]) == {"python", "tensorflow", "keras", "numpy"}
    assert summary["ended_at"] >= summary["created_at"]


def test_short_run_reloads_and_predicts(short_run: tuple[JobSnapshot, Path]) -> None:
    snapshot, path = short_run
    run = runs.load_run(path.name, path.parent)
    assert run.status == "completed"
    assert [record["epoch"] for record in runs.load_history(run)] == [1, 2]
    model = runs.load_model(run)
    images = data.scale(data.load_mnist().x_test[:8])
    reconstructions = inference.reconstruct(model, images)
    assert reconstructions.shape == (8, 28, 28, 1)
    assert reconstructions.min() >= 0 and reconstructions.max() <= 1
    # The saved model is the one that drew the last epoch's preview.
    np.testing.assert_allclose(reconstructions[..., 0], epoch_events(snapshot)[-1]["reconstructions"], atol=1e-5)
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


def test_denoising_job_trains_on_noisy_inputs(runs_dir: Path) -> None:
    spec = preset("denoising").with_training(batch_size=200, epochs=1)  # 3 steps: 200, 200 and 80 images.
    snapshot, path = train(spec, runs_dir)
    assert snapshot.status == "completed", snapshot.message
    assert [event["step"] for event in batch_events(snapshot)] == [1, 2, 3]
    summary = json.loads((path / "summary.json").read_text())
    assert summary["denoiser"] is True
    assert summary["test_loss"] > 0 and summary["test_noisy_loss"] > 0
    assert runs.load_run(path.name, runs_dir).is_denoiser


# --- Watching ----------------------------------------------------------------------------------------------


def test_an_idle_engine(engine: TrainingEngine) -> None:
    snapshot = engine.snapshot()
    assert snapshot.status == "idle"
    assert snapshot.events == () and snapshot.next_index == 0
    assert not snapshot.active and not snapshot.finished
    started = time.monotonic()
    assert engine.wait(0, timeout=5).status == "idle"
    assert time.monotonic() - started < 1
    assert engine.stop() is False


def test_wait_returns_only_new_events(engine: TrainingEngine) -> None:
    engine.start(SHORT.with_training(epochs=1), limit=LIMIT)
    since = 0
    seen: list[dict] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        update = engine.wait(since, timeout=5)
        assert update.next_index == since + len(update.events)
        seen += update.events
        since = update.next_index
        if update.finished:  # The "end" event is published together with the final status.
            break
    assert [event["kind"] for event in seen] == ["start", *["batch"] * 5, "epoch", "end"]
    assert list(engine.snapshot().events) == seen
    # A finished job has nothing new: waiting returns at once, empty.
    started = time.monotonic()
    update = engine.wait(since, timeout=5)
    assert time.monotonic() - started < 1
    assert update.events == () and update.next_index == since
    assert engine.snapshot(since - 2).events == tuple(seen[-2:])
    assert engine.snapshot(10_000).events == ()
    assert engine.stop() is False


# --- Stopping and one job at a time ------------------------------------------------------------------------


def test_stop_takes_effect_after_the_batch_in_progress(engine: TrainingEngine, runs_dir: Path) -> None:
    engine.start(LONG, limit=2000)
    wait_until(lambda: len(batch_events(engine.snapshot())) >= 3, 120, "three batches")
    # Holding the engine's lock keeps the training thread from publishing between reading where it is and
    # asking it to stop, so `at_stop` is exactly the last batch finished before the request.
    with engine._condition:
        at_stop = engine.snapshot()
        assert engine.stop() is True
        assert engine.snapshot().status == "stopping"
    snapshot = engine.join(timeout=120)
    assert snapshot.status == "stopped", snapshot.message

    steps_at_stop = batch_events(at_stop)[-1]["global_step"]
    last_step = batch_events(snapshot)[-1]["global_step"]
    assert steps_at_stop <= last_step <= steps_at_stop + 1, (steps_at_stop, last_step)
    assert len(batch_events(snapshot)) - len(batch_events(at_stop)) <= 1
    assert last_step < 160  # Far from the end of even the first epoch.
    assert snapshot.message == f"Stopped after 0 full epochs and {last_step} steps in all."
    assert snapshot.events[-1]["kind"] == "end"
    assert snapshot.result["epochs_completed"] == 0
    assert snapshot.result["steps"] == last_step

    path = runs_dir / snapshot.run_id
    summary = json.loads((path / "summary.json").read_text())
    assert summary["status"] == "stopped"
    assert summary["epochs_completed"] == 0
    assert summary["test_loss"] > 0
    assert (path / "history.jsonl").read_text() == ""  # A partial epoch is not an epoch of history.
    run = runs.load_run(snapshot.run_id, runs_dir)
    assert run.status == "stopped"
    assert runs.load_model(run) is not None  # The weights as they were when it stopped.
    assert engine.stop() is False


def test_one_job_at_a_time_across_engines(new_engine: Callable[[], TrainingEngine]) -> None:
    first, second = new_engine(), new_engine()
    first.start(LONG, limit=2000)
    for engine in (first, second):
        with pytest.raises(EngineBusyError, match="A training job is already running"):
            engine.start(SHORT, limit=LIMIT)
    assert second.snapshot().status == "idle"
    assert first.stop() is True
    assert first.join(timeout=120).status == "stopped"
    # Once the first job has ended, another engine may start.
    second.start(SHORT, limit=LIMIT)
    second.stop()
    assert second.join(timeout=120).status == "stopped"


def test_shared_engine_is_one_per_store(runs_dir: Path, tmp_path: Path) -> None:
    assert shared_engine(runs_dir) is shared_engine(str(runs_dir))
    assert shared_engine(runs_dir) is not shared_engine(tmp_path / "other")


@pytest.mark.parametrize(
    ("spec", "limit", "message"),
    [
        (SHORT, 0, "Received limit=0."),
        (SHORT, -5, "Received limit=-5."),
        (SHORT, True, "Received limit=True."),
        (SHORT, 1.5, "Received limit=1.5."),
        (SHORT.with_training(epochs=0), None, "Received epochs=0."),
    ],
)
def test_invalid_start_fails_before_any_thread(
    engine: TrainingEngine, spec: ExperimentSpec, limit: object, message: str
) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        engine.start(spec, limit=limit)  # type: ignore[arg-type]
    assert engine.snapshot().status == "idle"


def test_split_validation_holds_out_the_last_fraction() -> None:
    train_part, validation = split_validation(np.arange(10), 0.25)
    assert train_part.tolist() == list(range(7)) and validation.tolist() == [7, 8, 9]
    train_part, validation = split_validation(np.arange(10), 0)
    assert len(train_part) == 10 and len(validation) == 0
    with pytest.raises(SpecError, match="leaves 0 for training and 1 for validation"):
        split_validation(np.arange(1), 0.2)


# --- Failures ----------------------------------------------------------------------------------------------


def test_a_nan_loss_fails_the_job_and_the_process_lives_on(
    engine: TrainingEngine, runs_dir: Path, diverging_spec: ExperimentSpec
) -> None:
    engine.start(diverging_spec, limit=LIMIT)
    snapshot = engine.join(timeout=300)
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
        (data.DataError("MNIST is missing. Set MNIST_PATH."), "MNIST is missing. Set MNIST_PATH."),
        (MemoryError(), "Training ran out of memory (MemoryError:). Try a smaller batch size (now 100)."),
    ],
)
def test_an_exception_while_preparing_fails_the_job(
    engine: TrainingEngine, runs_dir: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, message: str
) -> None:
    def broken_load(*arguments: object, **keywords: object) -> None:
        raise error

    monkeypatch.setattr(data, "load_mnist", broken_load)
    engine.start(SHORT, limit=LIMIT)
    snapshot = engine.join(timeout=60)
    assert snapshot.status == "failed"
    assert snapshot.message == message
    assert type(error).__name__ in snapshot.result["error"]  # The traceback, for a details box.
    assert snapshot.events[-1]["kind"] == "end"
    assert snapshot.run_id is None
    assert list(runs_dir.iterdir()) == []


def test_an_exception_during_training_fails_the_job_and_its_run(
    engine: TrainingEngine, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(path: Path, record: dict) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "append_history", full_disk)
    engine.start(SHORT.with_training(epochs=1), limit=LIMIT)
    snapshot = engine.join(timeout=300)
    assert snapshot.status == "failed"
    assert snapshot.message == "Training failed with OSError: [Errno 28] No space left on device"
    # The run was already in the store: it must say it failed, not stay "running" while this process lives.
    run = runs.load_run(snapshot.run_id, runs_dir)
    assert run.status == "failed"
    assert run.summary["message"] == snapshot.message
    runs.delete_run(snapshot.run_id, runs_dir)


# --- A process killed mid-training -------------------------------------------------------------------------


def test_a_killed_training_process_leaves_a_readable_store(runs_dir: Path, subprocess_env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "core.train", "--preset", "strided", "--limit", "2000", "--epochs", "50"]
    process = subprocess.Popen(
        [*command, "--runs-dir", str(runs_dir)],
        cwd=REPOSITORY_ROOT,
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def an_epoch_is_saved() -> bool:
        assert process.poll() is None, "The training process ended before it was killed."
        # The summary is rewritten after the epoch's history line and model, so it is the last to show it.
        for summary in runs_dir.glob("*/summary.json"):
            if json.loads(summary.read_text()).get("epochs_completed", 0) >= 1:
                return True
        return False

    try:
        wait_until(an_epoch_is_saved, 180, "the first epoch to be saved")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    listed = runs.list_runs(runs_dir)
    assert len(listed) == 1
    run = listed[0]
    assert run.status == "interrupted"
    assert run.summary["status"] == "running"  # As the process left it; the reader knows better.
    history = runs.load_history(run)
    assert len(history) >= 1
    assert [record["epoch"] for record in history] == list(range(1, len(history) + 1))
    model = runs.load_model(run)
    reconstructions = inference.reconstruct(model, data.scale(data.load_mnist().x_test[:2]))
    assert reconstructions.shape == (2, 28, 28, 1)
    runs.delete_run(run.run_id, runs_dir)  # An interrupted run is no longer training.
