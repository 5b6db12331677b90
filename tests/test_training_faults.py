"""Faults of core.training that RELIABILITY.md lists beside those in tests/test_training.py: the run store turning
read-only in the middle of a job, a batch larger than the images it trains on, and a failed job's traceback.

As in tests/test_training.py, the procedure runs in this process, so that a test can break the disk with
monkeypatch, and what it leaves is read back with the job runner.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core import jobs, runs, training
from core import mnist as mnist_data
from core.jobs import JobRunner
from core.presets import preset

pytestmark = pytest.mark.slow  # Every test here trains.

LIMIT = 600  # 480 training and 120 validation images after the 0.2 split.
SHORT = preset("strided").with_training(batch_size=100, epochs=2, learning_rate=0.003)  # 5 steps an epoch.


def test_a_store_turning_read_only_mid_job_fails_it_with_the_reason_and_keeps_the_saved_epoch(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved: list[int] = []
    save_model = runs.save_model

    def read_only_after_the_first_save(path: Path, model: object) -> None:
        if saved:
            raise OSError(30, "Read-only file system")
        save_model(path, model)
        saved.append(1)

    monkeypatch.setattr(runs, "save_model", read_only_after_the_first_save)
    monkeypatch.setattr(training, "SAVE_INTERVAL_SECONDS", 0.0)  # Each epoch saved, so the second save meets the fault.
    path = jobs.submit(SHORT, LIMIT, runs_dir, start=False)
    assert training.train_run(path) == "failed"
    snapshot = JobRunner(runs_dir).snapshot(path.name)
    assert snapshot.status == "failed"
    assert snapshot.message == "Training failed with OSError: [Errno 30] Read-only file system"
    run = runs.load_run(path.name, runs_dir)
    assert (run.status, run.summary["epochs_completed"]) == ("failed", 1)
    assert run.has_model  # The first epoch's model, whole: no temporary file is left beside it.
    assert runs.load_model(run) is not None
    assert not [item.name for item in path.iterdir() if item.name.startswith(".")]


def test_a_batch_larger_than_the_training_images_trains_one_batch_an_epoch(runs_dir: Path) -> None:
    path = jobs.submit(SHORT.with_training(batch_size=5000), LIMIT, runs_dir, start=False)
    assert training.train_run(path) == "completed"
    snapshot = JobRunner(runs_dir).snapshot(path.name)
    assert (snapshot.status, snapshot.steps_per_epoch, snapshot.train_images) == ("completed", 1, 480)
    assert [record["epoch"] for record in runs.load_history(runs.load_run(path.name, runs_dir))] == [1, 2]


def test_a_failed_jobs_traceback_names_no_directory_of_the_machine(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_load(*arguments: object, **keywords: object) -> None:
        json.loads("{")  # Fails inside the standard library, so its frames are in the traceback too.

    monkeypatch.setattr(mnist_data, "load_mnist", broken_load)
    path = jobs.submit(SHORT, LIMIT, runs_dir, start=False)
    assert training.train_run(path) == "failed"
    error = JobRunner(runs_dir).snapshot(path.name).result["error"]
    assert 'File "core/training.py"' in error and 'File "<stdlib>/json/' in error, error
    for item in path.iterdir():
        text = item.read_text()
        for directory in (runs.PROJECT_ROOT, Path(sys.prefix), Path.home(), runs_dir):
            assert str(directory) not in text, (item.name, directory)
