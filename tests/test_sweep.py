"""Tests for core.sweep, core.asha and the sweep drivers: definitions and their errors, the plan, early stopping,
and real sweeps whose trials train in worker processes, locally and on a real Ray head started by the test.

Tiny trials: a 4-8-channel strided autoencoder on 1,200 images (96 steps of 10 an epoch), 2 epochs; most of a
trial's time is its worker's TensorFlow start-up.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from core import jobs, runs, sweep
from core.asha import AsyncSuccessiveHalving
from core.jobs import JobRunner
from core.spec import ExperimentSpec, conv2d, conv2d_transpose
from core.sweep import SweepDefinition, SweepError, plan_trials
from tests.conftest import REPOSITORY_ROOT

TINY = ExperimentSpec(
    name="tiny",
    encoder=(conv2d(8, strides=2, padding="same"), conv2d(4, strides=2, padding="same")),  # 28 -> 14 -> 7
    decoder=(conv2d_transpose(8, strides=2, padding="same"), conv2d_transpose(8, strides=2, padding="same")),
    output=conv2d(1, activation="sigmoid", padding="same", kernel_initializer="glorot_uniform"),
).with_training(batch_size=10, epochs=2, learning_rate=0.003)  # 96 steps an epoch: time for a stop to land.
# Two good learning rates and two far too small: after one epoch the small ones have barely moved, so ASHA stops them.
# The good ones stay moderate: at 0.01 this tiny ReLU model died (every output 0.5, BCE ln 2) on the CI machine.
POOR_RATE = 1e-5
DESIGNED = {
    "name": "rates",
    "spec": TINY.to_dict(),
    "parameters": {"training.learning_rate": [0.003, POOR_RATE, 0.005, POOR_RATE]},
    "trials": 4,
    # 960 training images: with 480 (24 steps an epoch), a whole epoch passed under CI's load before the early stop
    # landed, and the poor trials completed.
    "limit": 1200,
    "early_stopping": {"grace_epochs": 1, "reduction_factor": 2},
}


def definition(**changes: object) -> SweepDefinition:
    return SweepDefinition.from_dict({**DESIGNED, **changes})


# --- Definitions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        DESIGNED,
        {
            "name": "mixed",
            "spec": "strided",
            "search": "random",
            "seed": 7,
            "trials": 5,
            "time_limit_seconds": 60,
            "parameters": {
                "preset": ["strided", "upsampling"],
                "training.learning_rate": {"log_uniform": [1e-4, 1e-2]},
                "encoder[0].filters": {"uniform": [8, 64]},
            },
        },  # fmt: skip
    ],
)
def test_a_definition_round_trips_through_json(data: dict) -> None:
    read = SweepDefinition.from_json(json.dumps(data))
    assert SweepDefinition.from_json(read.to_json()) == read
    assert json.loads(read.to_json())["parameters"] == data["parameters"]


def test_a_grid_plans_every_combination_in_order_up_to_the_budget() -> None:
    grid = definition(parameters={"training.learning_rate": [0.001, 0.003], "decoder[0].kernel_size": [3, 5]},
                      trials=3, early_stopping=None)  # fmt: skip
    planned = plan_trials(grid)
    assert [trial.parameters for trial in planned] == [
        {"training.learning_rate": 0.001, "decoder[0].kernel_size": 3},
        {"training.learning_rate": 0.001, "decoder[0].kernel_size": 5},
        {"training.learning_rate": 0.003, "decoder[0].kernel_size": 3},
    ]
    assert [trial.spec.name for trial in planned] == ["rates-1", "rates-2", "rates-3"]
    assert planned[1].spec.decoder[0].kernel_size == 5 and planned[1].spec.training.learning_rate == 0.001
    assert len(plan_trials(replace(grid, trials=100))) == 4  # A grid of 4 combinations plans 4 trials.


def test_a_random_search_is_the_same_for_a_seed_and_stays_in_its_ranges() -> None:
    search = SweepDefinition.from_dict({
        "name": "random", "spec": "strided", "search": "random", "seed": 3, "trials": 20,
        "parameters": {"training.learning_rate": {"log_uniform": [1e-4, 1e-2]},
                       "encoder[1].filters": {"uniform": [4, 32]}, "preset": ["strided", "upsampling"]},
    })  # fmt: skip
    first, again = plan_trials(search), plan_trials(search)
    assert [trial.parameters for trial in first] == [trial.parameters for trial in again]
    assert [trial.parameters for trial in plan_trials(replace(search, seed=4))] != [t.parameters for t in first]
    rates = [trial.parameters["training.learning_rate"] for trial in first]
    assert all(1e-4 <= rate <= 1e-2 for rate in rates) and min(rates) < 1e-3 < max(rates)  # Both decades drawn.
    assert all(isinstance(trial.spec.encoder[1].filters, int) and 4 <= trial.spec.encoder[1].filters <= 32
               for trial in first)  # fmt: skip
    assert {trial.spec.decoder[0].type for trial in first} == {"Conv2DTranspose", "UpSampling2D"}


# 3 learning rates x 2 filter counts: 6 combinations.
SIX = {"training.learning_rate": [0.001, 0.002, 0.003], "encoder[0].filters": [8, 16]}


def test_a_grid_cut_by_its_budget_says_which_combinations_it_leaves_out() -> None:
    grid = definition(spec="strided", parameters=SIX, trials=2, early_stopping=None)
    assert sweep.combination_count(grid) == 6
    assert [trial.parameters["training.learning_rate"] for trial in plan_trials(grid)] == [0.001, 0.001]
    note = sweep.plan_note(grid)
    assert note is not None
    assert note.startswith("The grid has 6 combinations; a budget of 2 trials runs the first 2 in order and leaves "
                           "out 4: (training.learning_rate=0.002, encoder[0].filters=8), ")  # fmt: skip
    assert note.endswith("Raise the budget to 6 to run them all.")
    assert "4 more" in sweep.plan_note(replace(grid, trials=2), shown=0)  # type: ignore[operator]
    assert sweep.plan_note(replace(grid, trials=6)) is None  # The whole grid.
    assert "only 6 combinations" in sweep.plan_note(replace(grid, trials=10))  # type: ignore[operator]


def test_a_random_search_over_lists_never_repeats_a_combination() -> None:
    search = definition(spec="strided", parameters=SIX, search="random", seed=0, trials=10, early_stopping=None)
    planned = [tuple(trial.parameters.values()) for trial in plan_trials(search)]
    assert len(planned) == 6 and len(set(planned)) == 6  # Each combination once: no more than there are.
    assert "only 6 distinct combinations" in sweep.plan_note(search)  # type: ignore[operator]
    for seed in range(20):
        fewer = [tuple(trial.parameters.values()) for trial in plan_trials(replace(search, seed=seed, trials=4))]
        assert len(set(fewer)) == 4, (seed, fewer)
    assert sweep.plan_note(replace(search, trials=4)) is None  # 4 distinct draws of 6 leave nothing unsaid.
    rates = sweep.Parameter("training.learning_rate", "log_uniform", low=1e-4, high=1e-2)
    ranged = replace(search, parameters=(rates, *search.parameters[1:]))
    assert sweep.combination_count(ranged) is None and len(plan_trials(ranged)) == 10


def test_a_trial_shows_the_settings_its_run_recorded(runs_dir: Path) -> None:
    # A random sweep planned before repeats were thrown away may have run other settings than today's plan says.
    search = definition(spec="strided", parameters=SIX, search="random", trials=2, early_stopping=None)
    sweep_id = sweep.create_sweep(search, runs_dir)
    planned = plan_trials(search)
    earlier = replace(planned[0], parameters={**planned[0].parameters, "training.learning_rate": 0.003})
    sweep.tag_trial_run(runs.create_run(planned[0].spec, runs_dir), sweep_id, earlier)
    rows = sweep.read_sweep(sweep_id, runs_dir).trials
    assert [row.parameters for row in rows] == [earlier.parameters, planned[1].parameters]


def test_a_preset_brings_its_architecture_and_keeps_the_sweeps_training() -> None:
    planned = plan_trials(definition(spec="strided", parameters={"preset": ["upsampling"]}, early_stopping=None))
    assert planned[0].spec.decoder == sweep.PRESETS["upsampling"].decoder
    assert planned[0].spec.training == sweep.PRESETS["strided"].training


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"parameters": {"decoder[1].stride": [1, 2]}},
         "Invalid parameter `decoder[1].stride`: decoder layer 2 of 'tiny' is a Conv2DTranspose, which has no "
         "argument `stride`. Expected one of: filters, kernel_size, strides, padding, output_padding, dilation_rate, "
         "activation, kernel_initializer."),
        ({"parameters": {"encoder[2].filters": [4]}},
         "Invalid parameter `encoder[2].filters`. The encoder of 'tiny' has 2 layers, numbered from 0 to 1. "
         "Received index 2."),
        ({"parameters": {"training.momentum": [0.9]}}, "Invalid parameter `training.momentum`: the training "
         "settings have no `momentum`."),
        ({"parameters": {"dropout": [0.1]}}, "Invalid parameter `dropout`. Expected `preset`, "),
        ({"parameters": {"training.learning_rate": []}},
         "Invalid values for parameter `training.learning_rate`. Expected at least one value. Received []."),
        ({"search": "random", "parameters": {"training.learning_rate": {"log_uniform": [0.01, 0.001]}}},
         "Invalid range for parameter `training.learning_rate`. Expected two numbers, low < high. "
         "Received [0.01, 0.001]."),
        ({"search": "random", "parameters": {"training.learning_rate": {"log_uniform": [0, 0.01]}}},
         "Expected low > 0 for a log-uniform range."),
        ({"parameters": {"training.learning_rate": {"uniform": [0.001, 0.01]}}},
         "Invalid parameter `training.learning_rate` for search='grid'. Expected a list of values"),
        ({"parameters": {}}, "Invalid value for `parameters`. Expected at least one parameter to vary"),
        ({"trials": 0}, "Invalid value for argument `trials`. Expected an integer from 1 to 1000, the sweep's budget "
         "of runs. Received trials=0."),
        ({"time_limit_seconds": 0}, "Invalid value for argument `time_limit_seconds`. Expected null or a positive "
         "number of seconds. Received time_limit_seconds=0."),
        ({"parameters": {"preset": ["strided", "wavelet"]}}, "Invalid value for parameter `preset`. Expected preset "
         "names"),
        ({"parameters": {"decoder[1].strides": [1, 2]}}, "Trial 1 of the sweep (decoder[1].strides=1) is not a valid "
         "model: Invalid architecture: the output is 14x14x1"),
        ({"parameters": {"training.learning_rate": [2.0]}}, "Invalid value 2.0 for parameter "
         "`training.learning_rate` in trial 1: Invalid value for argument `learning_rate` of training settings."),
        ({"spec": "vae"}, "Invalid value for argument `spec`. Expected a preset name"),
        ({"budget": 4}, "Unrecognized setting `budget` in the sweep definition."),
        ({"early_stopping": {"grace_epochs": 0}}, "Invalid value for argument `grace_epochs` of `early_stopping`."),
    ],
)  # fmt: skip
def test_a_bad_definition_gets_a_clear_error(changes: dict, message: str) -> None:
    with pytest.raises(SweepError) as raised:
        definition(**changes)
    assert str(raised.value).startswith(message) or message in str(raised.value), str(raised.value)


def test_the_cli_refuses_a_bad_definition_in_one_line(tmp_path: Path, runs_dir: Path) -> None:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({**DESIGNED, "trials": 0}))
    result = subprocess.run([sys.executable, "-m", "core.sweep", "--runs-dir",
                             str(runs_dir), "start", str(path)], capture_output=True, text=True, cwd=REPOSITORY_ROOT,
                            timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {path}: Invalid value for argument `trials`. Expected an integer from "
                                     "1 to 1000, the sweep's budget of runs. Received trials=0.")  # fmt: skip
    assert not (runs_dir / sweep.SWEEPS_DIR).exists()


def test_asking_for_ray_without_ray_says_how_to_install_it(
    tmp_path: Path, runs_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sweep, "ray_available", lambda: False)
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(DESIGNED))
    assert sweep.main(["--runs-dir", str(runs_dir), "start", str(path), "--ray-address", "127.0.0.1:6379"]) == 2
    error = capsys.readouterr().err
    assert "Ray is not installed" in error and "pip install -r requirements-ray.txt" in error
    sweep_id = sweep.create_sweep(definition(), runs_dir)
    with pytest.raises(SweepError, match="requirements-ray.txt"):
        sweep.start_sweep(sweep_id, runs_dir, ray_address="auto")
    assert sweep.read_sweep(sweep_id, runs_dir).status == "created"  # Nothing started.


# --- Early stopping ----------------------------------------------------------------------------------------


def test_asha_has_rungs_below_the_last_epoch() -> None:
    assert AsyncSuccessiveHalving(max_epochs=25, grace_epochs=1, reduction_factor=3).rungs == [1, 3, 9]
    assert AsyncSuccessiveHalving(max_epochs=2).rungs == [1]
    assert AsyncSuccessiveHalving(max_epochs=1).rungs == []


def test_asha_keeps_the_best_fraction_at_each_rung() -> None:
    scheduler = AsyncSuccessiveHalving(max_epochs=10, grace_epochs=1, reduction_factor=2)
    assert scheduler.on_result("a", 1, 0.30)  # The first at a rung always goes on.
    assert not scheduler.on_result("b", 1, 0.50)  # Worse than the median of [0.30].
    assert scheduler.on_result("c", 1, 0.20)
    assert scheduler.on_result("c", 1, 0.90)  # Judged once per rung.
    assert not scheduler.on_result("d", 1, float("nan"))
    assert scheduler.on_result("a", 2, 0.25)  # The next rung: first again.


def test_asha_decides_as_ray_tunes_asha_does() -> None:
    """Our scheduler against Ray Tune's own bracket, on random results of 30 trials arriving out of step."""
    pytest.importorskip("ray.tune")
    from ray.tune.schedulers.async_hyperband import _Bracket

    class Trial:
        def __init__(self, trial_id: str) -> None:
            self.trial_id = trial_id

    generator = random.Random(0)
    ours = AsyncSuccessiveHalving(max_epochs=20, grace_epochs=1, reduction_factor=3)
    theirs = _Bracket(min_t=1, max_t=20, reduction_factor=3, s=0)
    alive = {f"t{number}": 0 for number in range(30)}
    decisions = []
    while alive:
        trial = generator.choice(sorted(alive))
        alive[trial] += 1
        loss = generator.random()
        keep = ours.on_result(trial, alive[trial], loss)
        assert keep == (theirs.on_result(Trial(trial), alive[trial], -loss) == "CONTINUE"), (trial, alive[trial])
        decisions.append(keep)
        if not keep or alive[trial] >= 19:
            del alive[trial]
    assert decisions.count(False) >= 10  # The comparison covered many stops.


# --- Real sweeps -------------------------------------------------------------------------------------------


@pytest.fixture
def cleanup(runs_dir: Path) -> Iterator[None]:
    """Stops every sweep and job the test left in its store, and waits for them."""
    yield
    for info in sweep.list_sweeps(runs_dir):
        if info.active:
            sweep.stop_sweep(info.sweep_id, runs_dir)
            sweep.wait_for_sweep(info.sweep_id, runs_dir, timeout=120)
    runner = JobRunner(runs_dir)
    runner.stop_all()
    for path in runs_dir.iterdir():
        if runs.RUN_ID.match(path.name):
            runner.join(path.name, timeout=120)


def check_designed_sweep(info: sweep.SweepInfo, runs_dir: Path) -> list[runs.RunInfo]:
    """The designed sweep's outcome, wherever it ran: 4 tagged runs with the sweep's fields, poor ones stopped early."""
    assert info.status == "completed", info.message
    tagged = [run for run in runs.list_runs(runs_dir, include_pretrained=False) if f"sweep:{info.sweep_id}" in run.tags]
    assert len(tagged) == 4
    by_trial = {run.summary["sweep"]["trial"]: run for run in tagged}
    assert sorted(by_trial) == [1, 2, 3, 4]
    for number, run in by_trial.items():
        rate = DESIGNED["parameters"]["training.learning_rate"][number - 1]
        assert run.summary["sweep"] == {"id": info.sweep_id, "trial": number,
                                        "parameters": {"training.learning_rate": rate}}  # fmt: skip
        assert run.spec is not None and run.spec.training.learning_rate == rate and run.spec.name == f"rates-{number}"
        assert run.status in ("completed", "stopped") and run.test_loss is not None and run.has_model
        assert run.summary["train_images"] == 960 and (run.path / "events.jsonl").stat().st_size > 0
    rows = {row.number: row for row in info.trials}
    stopped_early = {number for number, row in rows.items() if row.status == "early stopped"}
    assert stopped_early and stopped_early <= {2, 4}, rows  # Only poor trials, and at least one of them.
    for number in stopped_early:
        assert rows[number].early_stopped_at == 1 and by_trial[number].summary["epochs_completed"] == 1
        assert by_trial[number].status == "stopped" and by_trial[number].summary["steps"] < 192  # Within epoch 2.
    assert rows[1].status == "completed" and rows[1].epochs_completed == 2
    assert info.best() is not None and info.best().number in (1, 3)  # type: ignore[union-attr]
    return tagged


@pytest.mark.slow
def test_a_local_sweep_of_four_tiny_trials_completes_and_stops_poor_ones(
    runs_dir: Path, verified_mnist: object, cleanup: None
) -> None:
    sweep_id = sweep.create_sweep(definition(), runs_dir)
    sweep.start_sweep(sweep_id, runs_dir)
    info = sweep.wait_for_sweep(sweep_id, runs_dir, timeout=400)
    tagged = check_designed_sweep(info, runs_dir)
    assert info.executor == "local"
    # One at a time (the queue's default): each trial started after the one before it ended.
    ordered = sorted(tagged, key=lambda run: run.summary["sweep"]["trial"])
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        assert earlier.summary["ended_at"] <= later.summary["created_at"]


@pytest.mark.slow
def test_stopping_a_sweep_stops_its_trials_and_resuming_finishes_the_budget(
    runs_dir: Path, verified_mnist: object, cleanup: None
) -> None:
    # The second trial trains 10 epochs, so it is surely training when the sweep is stopped.
    slow = definition(parameters={"training.epochs": [1, 10, 1]}, trials=3, early_stopping=None)
    sweep_id = sweep.create_sweep(slow, runs_dir)
    sweep.start_sweep(sweep_id, runs_dir)
    deadline = time.monotonic() + 240
    while True:
        rows = sweep.read_sweep(sweep_id, runs_dir).trials
        if rows[1].run_id and (runs_dir / rows[1].run_id / "history.jsonl").stat().st_size > 0:
            break  # The second trial has trained an epoch.
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)
    first_run = rows[0].run_id
    stopped = sweep.stop_sweep(sweep_id, runs_dir)
    assert stopped.status in ("stopping", "stopped")
    info = sweep.wait_for_sweep(sweep_id, runs_dir, timeout=120)
    assert info.status == "stopped", info.message
    assert [row.status for row in info.trials] == ["completed", "stopped", "pending"]
    assert 1 <= info.trials[1].epochs_completed < 10
    assert runs.load_run(info.trials[1].run_id, runs_dir).status == "stopped"  # type: ignore[arg-type]

    sweep.start_sweep(sweep_id, runs_dir)  # Resume.
    info = sweep.wait_for_sweep(sweep_id, runs_dir, timeout=400)
    assert info.status == "completed", info.message
    assert [row.status for row in info.trials] == ["completed", "completed", "completed"]
    assert info.trials[0].run_id == first_run  # The completed trial was not run again.
    assert info.trials[1].run_id != rows[1].run_id and info.trials[1].epochs_completed == 10
    tagged = [run for run in runs.list_runs(runs_dir, include_pretrained=False) if f"sweep:{sweep_id}" in run.tags]
    assert len(tagged) == 4  # 3 trials, and the stopped run of the second, kept.


# --- On Ray ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_head() -> Iterator[str]:
    """A real Ray head on 127.0.0.1 with 2 CPUs, in a process group of its own that the test ends."""
    pytest.importorskip("ray.tune")
    port = free_port()
    temporary = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short.
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--port", str(port), "--node-ip-address",
               "127.0.0.1", "--include-dashboard=false", "--num-cpus", "2", "--temp-dir", temporary,
               "--block"]  # fmt: skip
    log = open(Path(temporary) / "head.log", "wb")  # noqa: SIM115 - closed in the teardown below.
    head = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in (Path(temporary) / "head.log").read_text(errors="replace"):
            assert head.poll() is None and time.monotonic() < deadline, (Path(temporary) / "head.log").read_text()
            time.sleep(0.5)
        yield address
    finally:
        group = os.getpgid(head.pid)
        os.killpg(group, signal.SIGTERM)  # The head and every process it started: GCS, raylet, workers.
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            head.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(group, signal.SIGKILL)
        log.close()
        shutil.rmtree(temporary, ignore_errors=True)


@pytest.mark.slow
def test_the_same_sweep_on_a_local_ray_head(runs_dir: Path, ray_head: str, cleanup: None) -> None:
    started = time.monotonic()
    sweep_id = sweep.create_sweep(definition(), runs_dir)
    sweep.start_sweep(sweep_id, runs_dir, ray_address=ray_head, parallel=2)
    info = sweep.wait_for_sweep(sweep_id, runs_dir, timeout=300)
    assert info.executor == "ray"
    tagged = check_designed_sweep(info, runs_dir)
    # Ray's worker processes trained them, and the runs' events reached the store as a local job's do.
    for run in tagged:
        kinds = [event["kind"] for event in sweep_events(run)]
        assert kinds[0] == "start" and kinds[-1] == "end" and "epoch" in kinds
        assert run.summary["worker"]["pid"] != os.getpid()
    assert time.monotonic() - started < 300


def sweep_events(run: runs.RunInfo) -> list[dict]:
    from core.events import read_events

    return read_events(run.path)


@pytest.mark.parametrize(("executor", "starts"), [("ray", True), (None, False)])
def test_a_ray_trial_takes_no_place_in_the_local_queue(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch, executor: str | None, starts: bool
) -> None:
    launched: list[str] = []
    monkeypatch.setattr(jobs, "_launch", lambda path: launched.append(path.name))
    # A run training in this (live) process: a Ray trial, or a local job.
    runs.create_run(TINY, runs_dir, status="running", summary={"executor": executor} if executor else {})
    queued = jobs.submit(TINY, 600, runs_dir, start=False)
    assert jobs.schedule(runs_dir) == ([queued.name] if starts else [])
    assert launched == ([queued.name] if starts else [])
