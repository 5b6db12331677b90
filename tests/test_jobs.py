"""Tests for core.jobs: the queue in the run store, worker processes, and watching through event logs.

Every job here trains in a real worker process (`python -m core.training`, under its supervisor), as the
dashboard's jobs do; each costs a TensorFlow start-up of a few seconds. The `strided` preset on a few hundred
images keeps the training itself to seconds.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core import events, jobs, runs
from core.jobs import JobRunner, JobSnapshot, shared_runner
from core.presets import preset
from core.spec import ExperimentSpec, SpecError
from tests.conftest import REPOSITORY_ROOT

LIMIT = 600  # 480 training and 120 validation images after the 0.2 split.
SHORT = preset("strided").with_training(batch_size=100, epochs=1, learning_rate=0.003)  # 5 steps.
LONG = preset("strided").with_training(batch_size=10, epochs=50)  # 160 steps an epoch on 2,000 images.


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")
        time.sleep(0.05)


def batch_events(snapshot: JobSnapshot) -> list[dict]:
    return [event for event in snapshot.events if event["kind"] == "batch"]


def batches_seen(path: Path) -> int:
    return sum(event["kind"] == "batch" for event in events.read_events(path))


@pytest.fixture
def runner(runs_dir: Path) -> Iterator[JobRunner]:
    """A runner over the test's store; every job still queued or training at the end is stopped and waited for."""
    made = JobRunner(runs_dir)
    yield made
    made.stop_all()
    for path in runs_dir.iterdir():
        if path.is_dir():
            made.join(path.name, timeout=120)


# --- Watching ----------------------------------------------------------------------------------------------


def never_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes the runner fail if it waits at all: `wait` must return at once when there is nothing to wait for."""

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"The runner waited ({seconds} s).")

    monkeypatch.setattr(jobs.time, "sleep", no_sleep)


def test_an_idle_runner(runner: JobRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = runner.snapshot()
    assert snapshot.status == "idle"
    assert snapshot.events == () and snapshot.next_index == 0
    assert not snapshot.active and not snapshot.finished
    with monkeypatch.context() as patch:
        never_sleeps(patch)
        assert runner.wait(None, 0, timeout=5).status == "idle"
    assert runner.stop() is False
    assert runner.jobs() == []


@pytest.mark.slow
def test_a_job_trains_in_a_worker_and_wait_returns_only_new_events(runner: JobRunner, runs_dir: Path) -> None:
    job_id = runner.start(SHORT, limit=LIMIT)
    since = 0
    seen: list[dict] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        update = runner.wait(job_id, since, timeout=5)
        assert update.next_index == since + len(update.events)
        seen += update.events
        since = update.next_index
        if update.finished:  # The "end" event comes with the final status.
            break
    assert [event["kind"] for event in seen] == ["start", *["batch"] * 5, "epoch", "end"]
    snapshot = runner.snapshot(job_id)
    assert snapshot.status == "completed", snapshot.message
    assert list(snapshot.events) == seen
    # The worker was another process, not this one, and its run says so.
    summary = runs.read_summary(runs_dir / job_id)
    assert seen[0]["pid"] == summary["worker"]["pid"] != os.getpid()
    assert summary["process"]["pid"] not in (os.getpid(), summary["worker"]["pid"])
    # A finished job has nothing new: waiting returns at once, empty.
    with pytest.MonkeyPatch.context() as patch:
        never_sleeps(patch)
        update = runner.wait(job_id, since, timeout=5)
    assert update.events == () and update.next_index == since
    assert runner.snapshot(job_id, since - 2).events == tuple(seen[-2:])
    assert runner.snapshot(job_id, 10_000).events == ()
    assert runner.stop(job_id) is False
    # A runner started later (a restarted dashboard) reads the same job from the store.
    late = JobRunner(runs_dir).snapshot(job_id)
    assert [(event["kind"], event["time"]) for event in late.events] == [
        (event["kind"], event["time"]) for event in seen
    ]
    assert (late.status, late.result) == (snapshot.status, snapshot.result)


@pytest.mark.slow
def test_stop_takes_effect_within_one_batch(runner: JobRunner, runs_dir: Path) -> None:
    job_id = runner.start(LONG, limit=2000)
    path = runs_dir / job_id
    wait_until(lambda: batches_seen(path) >= 3, 180, "three batches")
    assert runner.stop(job_id) is True
    assert runner.snapshot(job_id).status == "stopping"
    # Every batch that ended before the request is in the log by now: the worker writes before it looks.
    steps_at_stop = batches_seen(path)
    snapshot = runner.join(job_id, timeout=120)
    assert snapshot.status == "stopped", snapshot.message
    last_step = batch_events(snapshot)[-1]["global_step"]
    assert steps_at_stop <= last_step <= steps_at_stop + 1, (steps_at_stop, last_step)
    assert last_step < 160  # Far from the end of even the first epoch.
    assert snapshot.message == f"Stopped after 0 full epochs and {last_step} steps in all."
    assert snapshot.result["epochs_completed"] == 0 and snapshot.result["steps"] == last_step
    summary = runs.read_summary(path)
    assert summary["status"] == "stopped" and summary["test_loss"] > 0
    assert (path / "history.jsonl").read_text() == ""  # A partial epoch is not an epoch of history.
    run = runs.load_run(job_id, runs_dir)
    assert run.status == "stopped" and run.has_model  # The weights as they were when it stopped.
    assert runner.stop(job_id) is False  # Stopping twice is harmless.


# --- The queue ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_jobs_queue_behind_a_running_one_and_can_be_cancelled(runner: JobRunner, runs_dir: Path) -> None:
    first = runner.start(LONG, limit=2000)
    second = runner.start(SHORT, limit=LIMIT)
    third = runner.start(SHORT.with_training(seed=1), limit=LIMIT)
    assert runner.snapshot(second).queue_position == 1
    assert runner.snapshot(third).queue_position == 2
    assert runner.snapshot(third).message == "Queued: 1 jobs ahead of it."
    assert [job.job_id for job in runner.jobs()] == [first, second, third]
    assert [runs.load_run(job, runs_dir).status for job in (second, third)] == ["queued", "queued"]
    with pytest.raises(runs.RunStoreError, match="waiting in the queue. Cancel it"):
        runs.delete_run(second, runs_dir)

    # A reload, or another tab: a new runner over the same store sees the same queue.
    reloaded = JobRunner(runs_dir)
    assert [(job.job_id, job.queue_position) for job in reloaded.jobs()] == [(first, None), (second, 1), (third, 2)]
    assert reloaded.cancel(second) is True
    assert not (runs_dir / second).exists()
    assert runner.snapshot(second).status == "cancelled"
    assert runner.snapshot(third).queue_position == 1
    assert reloaded.cancel(second) is False

    # When the running job ends, the supervisor starts the next one, with no runner involved.
    wait_until(lambda: batches_seen(runs_dir / first) >= 1, 180, "the first job's first batch")
    jobs.request_stop(runs_dir / first)
    assert runner.join(first, timeout=120).status == "stopped"
    assert runner.join(third, timeout=240).status == "completed"


@pytest.mark.slow
def test_two_jobs_at_once_when_allowed(runner: JobRunner, runs_dir: Path) -> None:
    assert runner.max_parallel == 1
    first = runner.start(LONG, limit=2000)
    second = runner.start(LONG.with_training(seed=1), limit=2000)
    assert runner.snapshot(second).queued
    runner.max_parallel = 2  # Starts the queued job at once.
    assert jobs.max_parallel(runs_dir) == 2
    wait_until(lambda: batches_seen(runs_dir / second) >= 1, 240, "the second job's first batch")
    assert runner.snapshot(first).active and runner.snapshot(second).active
    runner.stop_all()
    assert [runner.join(job, timeout=120).status for job in (first, second)] == ["stopped", "stopped"]


def test_starts_pressed_at_once_in_many_sessions_run_one_job_and_queue_the_others_in_order(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Eight sessions press Start at the same moment. The queue lock lets exactly one job start (its worker
    # replaced by a stand-in that holds the run as this process) and queues the others, each told its place.
    launched: list[str] = []

    def stand_in_launch(path: Path) -> None:
        time.sleep(0.05)  # A real start takes this long and more: a wide window for a second start to slip in.
        runs.update_summary(path, status="running", process=runs.process_identity(os.getpid()))
        launched.append(path.name)

    monkeypatch.setattr(jobs, "_launch", stand_in_launch)
    barrier = threading.Barrier(8)

    def press_start(session: int) -> str:
        barrier.wait()
        return jobs.submit(SHORT.with_training(seed=session), LIMIT, runs_dir).name

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        job_ids = list(pool.map(press_start, range(8)))
    assert len(launched) == 1
    runner = JobRunner(runs_dir)
    snapshots = {job_id: runner.snapshot(job_id) for job_id in job_ids}
    assert snapshots[launched[0]].status == "preparing"  # Running, waiting for its worker's first event.
    queued = sorted(
        (job_id for job_id in job_ids if job_id != launched[0]), key=lambda job_id: snapshots[job_id].queue_position
    )
    assert [snapshots[job_id].queue_position for job_id in queued] == list(range(1, 8))
    assert snapshots[queued[0]].message == "Queued: it starts when the job ahead ends."
    assert snapshots[queued[-1]].message == "Queued: 6 jobs ahead of it."


@pytest.mark.parametrize("count", [0, 65, True, 1.5])
def test_an_invalid_parallel_count_is_refused(runner: JobRunner, count: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"Received max_parallel={count!r}.")):
        runner.max_parallel = count  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("spec", "limit", "message"),
    [
        (SHORT, 0, "Received limit=0."),
        (SHORT, -5, "Received limit=-5."),
        (SHORT, True, "Received limit=True."),
        (SHORT, 1.5, "Received limit=1.5."),
        (SHORT, 60_001, "Expected an integer from 1 to 60000, the MNIST training images. Received limit=60001."),
        (SHORT, 1, "leaves 0 for training and 1 for validation"),
        (SHORT.with_training(epochs=0), None, "Received epochs=0."),
    ],
)
def test_invalid_start_fails_before_anything_is_written(
    runner: JobRunner, runs_dir: Path, spec: ExperimentSpec, limit: object, message: str
) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        runner.start(spec, limit=limit)  # type: ignore[arg-type]
    assert runner.snapshot().status == "idle"
    assert list(runs_dir.iterdir()) == []


def test_shared_runner_is_one_per_store(runs_dir: Path, tmp_path: Path) -> None:
    assert shared_runner(runs_dir) is shared_runner(str(runs_dir))
    assert shared_runner(runs_dir) is not shared_runner(tmp_path / "other")


# --- Workers that die --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (signal.SIGKILL, "The training process was killed by signal 9 (SIGKILL), for example by the system running "
                         "out of memory or by `kill -9`."),
        (signal.SIGSEGV, "The training process was killed by signal 11 (SIGSEGV): it crashed."),
    ],
)  # fmt: skip
def test_a_killed_worker_fails_its_run_with_the_reason_and_the_next_job_completes(
    runner: JobRunner, runs_dir: Path, number: int, reason: str
) -> None:
    doomed = runner.start(LONG, limit=2000)
    following = runner.start(SHORT, limit=LIMIT)  # Queued behind it.
    path = runs_dir / doomed
    wait_until(lambda: batches_seen(path) >= 2, 180, "two batches")
    os.kill(runs.read_summary(path)["worker"]["pid"], number)
    snapshot = runner.join(doomed, timeout=60)
    assert snapshot.status == "failed"
    assert snapshot.message.startswith(reason), snapshot.message
    assert snapshot.events[-1]["kind"] == "end"
    run = runs.load_run(doomed, runs_dir)
    assert run.status == "failed" and run.summary["message"] == snapshot.message
    if number == signal.SIGSEGV:  # Python's fault handler left the stack in the worker's log...
        log = (path / jobs.WORKER_LOG).read_text()
        assert "Fatal Python error: Segmentation fault" in log
        # ... naming files as the project does, and no directory of this machine: a run's files travel.
        assert 'File "core/training.py"' in log, log
        for directory in (runs.PROJECT_ROOT, Path(sys.prefix), Path.home(), runs_dir):
            assert f"{directory}{os.sep}" not in log, directory
    assert runner.join(following, timeout=240).status == "completed"


@pytest.mark.slow
def test_a_job_whose_processes_all_died_reads_as_interrupted(runner: JobRunner, runs_dir: Path) -> None:
    job_id = runner.start(SHORT.with_training(epochs=50, batch_size=20), limit=2000)
    path = runs_dir / job_id
    wait_until(lambda: runs.read_summary(path).get("epochs_completed", 0) >= 1, 240, "the first epoch to be saved")
    summary = runs.read_summary(path)
    for owner in ("process", "worker"):  # The supervisor first, so that nobody records the worker's end.
        os.kill(summary[owner]["pid"], signal.SIGKILL)
    wait_until(lambda: not runs.owner_alive(runs.read_summary(path)), 30, "both processes to end")
    assert runner.snapshot(job_id).status == "interrupted"
    run = runs.load_run(job_id, runs_dir)
    assert run.status == "interrupted" and run.summary["status"] == "running"
    history = runs.load_history(run)
    assert [record["epoch"] for record in history] == list(range(1, len(history) + 1))
    assert run.has_model
    runs.delete_run(job_id, runs_dir)  # An interrupted run is no longer training.


SERVER = """
import sys, time
from core.jobs import JobRunner
from core.presets import preset

runner = JobRunner(sys.argv[1])
spec = preset("strided").with_training(batch_size=100, epochs=3, learning_rate=0.003)
print(runner.start(spec, limit=2000), runner.start(spec.with_training(epochs=1), limit=600), flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_server_killed_with_sigkill_while_a_job_trains_loses_nothing(
    runner: JobRunner, runs_dir: Path, subprocess_env: dict[str, str]
) -> None:
    # A finished run already in the store, and a server process (a JobRunner, as the dashboard holds one) that
    # starts one job and queues another, then dies by SIGKILL mid-batch: no cleanup code of it runs.
    earlier = runs.create_run(SHORT, runs_dir, settings={"limit": LIMIT})
    runs.update_summary(earlier, status="completed", test_loss=0.2)
    files_before = {item.name: item.read_bytes() for item in earlier.iterdir()}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(runs_dir)], env=subprocess_env,
                              cwd=REPOSITORY_ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        training, queued = server.stdout.readline().split()
        wait_until(lambda: batches_seen(runs_dir / training) >= 2, 180, "two batches")
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        server.stdout.close()
    # The restarted server (this test's runner) finds the job still training, and the queued one starts in turn.
    assert runner.snapshot(training).status == "running"
    assert runner.join(training, timeout=240).status == "completed"
    assert runner.join(queued, timeout=240).status == "completed"
    history = runs.load_history(runs.load_run(training, runs_dir))
    assert [record["epoch"] for record in history] == [1, 2, 3]
    assert {item.name: item.read_bytes() for item in earlier.iterdir()} == files_before
    assert {run.run_id: run.status for run in runs.list_runs(runs_dir, include_pretrained=False)} == {
        earlier.name: "completed",
        training: "completed",
        queued: "completed",
    }


# --- The event log and the runner's memory -----------------------------------------------------------------


def test_a_long_batch_series_is_thinned_in_memory_and_kept_whole_on_disk(runs_dir: Path) -> None:
    path = jobs.submit(SHORT, LIMIT, runs_dir, start=False)
    total = 3 * jobs.BATCH_POINTS + 7
    with events.EventWriter(path) as writer:
        writer.write("start", steps_per_epoch=total)
        for step in range(1, total + 1):
            writer.write("batch", epoch=1, step=step, global_step=step, loss=1.0 / step, mean_loss=1.0)
        writer.write("partial", note="a torn line follows")
    with open(path / events.EVENTS_FILE, "a") as handle:
        handle.write('{"kind": "batch", "glob')  # A worker killed mid-line.
    snapshot = JobRunner(runs_dir).snapshot(path.name)
    batches = batch_events(snapshot)
    assert len(batches) <= jobs.BATCH_POINTS
    steps = [event["global_step"] for event in batches]
    assert steps == sorted(steps) and steps[-1] == total  # Evenly thinned, the latest always kept.
    assert len({b - a for a, b in zip(steps[:-2], steps[1:-1], strict=True)}) == 1
    assert snapshot.next_index == total + 2 and snapshot.events[0]["kind"] == "start"
    assert snapshot.step == total
    assert len(events.read_events(path)) == total + 2  # The torn line is skipped, the rest all there.


def test_events_round_trip_arrays_and_non_finite_numbers(tmp_path: Path) -> None:
    import numpy as np

    preview = np.linspace(0, 1, 8 * 28 * 28, dtype=np.float32).reshape(8, 28, 28)
    with events.EventWriter(tmp_path) as writer:
        writer.write("epoch", preview=preview, loss=float("nan"), step=np.int64(3))
    (event,) = events.read_events(tmp_path)
    assert event["preview"].dtype == np.float32 and event["preview"].shape == (8, 28, 28)
    np.testing.assert_allclose(event["preview"], preview, atol=1e-3)
    assert event["loss"] != event["loss"] and event["step"] == 3
    assert json.loads((tmp_path / events.EVENTS_FILE).read_text().replace("NaN", "null"))["kind"] == "epoch"


@pytest.mark.slow
def test_stop_all_from_another_process_stops_a_job_it_did_not_start(runner: JobRunner, runs_dir: Path) -> None:
    # `python -m core.jobs stop --all` (and a second server) know the job only from the store: a runner that has
    # just discovered it must still see it training and ask it to stop.
    job = runner.start(LONG, limit=2000)
    wait_until(lambda: batches_seen(runs_dir / job) >= 1, 240, "the job's first batch")
    command = [sys.executable, "-m", "core.jobs", "--runs-dir", str(runs_dir), "stop", "--all"]
    subprocess.run(command, cwd=REPOSITORY_ROOT, check=True, capture_output=True, timeout=60)
    assert (runs_dir / job / jobs.STOP_FILE).exists()
    assert runner.join(job, timeout=120).status == "stopped"
