"""Helpers for tests that start worker processes: killing the inference worker mid-request, as a crash or the
out-of-memory killer would, and stopping every training job a test left in its store."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from core.inference import InferenceWorker
from core.jobs import JobRunner

# What a request says when its worker was killed while it waited: the message the pages show.
KILLED = "The model worker stopped unexpectedly: killed by signal 9 (SIGKILL). It restarts on the next request."


def wait_until_gone(pid: int, timeout: float = 30.0) -> None:
    """Waits until process `pid` has ended; fails after `timeout` seconds.

    A zombie counts as ended once its last thread is gone: TensorFlow's threads outlive the main one for a moment,
    and until they end the parent cannot collect the exit status yet.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            return
        if fields[0] in ("Z", "X") and int(fields[17]) <= 1:  # State, and the number of threads.
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still runs after {timeout} seconds")


@contextlib.contextmanager
def killed_during_next_request(worker: InferenceWorker) -> Iterator[None]:
    """SIGKILLs the worker while the next request inside the block waits for its answer.

    The worker is paused first (SIGSTOP), so no request can finish; a request is known to be in flight when the
    client's lock stays held, which only a request does for longer than an instant (`start` holds it briefly).
    """
    worker.start()
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    done = threading.Event()

    def kill_when_busy() -> None:
        held_since = None
        while not done.is_set():
            if not worker._lock.locked():  # Private, but the one sign of a request in flight.
                held_since = None
            elif held_since is None:
                held_since = time.monotonic()
            elif time.monotonic() - held_since > 0.3:
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    try:
        yield
    finally:
        done.set()
        killer.join()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # Never leave a paused worker behind, whatever the block did.


def stop_every_job(runs_dir: Path) -> None:
    """Empties the store's queue and stops its training jobs, waiting for each to end."""
    runner = JobRunner(runs_dir)
    runner.stop_all()
    for job in runner.jobs():
        runner.join(job.job_id, timeout=120)
