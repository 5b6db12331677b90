"""The job runner: training jobs queued in the run store and trained in worker processes. Imports no Keras.

A job is a run of the store. `submit` writes it as "queued" (its spec in `config.json`); `schedule` starts the
oldest queued jobs while fewer than `max_parallel` run. Starting one means launching its supervisor,
`python -m core.jobs supervise RUN_DIR`, in a session of its own, which in turn runs the worker
`python -m core.training RUN_DIR` (a fresh interpreter: never a fork of a process that holds TensorFlow). The
supervisor waits for the worker; if the worker dies without a word (SIGKILL, a segfault, out of memory) it marks
the run failed with the reason, such as "killed by signal 9 (SIGKILL)". Then it starts the next queued job, so
the queue moves on with no dashboard running at all.

Everything lives in the run directory, so any process can watch or control any job, and a dashboard that
restarts finds its jobs again:

    config.json    the spec and settings (how many images)
    summary.json   "queued", then "running" with the supervisor's and the worker's process identities, then final
    events.jsonl   start, batch, epoch and end events, appended by the worker (see `core.events`)
    stop           present when a stop was requested: the worker stops after the batch in progress
    worker.log     the worker's output: warnings and, for a crash, Python's fault handler stack

`JobRunner` is what the dashboard and `python -m core.train` use: `start`, `stop`, `cancel`, `snapshot`, `wait`,
`join`. It reads each job's event log incrementally and keeps, per job, every event but a bounded, evenly thinned
series of batch events (`BATCH_POINTS`); the full series stays on disk.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import fcntl
import heapq
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core import runs
from core.backends import DEFAULT_BACKEND, check_backend, default_backend
from core.events import EventReader, EventWriter
from core.mnist import split_validation
from core.spec import TRAIN_IMAGES, ExperimentSpec, SpecError
from core.text import describe_exit, portable_paths
from core.validation import validate

ACTIVE_STATUSES = ("preparing", "running", "stopping")
JAX_CACHE_DIR = runs.PROJECT_ROOT / ".cache" / "jax"  # Compiled XLA programs; JAX_COMPILATION_CACHE_DIR moves it.
FINAL_STATUSES = ("completed", "stopped", "failed", "interrupted", "cancelled")
STOP_FILE = "stop"  # The same name `core.training` checks after every batch.
WORKER_LOG = "worker.log"
SETTINGS_FILE = "runner.json"  # The store's runner settings: {"max_parallel": N}.
BATCH_POINTS = 4000  # Batch events kept in memory per job; a longer series is thinned evenly.
MAX_PARALLEL_LIMIT = 64


# --- The queue on disk -------------------------------------------------------------------------------------


@contextlib.contextmanager
def queue_lock(runs_dir: Path) -> Iterator[None]:
    """Holds the store's queue lock, so two processes never start the same job or one job too many."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / ".queue.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_limit(limit: Any) -> int | None:
    """Returns `limit` (train on the first `limit` images) if it is None or an integer from 1 to 60,000.

    Raises:
        SpecError: for anything else.
    """
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= TRAIN_IMAGES):
        raise SpecError(
            f"Invalid value for argument `limit`. Expected an integer from 1 to {TRAIN_IMAGES}, the MNIST training "
            f"images. Received limit={limit!r}."
        )
    return limit


def submit(
    spec: ExperimentSpec, limit: int | None, runs_dir: Path | str, *, backend: str | None = None, start: bool = True
) -> Path:
    """Queues a training job as a new run of the store and, with `start`, starts it if a place is free.

    Args:
        spec: the experiment; validated here, so a bad spec fails before anything is written.
        limit: train on only the first `limit` of the 60,000 training images (before the validation split, which
            holds out the last fraction as Keras' `validation_split` does).
        runs_dir: the run store.
        backend: the Keras backend the worker trains on (`core.backends.BACKENDS`); by default `KERAS_BACKEND`
            when it names an installed backend, else TensorFlow.
        start: run `schedule` at once; False leaves the job queued (tests train it in-process).

    Returns:
        The queued run's directory.

    Raises:
        SpecError: if the spec, `limit` or `backend` is invalid, or leaves no image for training or validation.
    """
    settings = run_settings(spec, limit, backend)
    path = runs.create_run(spec, runs_dir, settings=settings, status="queued",
                           summary={"message": "Waiting for a free place in the queue."})  # fmt: skip
    if start:
        schedule(Path(runs_dir))
    return path


def run_settings(spec: ExperimentSpec, limit: int | None, backend: str | None = None) -> dict[str, Any]:
    """How a job of `spec` trains beyond its spec, as its `config.json` stores it: the image limit, the backend and
    the sizes of the training and validation parts. A sweep's Ray trials write the same settings.

    Raises:
        SpecError: if the spec, `limit` or `backend` is invalid, or leaves no image for training or validation.
    """
    backend = default_backend() if backend is None else check_backend(backend)
    validate(spec, backend)
    check_limit(limit)
    images = min(limit or TRAIN_IMAGES, TRAIN_IMAGES)
    train_part, validation_part = split_validation(range(images), spec.training.validation_split)
    return {"limit": limit, "backend": backend, "train_images": len(train_part),
            "validation_images": len(validation_part)}  # fmt: skip


def max_parallel(runs_dir: Path | str) -> int:
    """How many jobs of the store may train at once (1 unless set with `set_max_parallel`)."""
    try:
        value = json.loads((Path(runs_dir) / SETTINGS_FILE).read_text()).get("max_parallel", 1)
    except (OSError, ValueError, AttributeError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= MAX_PARALLEL_LIMIT else 1


def set_max_parallel(runs_dir: Path | str, count: int) -> None:
    """Lets `count` jobs of the store train at once, and starts queued jobs that now have a place.

    Raises:
        ValueError: if `count` is not an integer from 1 to 64.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PARALLEL_LIMIT:
        raise ValueError(
            f"Invalid value for argument `max_parallel`. Expected an integer from 1 to {MAX_PARALLEL_LIMIT}. "
            f"Received max_parallel={count!r}."
        )
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    runs.write_json_atomic(root / SETTINGS_FILE, {"max_parallel": count})
    schedule(root)


def _summaries(runs_dir: Path, skip: set[str] | frozenset[str] = frozenset()) -> list[tuple[Path, dict[str, Any]]]:
    """The summaries of the store's runs, by run id, except those named in `skip`; damaged runs are left out."""
    found = []
    for path in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else ():
        if path.name in skip or not runs.RUN_ID.match(path.name) or not path.is_dir() or path.is_symlink():
            continue
        with contextlib.suppress(OSError, ValueError):  # A damaged run takes no part in the queue.
            found.append((path, runs.read_summary(path)))
    return found


def _queued_order(path_summary: tuple[Path, dict[str, Any]]) -> tuple[str, str]:
    path, summary = path_summary
    return (str(summary.get("created_at", "")), path.name)


def schedule(runs_dir: Path | str) -> list[str]:
    """Starts the oldest queued jobs while fewer than `max_parallel` train; returns the ids started."""
    root = Path(runs_dir)
    started = []
    with queue_lock(root):
        summaries = _summaries(root)
        # A sweep's Ray trial is a running run too, but it trains on Ray's resources, not in one of the queue's places.
        busy = sum(summary.get("status") == "running" and runs.owner_alive(summary) and summary.get("executor") != "ray"
                   for _, summary in summaries)  # fmt: skip
        queued = sorted((item for item in summaries if item[1].get("status") == "queued"), key=_queued_order)
        for path, _ in queued[: max(0, max_parallel(root) - busy)]:
            _launch(path)
            started.append(path.name)
    return started


def _launch(path: Path) -> None:
    command = [sys.executable, "-m", "core.jobs", "supervise", str(path)]
    with open(path / WORKER_LOG, "ab") as log:
        process = subprocess.Popen(
            command, cwd=runs.PROJECT_ROOT, env=_worker_environment(path), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,  # Ctrl-C of the dashboard's terminal leaves it be.
        )  # fmt: skip
    runs.update_summary(path, status="running", process=runs.process_identity(process.pid),
                        message="Starting the training process.")  # fmt: skip
    # Someone must read the supervisor's exit status, or it lingers as a zombie while this process lives.
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()


def _worker_environment(path: Path) -> dict[str, str]:
    environment = dict(os.environ)
    # Keras reads KERAS_BACKEND once, when the worker imports it. Runs queued before backends were a setting
    # trained on TensorFlow; an unreadable config fails in the worker, which says why in the run.
    try:
        backend = runs.read_config(path).get("settings", {}).get("backend")
    except (OSError, ValueError):
        backend = None
    environment["KERAS_BACKEND"] = backend or DEFAULT_BACKEND
    if environment["KERAS_BACKEND"] == "jax":
        # JAX's persistent cache keeps XLA's compiled programs between jobs: a later job of the same model and batch
        # size skips compiling its training step (its first step 2.3 s -> 1.2 s on this CPU) and, kept however
        # short they took to compile (JAX keeps only those over 1 s by default), the 20 small programs that
        # initialize its weights (building the model 3.7 s -> 0.3 s; BENCHMARKS.md).
        environment.setdefault("JAX_COMPILATION_CACHE_DIR", str(JAX_CACHE_DIR))
        environment.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(runs.PROJECT_ROOT), environment.get("PYTHONPATH")]))
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment["PYTHONFAULTHANDLER"] = "1"  # A native crash leaves a Python stack in worker.log.
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def request_stop(path: Path) -> None:
    """Asks the worker training the run at `path` to stop after its current batch (it keeps model and history)."""
    (path / STOP_FILE).touch()


def cancel(path: Path) -> bool:
    """Removes a job that is still queued; returns False if it has started (stop it instead) or is gone."""
    with queue_lock(path.parent):
        try:
            if runs.read_summary(path).get("status") != "queued":
                return False
        except (OSError, ValueError):
            return False
        for item in path.iterdir():
            item.unlink()
        path.rmdir()
        return True


# --- The supervisor ----------------------------------------------------------------------------------------


def supervise(path: Path) -> int:
    """Runs the worker for the run at `path`, records how it ended if it could not, then starts the next job.

    SIGTERM or SIGINT to the supervisor asks the worker to stop after its current batch.
    """
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda received, frame: request_stop(path))
    command = [sys.executable, "-m", "core.training", str(path)]
    worker = subprocess.Popen(command, cwd=runs.PROJECT_ROOT, env=_worker_environment(path),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    with contextlib.suppress(OSError, ValueError):
        runs.update_summary(path, worker=runs.process_identity(worker.pid))
    _relay_log(worker.stdout, path)
    code = worker.wait()
    with contextlib.suppress(OSError, ValueError):
        if runs.read_summary(path).get("status") in ("running", "queued"):
            _record_crash(path, code)
    schedule(path.parent)
    return 0


def _relay_log(output: IO[bytes], path: Path) -> None:
    """Appends the worker's output to its log line by line, naming no directory of this machine.

    Tracebacks and Python's fault handler print absolute paths; the log is one of the run's files, and a run's
    files must be safe to share.
    """
    root = path.parent.resolve()
    with open(path / WORKER_LOG, "ab") as log:
        for line in output:
            text = portable_paths(line.decode(errors="replace"), runs.PROJECT_ROOT, root)
            with contextlib.suppress(OSError):  # A full disk must not stop the worker: it blocks on a full pipe.
                log.write(text.encode())
                log.flush()


def _record_crash(path: Path, code: int) -> None:
    """Marks the run failed with why its worker ended without writing its own end."""
    if code < 0:
        reason = f"The training process was {describe_exit(code)}"
        if -code == signal.SIGKILL:
            reason += ", for example by the system running out of memory or by `kill -9`"
        elif -code in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT):
            reason += ": it crashed"
    else:
        reason = f"The training process ended with {describe_exit(code)} without finishing the run"
    last = _last_log_line(path)
    message = f"{reason}." + (f" Its last words: {last}" if last else "") + f" Its full log is {WORKER_LOG} in the run."
    summary = runs.read_summary(path)
    metrics = {"epochs_completed": summary.get("epochs_completed", 0)}
    runs.update_summary(path, status="failed", message=message, ended_at=runs.timestamp())
    with EventWriter(path) as events:
        events.write("end", status="failed", message=message, **metrics)


def _last_log_line(path: Path) -> str:
    try:
        with open(path / WORKER_LOG, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 4096))
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    meaningful = [line.strip() for line in lines if line.strip()]
    return meaningful[-1][:300] if meaningful else ""


# --- Watching: snapshots from the event logs ---------------------------------------------------------------


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of one job's state, safe to read from any thread.

    `events` holds the job's events with index `since` (as asked) and later, up to `next_index`; pass
    `next_index` back as `since` to read only what is new. Indices count every event in the job's log, so a
    cursor (job id, index) stays valid while older batch events are thinned from memory.
    """

    job_id: str | None
    status: str  # "idle", "queued", "preparing", "running", "stopping", or one of FINAL_STATUSES.
    message: str
    run_id: str | None
    spec: ExperimentSpec | None
    epoch: int  # Epochs completed.
    epochs: int
    step: int  # Steps completed in the current epoch.
    steps_per_epoch: int
    train_images: int
    started_at: float | None
    ended_at: float | None
    result: dict[str, Any]
    events: tuple[dict[str, Any], ...]
    next_index: int
    queue_position: int | None = None  # 1 for the next job to start, while queued.

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def queued(self) -> bool:
        return self.status == "queued"

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


IDLE = JobSnapshot(None, "idle", "No training job has run yet.", None, None, 0, 0, 0, 0, 0, None, None, {}, (), 0)


class _JobView:
    """What a runner has read of one job: its events (batch events thinned) and the latest summary."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reader = EventReader(path)
        self.spec: ExperimentSpec | None = None
        self.summary: dict[str, Any] = {}
        self.batches: list[tuple[int, dict[str, Any]]] = []  # (index in the log, event), thinned.
        self.others: list[tuple[int, dict[str, Any]]] = []  # Every other event.
        self.count = 0  # Events read from the log.
        self.stride = 1  # Keep the batch events whose global step is a multiple of this, and always the latest.
        self.start: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.epoch = 0
        self.step = 0
        self.gone = False

    def refresh(self) -> None:
        if self.end is not None or self.gone:
            return
        try:
            self.summary = runs.read_summary(self.path)
            if self.spec is None:
                self.spec = ExperimentSpec.from_dict(runs.read_config(self.path)["spec"])
        except FileNotFoundError:
            self.gone = not self.path.exists()
            return
        except (OSError, ValueError, KeyError, TypeError):
            return  # Mid-rewrite or damaged: try again next time.
        for event in self.reader.read():
            self._add(event)

    def _add(self, event: dict[str, Any]) -> None:
        index, self.count = self.count, self.count + 1
        kind = event["kind"]
        if kind == "batch":
            self.step = int(event.get("step", 0))
            self._add_batch(index, event)
            return
        if kind == "start":
            self.start = event
        elif kind == "epoch":
            self.epoch, self.step = int(event.get("epoch", self.epoch + 1)), 0
        elif kind == "end":
            self.end = event
        self.others.append((index, event))

    def _add_batch(self, index: int, event: dict[str, Any]) -> None:
        if self.batches and self.batches[-1][1].get("global_step", 0) % self.stride:
            self.batches.pop()  # It was kept only for being the latest.
        self.batches.append((index, event))
        if len(self.batches) > BATCH_POINTS:
            self.stride *= 2
            self.batches = [item for item in self.batches[:-1] if item[1].get("global_step", 0) % self.stride == 0]
            self.batches.append((index, event))

    def events_since(self, since: int) -> tuple[dict[str, Any], ...]:
        def tail(items: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
            return items[bisect.bisect_left(items, since, key=lambda item: item[0]) :]

        return tuple(event for _, event in heapq.merge(tail(self.batches), tail(self.others), key=lambda item: item[0]))

    def status(self) -> str:
        if self.gone:
            return "cancelled"
        if self.end is not None:
            return str(self.end.get("status", "failed"))
        status = self.summary.get("status")
        if status in ("queued", "completed", "stopped", "failed"):
            return status
        if status == "running":
            if not runs.owner_alive(self.summary):
                return "interrupted"
            if (self.path / STOP_FILE).exists():
                return "stopping"
            return "running" if self.start is not None else "preparing"
        return "failed"  # Damaged: nothing more will come of it.

    def message(self, status: str, position: int | None) -> str:
        if status == "cancelled":
            return "Cancelled before it started."
        if self.end is not None:
            return str(self.end.get("message", ""))
        if status == "queued":
            ahead = (position or 1) - 1
            return "Queued: it starts when the job ahead ends." if ahead == 0 else (
                f"Queued: {ahead} jobs ahead of it.")  # fmt: skip
        if status == "interrupted":
            return ("Its training processes ended without finishing the run (the machine may have restarted). "
                    "The run keeps the epochs it saved.")  # fmt: skip
        if status == "stopping":
            return "Stopping after the current batch."
        if status == "running" and self.start is not None:
            return str(self.start.get("message", "Training."))
        return str(self.summary.get("message") or "Loading MNIST and building the model.")

    def snapshot(self, since: int, position: int | None) -> JobSnapshot:
        status = self.status()
        start, end = self.start or {}, self.end or {}
        result = {key: value for key, value in end.items() if key not in ("kind", "time", "status", "message")}
        return JobSnapshot(
            job_id=self.path.name,
            status=status,
            message=self.message(status, position),
            run_id=self.path.name,
            spec=self.spec,
            epoch=self.epoch,
            epochs=self.spec.training.epochs if self.spec else 0,
            step=self.step,
            steps_per_epoch=int(start.get("steps_per_epoch", 0)),
            train_images=int(start.get("train_images", self.summary.get("train_images", 0)) or 0),
            started_at=start.get("time"),
            ended_at=end.get("time"),
            result=result,
            events=self.events_since(since),
            next_index=self.count,
            queue_position=position,
        )


class JobRunner:
    """Submits, watches and controls the training jobs of one run store, from any process.

    One runner serves a whole dashboard (every session and tab). It holds no job state that the store does not
    have: a new runner over the same store, in a restarted server or another process, sees the same jobs.
    """

    DISCOVERY_SECONDS = 0.5  # How stale the list of the store's queued and running jobs may be.
    POLL_SECONDS = 0.1  # How often `wait` looks for new events.
    FINISHED_KEPT = 16  # Finished jobs whose events stay in memory.

    def __init__(self, runs_dir: Path | str = runs.DEFAULT_RUNS_DIR) -> None:
        self.runs_dir = Path(runs_dir)
        self._lock = threading.RLock()
        self._views: dict[str, _JobView] = {}
        self._settled: set[str] = set()  # Runs seen in a final state: discovery skips them.
        self._discovered_at = -math.inf

    # --- Control -------------------------------------------------------------------------------------------

    def start(self, spec: ExperimentSpec, limit: int | None = None, backend: str | None = None) -> str:
        """Queues `spec` and starts it if a place is free; returns the job id (its run id).

        Raises:
            SpecError: if the spec, `limit` or `backend` is invalid (see `submit`).
        """
        path = submit(spec, limit, self.runs_dir, backend=backend)
        with self._lock:
            self._views[path.name] = _JobView(path)
        return path.name

    def stop(self, job_id: str | None = None) -> bool:
        """Stops a job after its current batch, or cancels it while queued; by default the newest active job.

        Returns:
            False if the job has already ended (or there is no active job).
        """
        with self._lock:
            view = self._view(job_id, active_only=job_id is None)
            if view is None:
                return False
            view.refresh()
            if view.status() == "queued" and cancel(view.path):
                return True
            view.refresh()  # It may have started between the two looks.
            if view.status() not in ("preparing", "running"):
                return False
            request_stop(view.path)
            return True

    def stop_all(self) -> None:
        """Cancels every queued job and stops every running one in the store."""
        self._discover(force=True)
        with self._lock:
            for view in self._views.values():
                view.refresh()  # A view just discovered has read nothing yet: its status would say "failed".
            ids = [job_id for job_id, view in self._views.items() if view.status() in ("queued", *ACTIVE_STATUSES)]
        for job_id in sorted(ids, reverse=True):  # The newest first, so no queued job starts in between.
            self.stop(job_id)

    def cancel(self, job_id: str) -> bool:
        """Removes a queued job from the queue; returns False if it has already started or ended."""
        with self._lock:
            view = self._views.get(job_id)
            path = view.path if view is not None else self.runs_dir / runs.check_run_id(job_id)
            return cancel(path)

    @property
    def max_parallel(self) -> int:
        """How many jobs train at once; setting it starts queued jobs that now have a place."""
        return max_parallel(self.runs_dir)

    @max_parallel.setter
    def max_parallel(self, count: int) -> None:
        set_max_parallel(self.runs_dir, count)

    # --- Watching ------------------------------------------------------------------------------------------

    def snapshot(self, job_id: str | None = None, since: int = 0) -> JobSnapshot:
        """A job's state and its events from index `since` on; by default the newest job, active ones first."""
        with self._lock:
            self._discover()
            view = self._view(job_id)
            if view is None:
                return IDLE
            view.refresh()
            return view.snapshot(since, self._position(view))

    def wait(self, job_id: str | None = None, since: int = 0, timeout: float = 1.0) -> JobSnapshot:
        """Blocks until the job has events after `since`, has ended, or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.snapshot(job_id, since)
            if snapshot.events or snapshot.finished or snapshot.status == "idle" or time.monotonic() >= deadline:
                return snapshot
            time.sleep(min(self.POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def join(self, job_id: str | None = None, timeout: float | None = None) -> JobSnapshot:
        """Waits for the job to end (or `timeout` seconds) and returns its snapshot with every event kept."""
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        job_id = job_id or self.snapshot().job_id
        while True:
            snapshot = self.snapshot(job_id)
            if snapshot.finished or snapshot.status == "idle" or time.monotonic() >= deadline:
                return snapshot
            time.sleep(self.POLL_SECONDS)

    def jobs(self) -> list[JobSnapshot]:
        """The store's queued and training jobs, without their events: training ones first, then the queue."""
        with self._lock:
            self._discover()
            for view in self._views.values():
                view.refresh()
            found = [view.snapshot(view.count, self._position(view)) for view in self._views.values()
                     if view.status() in ("queued", *ACTIVE_STATUSES)]  # fmt: skip
        return sorted(found, key=lambda job: (job.queue_position or 0, job.job_id or ""))

    def _view(self, job_id: str | None, active_only: bool = False) -> _JobView | None:
        if job_id is not None:
            view = self._views.get(job_id)
            if view is None:
                path = self.runs_dir / runs.check_run_id(job_id)
                view = self._views[job_id] = _JobView(path)
            return view
        for view in self._views.values():
            view.refresh()
        ranked = sorted(self._views.values(), key=lambda view: (view.status() in ACTIVE_STATUSES,
                                                                view.status() == "queued", view.path.name))  # fmt: skip
        if not ranked:
            return None
        newest = ranked[-1]
        return None if active_only and newest.status() not in (*ACTIVE_STATUSES, "queued") else newest

    def _position(self, view: _JobView) -> int | None:
        if view.status() != "queued":
            return None
        for other in self._views.values():
            other.refresh()  # Cheap for finished jobs, which read nothing more.
        queued = [(v.path, v.summary) for v in self._views.values() if v.status() == "queued"]
        order = [path.name for path, _ in sorted(queued, key=_queued_order)]
        return order.index(view.path.name) + 1

    def _discover(self, force: bool = False) -> None:
        """Starts tracking the store's queued and running jobs, including those of other processes."""
        now = time.monotonic()
        if not force and now - self._discovered_at < self.DISCOVERY_SECONDS:
            return
        self._discovered_at = now
        with self._lock:
            for path, summary in _summaries(self.runs_dir, skip=self._settled | set(self._views)):
                status = summary.get("status")
                if status == "queued" or (status == "running" and runs.owner_alive(summary)):
                    self._views[path.name] = _JobView(path)
                elif status != "running":  # A running one whose processes have not yet started is looked at again.
                    self._settled.add(path.name)
            for job_id, view in list(self._views.items()):
                if view.gone:
                    del self._views[job_id]
            finished = sorted(job_id for job_id, view in self._views.items() if view.status() in FINAL_STATUSES)
            for job_id in finished[: max(0, len(finished) - self.FINISHED_KEPT)]:
                self._settled.add(job_id)
                del self._views[job_id]


_RUNNERS: dict[Path, JobRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def shared_runner(runs_dir: Path | str = runs.DEFAULT_RUNS_DIR) -> JobRunner:
    """The one runner of this process for `runs_dir`, shared by every session and page."""
    key = Path(runs_dir).resolve()
    with _RUNNERS_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = JobRunner(key)
        return _RUNNERS[key]


# --- Command line ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`python -m core.jobs list|stop|cancel|parallel`: the job queue from the command line.

    `supervise RUN_DIR` is what the runner itself launches for each job.
    """
    parser = argparse.ArgumentParser(prog="python -m core.jobs", description="Watch and control training jobs.")
    parser.add_argument("--runs-dir", type=Path, default=runs.DEFAULT_RUNS_DIR, help="the run store (default: runs/)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the queued and training jobs")
    stop_parser = commands.add_parser("stop", help="stop a job after its current batch (or cancel it if queued)")
    stop_parser.add_argument("job_id", nargs="?", help="a run id; without it, --all")
    stop_parser.add_argument("--all", action="store_true", help="stop every job and empty the queue")
    parallel_parser = commands.add_parser("parallel", help="show or set how many jobs train at once")
    parallel_parser.add_argument("count", nargs="?", type=int)
    supervise_parser = commands.add_parser("supervise", help=argparse.SUPPRESS)
    supervise_parser.add_argument("run_dir", type=Path)
    arguments = parser.parse_args(argv)

    if arguments.command == "supervise":
        return supervise(arguments.run_dir.resolve())
    runner = JobRunner(arguments.runs_dir)
    try:
        if arguments.command == "parallel":
            if arguments.count is not None:
                runner.max_parallel = arguments.count
            print(f"{runner.max_parallel} job(s) train at once in {arguments.runs_dir}.")
            return 0
        if arguments.command == "stop":
            if arguments.job_id is None and not arguments.all:
                parser.error("name a job to stop, or pass --all")
            if arguments.job_id is None:
                runner.stop_all()
                print("Asked every job to stop; the queue is empty.")
            elif runner.stop(arguments.job_id):
                print(f"Asked {arguments.job_id} to stop (or removed it from the queue).")
            else:
                print(f"{arguments.job_id} is not queued or training.")
            return 0
    except (ValueError, runs.RunStoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    jobs = runner.jobs()
    if not jobs:
        print(f"No job is queued or training in {arguments.runs_dir}.")
    for job in jobs:
        where = f"queued #{job.queue_position}" if job.queued else f"{job.status}, epoch {job.epoch + 1}/{job.epochs}"
        print(f"{job.job_id:<40} {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
