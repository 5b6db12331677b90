"""A sweep's driver on a Ray cluster: each trial is a Ray Tune trial, and Ray's own `ASHAScheduler` stops poor ones.

Only an address changes (`--ray-address` or `RAY_ADDRESS`): the trials are the same plan as a local sweep's
(`core.sweep.plan_trials`), handed to Tune as a grid over trial numbers, so a resumed sweep hands over only the
trials not yet done. Each Tune trial takes one CPU, or one GPU where the cluster has GPUs, and runs the project's
own training procedure (`core.training.train_run`) on a run it creates in the store, tagged with the sweep: its
events, history, model and summary are written where a local trial's are, so the dashboard and the CLI watch it
the same way. The store must therefore be one path that every node of the cluster reaches (one machine, or a
shared file system). After each epoch the trial reports its losses to Tune; when ASHA rejects a trial, the
decision travels as the job runner's stop (the run's `stop` file), so the run ends "stopped" after its current
batch with its model, history and test loss, as a local trial does, instead of its process being killed.

A stop of the sweep (its `stop` file) and its time limit are checked by every trial after every batch, and by a
trial before it starts. Importing this module does not import Ray; `drive_ray` does, in the sweep's driver
process, and the trials import Keras in Ray's worker processes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from core import runs
from core.backends import default_backend
from core.jobs import STOP_FILE as RUN_STOP_FILE
from core.jobs import request_stop, run_settings
from core.sweep import (
    STOP_FILE,
    SweepDefinition,
    metric_of,
    pending_trials,
    plan_trials,
    read_definition,
    record_trial,
    tag_trial_run,
    update_state,
)
from core.text import plural

# Passed on to the trials' processes, which Ray starts with the environment of its own node.
PASSED_ON = ("KERAS_HOME", "MNIST_PATH", "STUDIO_DATA_DIR", "TF_CPP_MIN_LOG_LEVEL")


def drive_ray(path: Path, definition: SweepDefinition, runs_dir: Path, state: dict[str, Any]) -> tuple[str, str]:
    """Runs the sweep's pending trials as Ray Tune trials on the cluster at the state's `ray_address`.

    Returns:
        The sweep's final status and message.
    """
    import ray
    from ray import tune

    pending = pending_trials(path, definition, runs_dir)
    total = len(plan_trials(definition, checked=False))
    if not pending:
        return "completed", f"Completed: all {total} trials done."
    limit = definition.time_limit_seconds
    remaining = None if limit is None else limit - float(state.get("elapsed_seconds") or 0.0)
    deadline = None if remaining is None else time.time() + remaining
    environment = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(runs.PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    environment["KERAS_BACKEND"] = default_backend()  # Keras reads it once, when a trial's process imports it.
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    address = state.get("ray_address")
    ray.init(address=address, runtime_env={"env_vars": environment}, logging_level="ERROR", log_to_driver=False)
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        resources = {"cpu": 1, "gpu": 1} if gpus else {"cpu": 1}
        update_state(path, message=f"Running {plural(len(pending), 'trial')} on Ray at {address}, one "
                                   f"{'GPU' if gpus else 'CPU'} each.")  # fmt: skip
        tuner = tune.Tuner(
            tune.with_resources(run_trial, resources),
            param_space={
                "trial": tune.grid_search([trial.index for trial in pending]),
                "sweep_dir": str(path),
                "runs_dir": str(runs_dir),
                "deadline": deadline,
            },  # fmt: skip
            tune_config=tune.TuneConfig(
                scheduler=_scheduler(definition, path, runs_dir),
                max_concurrent_trials=state.get("parallel") or None,
                reuse_actors=False,
            ),  # fmt: skip
            run_config=tune.RunConfig(name=path.name, storage_path=str((path / "ray").resolve()), verbose=0),
        )
        results = tuner.fit()
    finally:
        ray.shutdown()
    if (path / STOP_FILE).exists():
        return "stopped", "Stopped; resume it to run the trials not yet done."
    left = pending_trials(path, definition, runs_dir)
    if deadline is not None and time.time() >= deadline and left:
        return "stopped", f"The time limit of {limit:g} s was reached; resume it to run the rest."
    if results.errors or left:
        errors = "; ".join(str(error).strip().splitlines()[-1] for error in results.errors[:2])
        return "failed", f"{len(left)} of {total} trials did not finish on Ray." + (f" {errors}" if errors else "")
    return "completed", f"Completed: all {total} trials done on Ray."


def _scheduler(definition: SweepDefinition, path: Path, runs_dir: Path) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

    stopping = definition.early_stopping
    if stopping is None:
        return FIFOScheduler()

    class SweepASHA(ASHAScheduler):
        """Ray's ASHA, whose decision to stop a trial is delivered as the job runner's stop of its run."""

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            decision = super().on_trial_result(tune_controller, trial, result)
            # ASHA also says STOP to a trial that has reached `max_t`, its last epoch: that trial is complete.
            early = result.get("epoch", 0) < self._max_t
            if decision == TrialScheduler.STOP and early and result.get("run_id"):
                record_trial(path, int(trial.config["trial"]), early_stopped_at=int(result["epoch"]))
                request_stop(runs_dir / result["run_id"])
            return TrialScheduler.CONTINUE  # The trial ends itself within a batch, keeping its run whole.

    return SweepASHA(time_attr="epoch", metric="objective", mode="min", max_t=definition.base_spec().training.epochs,
                     grace_period=stopping.grace_epochs, reduction_factor=stopping.reduction_factor)  # fmt: skip


class _EpochReporter:
    """Asked after every batch whether to stop; reports each new epoch of the run's history to Tune on the way."""

    def __init__(self, run_path: Path, sweep_dir: Path, deadline: float | None) -> None:
        self.run_path, self.sweep_dir, self.deadline = run_path, sweep_dir, deadline
        self.reported = 0
        self.history_size = 0
        self.tune_ended = False

    def report_new_epochs(self) -> None:
        from ray import tune

        size = (self.run_path / "history.jsonl").stat().st_size
        if size == self.history_size or self.tune_ended:
            return
        self.history_size = size
        records = runs.load_history(runs.read_run(self.run_path))
        for record in records[self.reported :]:
            metrics = {"epoch": int(record["epoch"]), "objective": metric_of(record), "loss": record.get("loss"),
                       "val_loss": record.get("val_loss"), "run_id": self.run_path.name}  # fmt: skip
            try:
                tune.report(metrics)
            except BaseException:  # Tune ends a trial it no longer wants with SystemExit in its report.
                self.tune_ended = True
                return
            self.reported += 1

    def stop_requested(self) -> bool:
        self.report_new_epochs()
        return (
            self.tune_ended
            or (self.run_path / RUN_STOP_FILE).exists()
            or (self.sweep_dir / STOP_FILE).exists()
            or (self.deadline is not None and time.time() >= self.deadline)
        )


def run_trial(config: dict[str, Any]) -> None:
    """The Tune function trainable: one trial of the sweep, as a run of the store trained in this process."""
    sweep_dir, runs_dir, deadline = Path(config["sweep_dir"]), Path(config["runs_dir"]), config.get("deadline")
    if (sweep_dir / STOP_FILE).exists() or (deadline is not None and time.time() >= deadline):
        return  # The sweep ended before this trial's turn: no run is made, and a resume runs it.
    definition = read_definition(sweep_dir)
    trial = plan_trials(definition, checked=False)[int(config["trial"])]
    settings = run_settings(trial.spec, definition.limit, os.environ.get("KERAS_BACKEND") or None)
    run_path = runs.create_run(trial.spec, runs_dir, settings=settings, status="running",
                               summary={"message": "Starting on Ray.", "executor": "ray"})  # fmt: skip
    tag_trial_run(run_path, sweep_dir.name, trial)
    record_trial(sweep_dir, trial.index, run_id=run_path.name, early_stopped_at=None)
    from core.training import train_run  # Keras, in this Ray worker process only.

    reporter = _EpochReporter(run_path, sweep_dir, deadline)
    train_run(run_path, reporter.stop_requested)
    reporter.report_new_epochs()
