"""A sweep's driver on this machine: its trials go through the store's job queue, and ASHA stops the poor ones.

The driver keeps as many of its trials queued or training as the queue lets train at once (`core.jobs.max_parallel`),
so other jobs of the store are not pushed aside by a whole sweep at once. It reads each trial's epoch events, as
any watcher of a job does, feeds them to `core.asha.AsyncSuccessiveHalving`, and stops a trial it rejects with the
job runner's own stop: the run ends "stopped" after its current batch, with its model, history and test loss.
It imports no Keras: the trials train in the job runner's worker processes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core import runs
from core.asha import AsyncSuccessiveHalving
from core.events import EventReader
from core.jobs import JobRunner, max_parallel, schedule, submit
from core.sweep import (
    STOP_FILE,
    SweepDefinition,
    Trial,
    metric_of,
    pending_trials,
    plan_trials,
    record_trial,
    sweep_runs,
    tag_trial_run,
    update_state,
)
from core.text import plural

POLL_SECONDS = 0.25


def make_scheduler(definition: SweepDefinition) -> AsyncSuccessiveHalving | None:
    """The sweep's early stopping, or None when it has none."""
    stopping = definition.early_stopping
    if stopping is None:
        return None
    epochs = definition.base_spec().training.epochs
    return AsyncSuccessiveHalving(epochs, stopping.grace_epochs, stopping.reduction_factor)


def replay_done_trials(scheduler: AsyncSuccessiveHalving, path: Path, runs_dir: Path) -> None:
    """Feeds the epochs of the trials a resumed sweep has already done to the scheduler, so new trials are
    compared with them too."""
    for index, run in sweep_runs(path.name, runs_dir).items():
        for record in runs.load_history(run):
            if isinstance(record.get("epoch"), int):
                scheduler.on_result(str(index), record["epoch"], metric_of(record))


class _ActiveTrial:
    def __init__(self, trial: Trial, run_path: Path) -> None:
        self.trial = trial
        self.path = run_path
        self.reader = EventReader(run_path)
        self.early_stopped = False


def drive_local(path: Path, definition: SweepDefinition, runs_dir: Path, state: dict[str, Any]) -> tuple[str, str]:
    """Runs the sweep's pending trials through the local job queue until they are done, the sweep is stopped, or
    its time limit is reached.

    Returns:
        The sweep's final status and message.
    """
    runner = JobRunner(runs_dir)
    scheduler = make_scheduler(definition)
    if scheduler is not None:
        replay_done_trials(scheduler, path, runs_dir)
    pending = pending_trials(path, definition, runs_dir)
    # A trial still queued or training from before (its driver was killed, say) is followed, not run again.
    latest = sweep_runs(path.name, runs_dir)
    active = {trial.index: _ActiveTrial(trial, latest[trial.index].path) for trial in pending
              if trial.index in latest and latest[trial.index].status in ("queued", "running")}  # fmt: skip
    pending = [trial for trial in pending if trial.index not in active]
    limit = definition.time_limit_seconds
    remaining = None if limit is None else limit - float(state.get("elapsed_seconds") or 0.0)
    deadline = None if remaining is None else time.monotonic() + remaining
    update_state(path, message=f"Running {plural(len(pending), 'trial')} in the local job queue.")
    while True:
        stop_asked = (path / STOP_FILE).exists()
        out_of_time = deadline is not None and time.monotonic() >= deadline
        if stop_asked or out_of_time:
            for trial in active.values():
                runner.stop(trial.path.name)
            for trial in active.values():
                runner.join(trial.path.name, timeout=300)
            if stop_asked:
                return "stopped", "Stopped; resume it to run the trials not yet done."
            return "stopped", f"The time limit of {limit:g} s was reached; resume it to run the rest."
        for index, trial in list(active.items()):
            if _follow_trial(trial, scheduler, runner, path):
                del active[index]
        while pending and len(active) < max_parallel(runs_dir):
            trial = pending.pop(0)
            active[trial.index] = _submit_trial(trial, definition, path, runs_dir)
        if not pending and not active:
            return "completed", f"Completed: all {len(plan_trials(definition, checked=False))} trials done."
        time.sleep(POLL_SECONDS)


def _submit_trial(trial: Trial, definition: SweepDefinition, path: Path, runs_dir: Path) -> _ActiveTrial:
    """Queues the trial as a job, tagged with the sweep before any worker can take it, then lets the queue move."""
    run_path = submit(trial.spec, definition.limit, runs_dir, start=False)
    tag_trial_run(run_path, path.name, trial)
    record_trial(path, trial.index, run_id=run_path.name, early_stopped_at=None)
    schedule(runs_dir)
    return _ActiveTrial(trial, run_path)


def _follow_trial(trial: _ActiveTrial, scheduler: AsyncSuccessiveHalving | None, runner: JobRunner,
                  path: Path) -> bool:  # fmt: skip
    """Reads the trial's new events and stops it if the scheduler says so; returns True once it has ended."""
    ended = False
    for event in trial.reader.read():
        if event["kind"] == "epoch" and scheduler is not None and not trial.early_stopped:
            if not scheduler.on_result(str(trial.trial.index), int(event["epoch"]), metric_of(event)):
                trial.early_stopped = True
                record_trial(path, trial.trial.index, early_stopped_at=int(event["epoch"]))
                runner.stop(trial.path.name)
        elif event["kind"] == "end":
            ended = True
    if not ended:  # A job cancelled from the queue, or whose processes died, writes no end event.
        status = runner.snapshot(trial.path.name).status
        ended = status in ("cancelled", "interrupted")
    return ended
