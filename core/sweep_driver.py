"""A sweep's driver: the process `core.sweep.start_sweep` launches, which runs the sweep's trials to its end.

`python -m core.sweep_driver [--runs-dir DIR] SWEEP_ID` hands the trials not yet done to `core.sweep_local` (the
store's job queue) or `core.sweep_ray` (a Ray cluster), as the sweep's state says, and records how the sweep ended.
It lives apart from `core.sweep` so that the imports stay one-way: both drivers import `core.sweep`, and this module
imports all three.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from core import runs
from core.sweep import read_definition, read_state, stop_trials, sweep_path, update_state
from core.sweep_local import drive_local
from core.sweep_ray import drive_ray


def drive(sweep_id: str, runs_dir: Path | str) -> int:
    """Runs a sweep to its end in this process: the trials not yet done, locally or on Ray.

    Returns:
        The exit status: 1 if the sweep failed, else 0 (completed or stopped).
    """
    path = sweep_path(sweep_id, runs_dir)
    update_state(path, driver=runs.process_identity(os.getpid()))
    state = read_state(path)
    started = time.monotonic()
    try:
        definition = read_definition(path)
        drive_trials = drive_ray if state.get("executor") == "ray" else drive_local
        status, message = drive_trials(path, definition, Path(runs_dir), state)
    except Exception as error:  # Anything: the sweep ends "failed" with the reason, and its trials are stopped.
        status, message = "failed", f"The sweep failed: {type(error).__name__}: {error}"
        stop_trials(sweep_id, runs_dir)
    elapsed = float(state.get("elapsed_seconds") or 0.0) + time.monotonic() - started
    update_state(path, status=status, message=message, ended_at=runs.timestamp(), elapsed_seconds=elapsed)
    return 0 if status != "failed" else 1


def main(argv: list[str] | None = None) -> int:
    """`python -m core.sweep_driver [--runs-dir DIR] SWEEP_ID`: what `start_sweep` runs, not a user's command."""
    parser = argparse.ArgumentParser(prog="python -m core.sweep_driver", description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=runs.DEFAULT_RUNS_DIR, help="the run store (default: runs/)")
    parser.add_argument("sweep_id")
    arguments = parser.parse_args(argv)
    return drive(arguments.sweep_id, arguments.runs_dir)


if __name__ == "__main__":
    sys.exit(main())
