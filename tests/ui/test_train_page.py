"""The Train page through AppTest: start, watch, stop, queue and manage runs, with real worker processes on tiny
jobs."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import runs, validation
from core.backends import BACKEND_NAMES, default_backend, resolve_dtype_policy
from core.presets import preset
from core.runs import list_runs
from tests.ui.conftest import active_run_picker, open_page
from tests.workers import stop_every_job
from ui.jobs import REPEATED_CLICK_SECONDS
from ui.resources import get_runner


def open_train_page(app: AppTest) -> AppTest:
    return open_page(app, "app_pages/train.py")


def set_small_job(app: AppTest, epochs: int = 1, limit: int = 300, batch_size: int = 100) -> None:
    app.selectbox(key="sidebar_preset").set_value("strided").run()
    app.number_input(key="sidebar_epochs").set_value(epochs).run()
    app.number_input(key="sidebar_limit").set_value(limit).run()
    app.number_input(key="sidebar_batch_size").set_value(batch_size).run()


@pytest.fixture(autouse=True)
def no_job_left_running(runs_dir: Path) -> Iterator[None]:
    """Stops every job of the test's store when the test ends (before its STUDIO_RUNS_DIR is undone)."""
    yield
    stop_every_job(runs_dir)


def started_job(app: AppTest) -> str:
    """The job this session started last (the one its Train page follows)."""
    return app.session_state["train_job"]


def test_fresh_server_shows_how_to_start(app: AppTest) -> None:
    open_train_page(app)
    assert "Press **Start training** to begin." in app.info[0].value
    assert not app.button(key="train_start").disabled
    assert app.button(key="train_stop").disabled


def test_invalid_architecture_disables_start_with_the_reason(app: AppTest) -> None:
    app.run()
    broken = preset("seed")
    app.session_state["studio_spec"] = replace(broken, decoder=broken.decoder[:2])
    app.switch_page("app_pages/train.py").run()
    start = app.button(key="train_start")
    assert start.disabled
    assert "the output is 26x26x1 but must match the input, 28x28x1" in start.help
    assert app.error[0].value.startswith("Training is disabled: Invalid architecture")
    assert "Fix: " in app.error[0].value


def test_a_batch_beyond_the_machines_memory_disables_start_with_the_estimate(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validation, "machine_memory", lambda: 16_000_000_000)
    open_train_page(app)
    app.number_input(key="sidebar_batch_size").set_value(60_000).run()
    start = app.button(key="train_start")
    assert start.disabled and not app.exception
    assert "Received batch_size=60000, which needs at least 36.9 GB to train" in start.help
    assert app.error[0].value.startswith(
        "Training is disabled: Invalid value for argument `batch_size` of training settings. Expected a model and "
        "batch that fit in this machine's 16.0 GB of memory."
    )


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(OSError(30, "Read-only file system"), "Read-only file system"),
     (OSError(28, "No space left on device"), "No space left on device")],
    ids=["read-only", "disk full"],
)  # fmt: skip
def test_a_store_that_cannot_take_the_job_is_reported_and_nothing_starts(
    app: AppTest, runs_dir: Path, monkeypatch: pytest.MonkeyPatch, failure: OSError, reason: str
) -> None:
    def refuse(*arguments: object, **keywords: object) -> None:
        raise failure

    monkeypatch.setattr(runs, "create_run", refuse)
    open_train_page(app)
    set_small_job(app)
    app.button(key="train_start").click().run()
    assert not app.exception
    assert [error.value for error in app.error] == [
        f"The job could not be saved in the run store, so it did not start: {reason}."
    ]
    assert get_runner().jobs() == []
    app.run()  # The page carries on: Start is still there for when the disk is fixed.
    assert not app.button(key="train_start").disabled and not app.exception


@pytest.mark.slow
def test_tiny_job_runs_to_completion_and_becomes_the_active_run(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app)
    app.button(key="train_start").click().run()
    assert not app.exception
    snapshot = get_runner().join(started_job(app), timeout=180)
    assert snapshot.status == "completed", snapshot.message
    app.run()  # The page notices the end, makes the run active and reruns the app.
    assert not app.exception
    assert app.success[0].value.startswith("Completed 1 epoch. Test loss ")
    runs = list_runs(runs_dir, include_pretrained=False)
    assert [run.run_id for run in runs] == [snapshot.run_id]
    assert runs[0].status == "completed"
    assert active_run_picker(app).value == snapshot.run_id
    table = app.dataframe[0].value
    assert snapshot.run_id in list(table["run"])
    assert app.get("plotly_chart"), "the loss chart is drawn"


@pytest.mark.slow
def test_stop_ends_the_job_and_keeps_the_run(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app, epochs=50, limit=2000, batch_size=20)
    app.button(key="train_start").click().run()
    runner = get_runner()
    job_id = started_job(app)
    since = 0
    while not any(event["kind"] == "batch" for event in runner.snapshot(job_id).events):
        since = runner.wait(job_id, since=since, timeout=5).next_index
    app.run()
    # Where the worker trains, with the precision "auto" became there.
    backend = default_backend()
    where = f"{BACKEND_NAMES[backend]} on CPU ({os.cpu_count()} cores), {resolve_dtype_policy('auto', 'cpu', backend)}"
    assert app.markdown.values.count(f"**strided** · run `{job_id}` · running · {where}") == 1
    app.button(key="train_stop").click().run()
    snapshot = runner.join(job_id, timeout=120)
    assert snapshot.status == "stopped"
    app.run()
    assert "The run keeps its model and history so far." in app.warning[0].value
    run = list_runs(runs_dir, include_pretrained=False)[0]
    assert run.status == "stopped" and run.has_model


@pytest.mark.slow
def test_a_start_click_that_reaches_the_server_twice_starts_one_job(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app, epochs=50, limit=2000, batch_size=20)
    app.button(key="train_start").click().run()
    first = started_job(app)
    app.button(key="train_start").click().run()  # The same click again, a moment later, as a loaded browser sent it.
    assert [job.job_id for job in get_runner().jobs()] == [first] and not app.exception


def start_two_jobs(app: AppTest) -> tuple[str, str]:
    """Starts a job, then a second one, which queues behind it; returns their ids."""
    app.button(key="train_start").click().run()
    first = started_job(app)
    time.sleep(REPEATED_CLICK_SECONDS)  # A second click sooner would be taken for the first one arriving twice.
    app.button(key="train_start").click().run()
    return first, started_job(app)


@pytest.mark.slow
def test_a_second_start_queues_and_the_queued_job_can_be_cancelled(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app, epochs=50, limit=2000, batch_size=20)
    first, second = start_two_jobs(app)
    runner = get_runner()
    start = app.button(key="train_start")
    assert not start.disabled, "a further Start is allowed while a job runs"
    assert "joins the queue" in start.help
    assert second != first
    assert runner.snapshot(second).queue_position == 1
    # This session now follows its queued job: its place in the queue and a Cancel button instead of Stop.
    assert any("· queued · #1 in the queue" in value for value in app.markdown.values)
    assert app.button(key="train_cancel").label == "Cancel"
    # Another tab lists both jobs: the training one with Stop, the queued one with Cancel.
    other = open_train_page(AppTest.from_file(app._script_path, default_timeout=60))
    assert other.button(key=f"train_queue_cancel_{second}")
    app.button(key="train_cancel").click().run()
    assert runner.snapshot(second).status == "cancelled"
    assert not (runs_dir / second).exists()
    assert [job.job_id for job in runner.jobs()] == [first]
    assert not app.exception


@pytest.mark.slow
def test_after_a_queued_job_is_cancelled_the_page_shows_how_the_training_job_ends(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app, epochs=2, limit=1000, batch_size=50)
    first, second = start_two_jobs(app)
    assert get_runner().snapshot(second).queued
    app.button(key="train_cancel").click().run()
    snapshot = get_runner().join(first, timeout=180)
    assert snapshot.status == "completed", snapshot.message
    app.run()  # The page notices the end, makes the run active and reruns the app.
    assert not app.exception
    # Not "Cancelled before it started": the job that trained, its outcome, and it is the active run now.
    assert app.success[0].value.startswith("Completed 2 epochs. Test loss ")
    assert active_run_picker(app).value == first
    assert first in list(app.dataframe[0].value["run"])


@pytest.mark.slow
def test_a_cancel_click_that_arrives_as_its_job_leaves_the_queue_stops_it(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app, epochs=50, limit=2000, batch_size=20)
    first, second = start_two_jobs(app)
    cancel = app.button(key="train_cancel")  # On the page the browser still shows: the second job waits.
    runner = get_runner()
    runner.stop(first)  # Meanwhile the first ends, and the second leaves the queue and starts.
    runner.join(first, timeout=120)
    since = 0
    while not runner.snapshot(second).active:
        since = runner.wait(second, since=since, timeout=5).next_index
    cancel.click().run()  # The click reaches a rerun that draws Stop, not Cancel.
    assert runner.join(second, timeout=120).status == "stopped"
    assert not app.exception


@pytest.mark.slow
def test_rename_and_delete_a_run(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app)
    app.button(key="train_start").click().run()
    run_id = get_runner().join(started_job(app), timeout=180).run_id
    app.run()
    app.text_input(key="train_new_name").set_value("my first model").run()
    app.button(key="train_rename").click().run()
    assert list_runs(runs_dir, include_pretrained=False)[0].name == "my first model"
    app.button(key="train_delete").click().run()
    assert not app.exception
    assert run_id not in [run.run_id for run in list_runs(runs_dir, include_pretrained=False)]


def test_a_note_and_tags_set_in_the_run_manager_show_in_the_run_table(app: AppTest, runs_dir: Path) -> None:
    path = runs.create_run(preset("strided"), runs_dir, status="queued")
    runs.update_summary(path, status="completed", test_loss=0.07)  # A finished run; no training needed here.
    open_train_page(app)
    app.text_input(key=f"train_notes_note_{path.name}").input("the first strided run").run()
    app.text_input(key=f"train_notes_tags_{path.name}").input("strided, baseline").run()
    app.button(key="train_notes_save").click().run()
    assert not app.exception and not app.error
    table = next(frame.value for frame in app.dataframe if "tags" in frame.value.columns)
    (row,) = [row for row in table.to_dict(orient="records") if row["run"] == path.name]
    assert row["tags"] == "strided, baseline" and row["note"] == "the first strided run"
    app.text_input(key=f"train_notes_note_{path.name}").input("a bell \x07 in it").run()  # As a script may send.
    app.button(key="train_notes_save").click().run()
    assert "Expected one line of at most 200 characters without control characters" in app.error[0].value
    assert runs.load_run(path.name, runs_dir).note == "the first strided run"
