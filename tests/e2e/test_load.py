"""Eight browser sessions browse Reconstructions and draw while the default job trains: no error anywhere.

The sessions are `bench.load`'s (which also times them, for BENCHMARKS.md); here every action must complete,
no page may show an exception, the job must still be training when they are done, and the server must stay up
with a log free of fatal errors. Bounded: 8 sessions of 3 actions each, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.load import run_sessions, train_meanwhile
from tests.e2e.conftest import CHROMIUM_FLAGS, Served
from tests.workers import stop_every_job

SESSIONS, ACTIONS = 8, 3


@pytest.mark.slow
def test_eight_sessions_browse_and_draw_while_the_default_job_trains(served: Served, chromium_path: str) -> None:
    stop_every_job(served.runs_dir)  # Earlier tests' jobs: this one must train, not wait in the queue.
    runner, job_id = train_meanwhile(served.runs_dir)
    try:
        # On a thread of its own: the session's synchronous Playwright runs an event loop on this one.
        with ThreadPoolExecutor(max_workers=1) as thread:
            sessions = run_sessions(served.url, SESSIONS, ACTIONS, chromium_path, CHROMIUM_FLAGS)
            times = thread.submit(asyncio.run, sessions).result()
        assert runner.snapshot(job_id).active, "the job stopped while the sessions worked"
    finally:
        stop_every_job(served.runs_dir)
    assert [len(session) for session in times] == [ACTIONS] * SESSIONS
    assert served.process.poll() is None, "the server died"
    log = served.log()
    assert "Fatal Python error" not in log and "Traceback" not in log, log[-3000:]
