"""Sweeps: many runs of one experiment with some of its settings varied, by grid or random search.

A sweep's definition is plain JSON, next to the spec it varies:

    {"name": "learning-rates", "spec": "strided",
     "parameters": {"training.learning_rate": {"log_uniform": [1e-4, 1e-2]},
                    "preset": ["strided", "upsampling"], "decoder[1].kernel_size": [3, 5]},
     "search": "random", "seed": 0, "trials": 8, "time_limit_seconds": 600, "limit": 6000,
     "early_stopping": {"grace_epochs": 1, "reduction_factor": 2}}

`spec` is a preset's name or a whole spec object. A parameter is a path into the spec (`encoder[0].filters`,
`decoder[1].strides`, `output.kernel_size`, `training.learning_rate`, `training.noise.amount`) or `preset`, whose
values are preset names: a preset brings its architecture, and the training settings stay the sweep's. A list is
a choice; `{"uniform": [low, high]}` and `{"log_uniform": [low, high]}` are ranges (integers stay integers). A
grid tries the combinations of choices in order, as many as the budget (`trials`) allows; a random search draws
each trial with the sweep's seed, and over lists alone never draws a combination twice. Either way the plan is
the same every time it is made, so a resumed sweep knows which trials it has done, and `plan_note` says what a
budget leaves out.

Each trial is a normal run of the store, tagged `sweep:<id>` with `sweep` in its summary (the sweep's id, the
trial's number and its settings). The sweep itself lives beside the runs, in `runs/.sweeps/<id>/`:

    definition.json   the definition, as written
    state.json        the status, where it runs, and each trial's run id and outcome
    stop              present when a stop was requested: the driver stops the sweep's trials and ends

A sweep is driven by its own process, `python -m core.sweep_driver ID` (like a job's supervisor, it outlives the
dashboard): locally it feeds the trials one by one into the store's job queue, where as many train at once as
the queue allows (`core.jobs.max_parallel`), and stops poor trials with asynchronous successive halving
(`core.asha`); on Ray (`--ray-address` or `RAY_ADDRESS`) each trial is a Ray Tune trial and Ray's own
`ASHAScheduler` decides (`core.sweep_ray`). This module imports neither Keras nor Ray.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import runs
from core.jobs import ACTIVE_STATUSES, JobRunner, max_parallel, set_max_parallel
from core.presets import PRESETS
from core.spec import LAYER_ARGUMENTS, ExperimentSpec, SpecError
from core.text import plural
from core.validation import validate

SWEEPS_DIR = ".sweeps"  # Inside the run store; a leading dot is never a run id, so no run listing sees it.
DEFINITION_FILE = "definition.json"
STATE_FILE = "state.json"
STOP_FILE = "stop"
DRIVER_LOG = "driver.log"
MAX_TRIALS = 1000
SEARCHES = ("grid", "random")
DISTRIBUTIONS = ("choice", "uniform", "log_uniform")
EXECUTORS = ("local", "ray")
RAY_INSTALL = "pip install -r requirements-ray.txt"
SWEEP_ID = re.compile(r"^[0-9]{8}-[0-9]{6}(-[0-9]{1,2})?\Z")  # Short enough for a tag: "sweep:" + 18 characters.
FINAL_STATUSES = ("completed", "stopped", "failed")
# Trial outcomes that a resumed sweep does not run again: an early stop and a NaN are the trial's result.
DONE_OUTCOMES = ("completed", "early_stopped", "failed")

_LAYER_PATH = re.compile(r"^(encoder|decoder)\[(\d+)\]\.([a-z_]+)\Z")
_OUTPUT_PATH = re.compile(r"^output\.([a-z_]+)\Z")
_TRAINING_PATH = re.compile(r"^training\.(noise\.)?([a-z_]+)\Z")


class SweepError(ValueError):
    """An invalid sweep definition, or a sweep that cannot be started, stopped or found."""


# --- The definition ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One setting a sweep varies: a path into the spec and the values it takes.

    Attributes:
        path: "preset", "encoder[0].filters", "decoder[1].strides", "output.kernel_size", "training.learning_rate",
            "training.noise.amount", ...
        distribution: "choice" (one of `values`), "uniform" or "log_uniform" (between `low` and `high`).
    """

    path: str
    distribution: str = "choice"
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None

    def to_json(self) -> Any:
        """The parameter's value in a definition's `parameters`: a list, or {"uniform": [low, high]}."""
        if self.distribution == "choice":
            return list(self.values)
        return {self.distribution: [self.low, self.high]}

    @classmethod
    def from_json(cls, path: str, data: Any) -> Parameter:
        """Reads one entry of a definition's `parameters` (see `to_json`); `check_parameter` checks it."""
        if isinstance(data, list):
            return cls(path, "choice", tuple(data))
        if isinstance(data, dict) and len(data) == 1:
            (distribution, bounds), = data.items()  # fmt: skip
            if distribution in ("uniform", "log_uniform") and isinstance(bounds, list) and len(bounds) == 2:
                return cls(path, distribution, low=bounds[0], high=bounds[1])
        raise SweepError(
            f'Invalid value for parameter `{path}`. Expected a list of values, {{"uniform": [low, high]}} or '
            f'{{"log_uniform": [low, high]}}. Received {_preview(data)}.'
        )

    def draw(self, generator: random.Random, integer: bool) -> Any:
        """One value, drawn with `generator`; a range of an integer setting gives integers."""
        if self.distribution == "choice":
            return generator.choice(self.values)
        assert self.low is not None and self.high is not None
        if self.distribution == "log_uniform":
            value = math.exp(generator.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = generator.uniform(self.low, self.high)
        return round(value) if integer else float(f"{value:.6g}")  # 6 digits: a readable table, the same run.


@dataclass(frozen=True)
class EarlyStopping:
    """Asynchronous successive halving (ASHA): at epochs `grace_epochs`, `grace_epochs * reduction_factor`, ...
    a trial goes on only if its validation loss is in the best `1 / reduction_factor` of the trials measured at
    that epoch so far."""

    grace_epochs: int = 1
    reduction_factor: int = 2

    def to_dict(self) -> dict[str, int]:
        return {"grace_epochs": self.grace_epochs, "reduction_factor": self.reduction_factor}


@dataclass(frozen=True)
class SweepDefinition:
    """A sweep: the spec it starts from, the parameters it varies, how it searches, and its budget."""

    name: str
    spec: str | ExperimentSpec  # A preset's name, or a whole spec.
    parameters: tuple[Parameter, ...]
    search: str = "grid"
    seed: int = 0
    trials: int = 8
    time_limit_seconds: float | None = None
    limit: int | None = None  # Train each trial on the first `limit` MNIST images.
    early_stopping: EarlyStopping | None = None

    def base_spec(self) -> ExperimentSpec:
        """The spec every trial starts from."""
        if isinstance(self.spec, ExperimentSpec):
            return self.spec
        if self.spec not in PRESETS:
            raise SweepError(
                f"Invalid value for argument `spec`. Expected a preset name, one of {list(PRESETS)}, or a spec "
                f"object. Received spec={self.spec!r}."
            )
        return PRESETS[self.spec]

    def to_dict(self) -> dict[str, Any]:
        """The definition as JSON-ready data, in exactly the form `from_dict` reads."""
        return {
            "name": self.name,
            "spec": self.spec.to_dict() if isinstance(self.spec, ExperimentSpec) else self.spec,
            "parameters": {parameter.path: parameter.to_json() for parameter in self.parameters},
            "search": self.search,
            "seed": self.seed,
            "trials": self.trials,
            "time_limit_seconds": self.time_limit_seconds,
            "limit": self.limit,
            "early_stopping": self.early_stopping.to_dict() if self.early_stopping else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> SweepDefinition:
        """Reads a definition written by `to_dict` (missing settings take their defaults) and checks it.

        Raises:
            SweepError: naming the setting or parameter at fault, what was expected and what was received.
        """
        if not isinstance(data, dict):
            raise SweepError(f"Invalid sweep definition. Expected a JSON object. Received {_preview(data)}.")
        known = ("name", "spec", "parameters", "search", "seed", "trials", "time_limit_seconds", "limit",
                 "early_stopping")  # fmt: skip
        for key in data:
            if key not in known:
                raise SweepError(f"Unrecognized setting `{key}` in the sweep definition. Expected only: "
                                 f"{', '.join(known)}.")  # fmt: skip
        for key in ("name", "spec", "parameters"):
            if key not in data:
                raise SweepError(f"Missing setting `{key}` in the sweep definition.")
        spec = data["spec"]
        if isinstance(spec, dict):
            try:
                spec = ExperimentSpec.from_dict(spec)
            except SpecError as error:
                raise SweepError(f"Invalid `spec` of the sweep: {error}") from error
        parameters = data["parameters"]
        if not isinstance(parameters, dict):
            raise SweepError(
                f"Invalid value for `parameters`. Expected an object of paths and values, such as "
                f'{{"training.learning_rate": [0.001, 0.003]}}. Received {_preview(parameters)}.'
            )
        stopping = data.get("early_stopping")
        if stopping is not None:
            if not isinstance(stopping, dict) or set(stopping) - {"grace_epochs", "reduction_factor"}:
                raise SweepError(
                    "Invalid value for `early_stopping`. Expected null or an object with `grace_epochs` and "
                    f"`reduction_factor`. Received {_preview(stopping)}."
                )
            stopping = EarlyStopping(**stopping)
        definition = cls(
            name=data["name"],
            spec=spec,
            parameters=tuple(Parameter.from_json(path, value) for path, value in parameters.items()),
            search=data.get("search", "grid"),
            seed=data.get("seed", 0),
            trials=data.get("trials", 8),
            time_limit_seconds=data.get("time_limit_seconds"),
            limit=data.get("limit"),
            early_stopping=stopping,
        )
        check_definition(definition)
        return definition

    @classmethod
    def from_json(cls, text: str) -> SweepDefinition:
        """Parses JSON text and reads it with `from_dict`.

        Raises:
            SweepError: for text that is not JSON, and as `from_dict` does.
        """
        if len(text) > runs.MAX_JSON_BYTES:
            raise SweepError(f"Invalid sweep definition. Expected at most {runs.MAX_JSON_BYTES:,} characters.")
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as error:
            raise SweepError(f"Invalid JSON in the sweep definition: {error}.") from error
        return cls.from_dict(data)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_definition(definition: SweepDefinition) -> None:
    """Checks everything about a sweep that can be known before it runs, including every trial's spec.

    Raises:
        SweepError: naming the setting, the parameter or the trial at fault.
    """
    if not isinstance(definition.name, str) or not 1 <= len(definition.name.strip()) <= 40:
        raise SweepError(f"Invalid value for argument `name`. Expected 1 to 40 characters. "
                         f"Received name={definition.name!r}.")  # fmt: skip
    definition.base_spec()
    if definition.search not in SEARCHES:
        raise SweepError(f"Invalid value for argument `search`. Expected one of {list(SEARCHES)}. "
                         f"Received search={definition.search!r}.")  # fmt: skip
    if not _is_integer(definition.seed) or not 0 <= definition.seed < 2**31:
        raise SweepError(f"Invalid value for argument `seed`. Expected an integer from 0 to 2**31 - 1. "
                         f"Received seed={definition.seed!r}.")  # fmt: skip
    if not _is_integer(definition.trials) or not 1 <= definition.trials <= MAX_TRIALS:
        raise SweepError(f"Invalid value for argument `trials`. Expected an integer from 1 to {MAX_TRIALS}, the "
                         f"sweep's budget of runs. Received trials={definition.trials!r}.")  # fmt: skip
    limit_seconds = definition.time_limit_seconds
    if limit_seconds is not None and (not _is_number(limit_seconds) or limit_seconds <= 0):
        raise SweepError(f"Invalid value for argument `time_limit_seconds`. Expected null or a positive number of "
                         f"seconds. Received time_limit_seconds={limit_seconds!r}.")  # fmt: skip
    if definition.limit is not None and (not _is_integer(definition.limit) or not 1 <= definition.limit <= 60_000):
        raise SweepError(f"Invalid value for argument `limit`. Expected null or an integer from 1 to 60000, the "
                         f"MNIST training images. Received limit={definition.limit!r}.")  # fmt: skip
    stopping = definition.early_stopping
    if stopping is not None:
        if not _is_integer(stopping.grace_epochs) or stopping.grace_epochs < 1:
            raise SweepError(f"Invalid value for argument `grace_epochs` of `early_stopping`. Expected an integer "
                             f"of at least 1. Received grace_epochs={stopping.grace_epochs!r}.")  # fmt: skip
        if not _is_integer(stopping.reduction_factor) or stopping.reduction_factor < 2:
            received = stopping.reduction_factor
            raise SweepError(f"Invalid value for argument `reduction_factor` of `early_stopping`. Expected an "
                             f"integer of at least 2. Received reduction_factor={received!r}.")  # fmt: skip
    if not definition.parameters:
        raise SweepError('Invalid value for `parameters`. Expected at least one parameter to vary, such as '
                         '{"training.learning_rate": [0.001, 0.003]}. Received none.')  # fmt: skip
    for parameter in definition.parameters:
        check_parameter(parameter, definition)
    if definition.search == "grid":
        ranged = [parameter.path for parameter in definition.parameters if parameter.distribution != "choice"]
        if ranged:
            raise SweepError(f"Invalid parameter `{ranged[0]}` for search='grid'. Expected a list of values: a "
                             f"grid cannot enumerate a range. Use search='random', or list the values.")  # fmt: skip
    for trial in plan_trials(definition, checked=False):
        try:
            validate(trial.spec)
        except SpecError as error:
            settings = ", ".join(f"{path}={value!r}" for path, value in trial.parameters.items())
            suggestion = f" To fix it: {error.suggestion}." if error.suggestion else ""
            raise SweepError(f"Trial {trial.number} of the sweep ({settings}) is not a valid model: "
                             f"{error}{suggestion}") from error  # fmt: skip


def check_parameter(parameter: Parameter, definition: SweepDefinition) -> None:
    """Checks that a parameter names a setting of the spec and that its values or range are usable.

    Raises:
        SweepError: for an unknown path or setting, an empty list, a range whose ends are not numbers in order,
            or values the setting does not take.
    """
    path = parameter.path
    if parameter.distribution not in DISTRIBUTIONS:
        raise SweepError(f"Invalid distribution for parameter `{path}`. Expected one of {list(DISTRIBUTIONS)}. "
                         f"Received {parameter.distribution!r}.")  # fmt: skip
    current = _current_values(path, definition)
    if parameter.distribution == "choice":
        if not parameter.values:
            raise SweepError(f"Invalid values for parameter `{path}`. Expected at least one value. Received [].")
        if path == "preset":
            unknown = [value for value in parameter.values if value not in PRESETS]
            if unknown:
                raise SweepError(f"Invalid value for parameter `preset`. Expected preset names, each one of "
                                 f"{list(PRESETS)}. Received {unknown[0]!r}.")  # fmt: skip
        return
    low, high = parameter.low, parameter.high
    if not (_is_number(low) and _is_number(high)) or not low < high:  # type: ignore[operator]
        raise SweepError(f"Invalid range for parameter `{path}`. Expected two numbers, low < high. "
                         f"Received [{low!r}, {high!r}].")  # fmt: skip
    if parameter.distribution == "log_uniform" and low <= 0:  # type: ignore[operator]
        raise SweepError(f"Invalid range for parameter `{path}`. Expected low > 0 for a log-uniform range. "
                         f"Received [{low!r}, {high!r}].")  # fmt: skip
    if path == "preset" or any(not _is_number(value) for value in current):
        raise SweepError(f"Invalid range for parameter `{path}`. Expected a list of values: "
                         f"`{path}` is not a number.")  # fmt: skip


def _current_values(path: str, definition: SweepDefinition) -> list[Any]:
    """The setting's values in the base spec and in each preset the sweep tries, checking that it exists in all."""
    if path == "preset":
        return [definition.base_spec().name]
    preset_values = next((parameter.values for parameter in definition.parameters if parameter.path == "preset"), ())
    bases = [definition.base_spec()] + [_with_preset(definition.base_spec(), name)
                                        for name in preset_values if name in PRESETS]  # fmt: skip
    return [_read_setting(spec, path) for spec in bases]


def _read_setting(spec: ExperimentSpec, path: str) -> Any:
    data = spec.to_dict()
    if match := _LAYER_PATH.match(path):
        part, index, argument = match.group(1), int(match.group(2)), match.group(3)
        layers = data[part]
        if index >= len(layers):
            raise SweepError(f"Invalid parameter `{path}`. The {part} of {spec.name!r} has {len(layers)} layers, "
                             f"numbered from 0 to {len(layers) - 1}. Received index {index}.")  # fmt: skip
        layer = layers[index]
        return _layer_argument(layer, argument, path, f"{part} layer {index + 1} of {spec.name!r}")
    if match := _OUTPUT_PATH.match(path):
        return _layer_argument(data["output"], match.group(1), path, f"the output layer of {spec.name!r}")
    if match := _TRAINING_PATH.match(path):
        noise, argument = match.group(1), match.group(2)
        settings = data["training"]["noise"] if noise else data["training"]
        if argument not in settings or (not noise and argument == "noise"):
            names = [f"{'noise.' if noise else ''}{name}" for name in settings if name != "noise"]
            raise SweepError(f"Invalid parameter `{path}`: the training settings have no `{argument}`. Expected "
                             f"one of: {', '.join(names)}.")  # fmt: skip
        return settings[argument]
    raise SweepError(
        f"Invalid parameter `{path}`. Expected `preset`, `encoder[i].ARGUMENT`, `decoder[i].ARGUMENT`, "
        f"`output.ARGUMENT`, `training.SETTING` or `training.noise.SETTING`."
    )


def _layer_argument(layer: dict[str, Any], argument: str, path: str, where: str) -> Any:
    allowed = LAYER_ARGUMENTS[layer["type"]]
    if argument not in allowed:
        raise SweepError(f"Invalid parameter `{path}`: {where} is a {layer['type']}, which has no argument "
                         f"`{argument}`. Expected one of: {', '.join(allowed)}.")  # fmt: skip
    return layer[argument]


def _with_preset(spec: ExperimentSpec, name: str) -> ExperimentSpec:
    """The architecture of preset `name` with the training settings of `spec`."""
    return replace(PRESETS[name], training=spec.training)


def apply_setting(spec: ExperimentSpec, path: str, value: Any) -> ExperimentSpec:
    """`spec` with the setting at `path` set to `value` (the spec's own checks judge the value).

    Raises:
        SweepError: for a path the spec does not have.
        SpecError: for a value the setting does not take.
    """
    if path == "preset":
        return _with_preset(spec, value)
    _read_setting(spec, path)  # Raises for an unknown path.
    data = spec.to_dict()
    if match := _LAYER_PATH.match(path):
        data[match.group(1)][int(match.group(2))][match.group(3)] = value
    elif match := _OUTPUT_PATH.match(path):
        data["output"][match.group(1)] = value
    elif match := _TRAINING_PATH.match(path):
        target = data["training"]["noise"] if match.group(1) else data["training"]
        target[match.group(2)] = value
    return ExperimentSpec.from_dict(data)


# --- The plan ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One trial of a sweep: its 0-based index, the values of its parameters, and the spec they make."""

    index: int
    parameters: dict[str, Any]
    spec: ExperimentSpec

    @property
    def number(self) -> int:
        return self.index + 1


def _ordered(parameters: tuple[Parameter, ...]) -> list[Parameter]:
    """`preset` first, so the other settings apply to the preset's architecture."""
    return sorted(parameters, key=lambda parameter: parameter.path != "preset")


def _grid(parameters: list[Parameter], start: int, stop: int) -> list[dict[str, Any]]:
    """Combinations `start` to `stop` (not included) of the grid, in `itertools.product` order, as {path: value}."""
    combinations = itertools.islice(itertools.product(*(parameter.values for parameter in parameters)), start, stop)
    return [dict(zip((parameter.path for parameter in parameters), values, strict=True)) for values in combinations]


def combination_count(definition: SweepDefinition) -> int | None:
    """How many different trials the sweep's search can plan; None where a range makes them endless.

    A grid tries every combination of its lists (a value listed twice is tried twice); a random search draws
    distinct combinations of the lists' distinct values.
    """
    if any(parameter.distribution != "choice" for parameter in definition.parameters):
        return None
    if definition.search == "grid":
        return math.prod(len(parameter.values) for parameter in definition.parameters)
    return math.prod(len({_key(value) for value in parameter.values}) for parameter in definition.parameters)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # Values come from JSON, lists among them, which a set cannot hold.


def plan_trials(definition: SweepDefinition, checked: bool = True) -> list[Trial]:
    """Every trial of the sweep, the same list every time: a grid in order, or random draws from its seed.

    A grid plans its first `trials` combinations, in the order of `itertools.product`; a random search over lists
    alone draws without replacement, so it plans at most `combination_count` trials. `plan_note` says what either
    leaves out.

    Raises:
        SweepError: (with `checked`) for a definition that `check_definition` refuses.
    """
    if checked:
        check_definition(definition)
    base = definition.base_spec()
    parameters = _ordered(definition.parameters)
    count = combination_count(definition)
    if definition.search == "grid":
        drawn = _grid(parameters, 0, definition.trials)
    else:
        generator = random.Random(definition.seed)
        integers = {parameter.path: parameter.path != "preset" and _is_integer(_read_setting(base, parameter.path))
                    for parameter in parameters}  # fmt: skip
        # Over lists alone a repeat is thrown away and drawn again, so the plan up to its first repeat stays what
        # it was when repeats were kept; a range's draws are left as they come.
        wanted = definition.trials if count is None else min(definition.trials, count)
        drawn, seen = [], set()
        while len(drawn) < wanted:
            values = {parameter.path: parameter.draw(generator, integers[parameter.path]) for parameter in parameters}
            key = _key(list(values.values()))
            if count is None or key not in seen:
                seen.add(key)
                drawn.append(values)
    trials = []
    for index, values in enumerate(drawn):
        spec = base
        for path, value in values.items():
            try:
                spec = apply_setting(spec, path, value)
            except SpecError as error:
                raise SweepError(f"Invalid value {value!r} for parameter `{path}` in trial {index + 1}: "
                                 f"{error}") from error  # fmt: skip
        name = f"{definition.name.strip()[:56]}-{index + 1}"
        trials.append(Trial(index, values, replace(spec, name=name)))
    return trials


def plan_note(definition: SweepDefinition, shown: int = 4) -> str | None:
    """What the sweep's budget (`trials`) and its search leave out, in words; None when they leave out nothing.

    Args:
        definition: the sweep (it need not have been checked).
        shown: the most left-out combinations of a grid that the note names.
    """
    count, budget = combination_count(definition), definition.trials
    if count is None or count == budget or (definition.search == "random" and count > budget):
        return None  # Endless ranges, the whole grid, or `budget` distinct draws among more combinations.
    if count < budget:
        distinct = "distinct combination" if definition.search == "random" else "combination"
        return (f"These lists make only {plural(count, distinct)}, so the {definition.search} search runs each once: "
                f"{plural(count, 'trial')}, not {budget}.")  # fmt: skip
    left_out = [", ".join(f"{path}={value!r}" for path, value in combination.items())
                for combination in _grid(_ordered(definition.parameters), budget, budget + shown)]  # fmt: skip
    more = f" and {count - budget - len(left_out)} more" if count - budget > len(left_out) else ""
    return (f"The grid has {count} combinations; a budget of {plural(budget, 'trial')} runs the first {budget} in "
            f"order and leaves out {count - budget}: ({'), ('.join(left_out)}){more}. Raise the budget to {count} "
            f"to run them all.")  # fmt: skip


# --- The sweep store ---------------------------------------------------------------------------------------


def sweeps_root(runs_dir: Path | str) -> Path:
    return Path(runs_dir) / SWEEPS_DIR


def sweep_path(sweep_id: str, runs_dir: Path | str) -> Path:
    """The directory of sweep `sweep_id`.

    Raises:
        SweepError: for an id that is not a sweep id, or a sweep that does not exist.
    """
    if not isinstance(sweep_id, str) or not SWEEP_ID.match(sweep_id):
        raise SweepError(f"Invalid sweep id {sweep_id!r}. Expected one like '20261125-153000'.")
    path = sweeps_root(runs_dir) / sweep_id
    if not (path / DEFINITION_FILE).is_file():
        raise SweepError(f"No sweep {sweep_id!r} in {runs_dir}.")
    return path


def sweep_tag(sweep_id: str) -> str:
    """The tag every trial run of the sweep carries."""
    return f"sweep:{sweep_id}"


def create_sweep(definition: SweepDefinition, runs_dir: Path | str) -> str:
    """Writes a new sweep, not yet started, to the store; returns its id."""
    check_definition(definition)
    root = sweeps_root(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for counter in range(1, 100):
        sweep_id = stamp if counter == 1 else f"{stamp}-{counter}"
        try:
            (root / sweep_id).mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise SweepError("Too many sweeps created in the same second; try again.")
    path = root / sweep_id
    runs.write_json_atomic(path / DEFINITION_FILE, definition.to_dict())
    state = {"sweep_id": sweep_id, "status": "created", "created_at": runs.timestamp(), "elapsed_seconds": 0.0,
             "trials": {}}  # fmt: skip
    runs.write_json_atomic(path / STATE_FILE, state)
    return sweep_id


def read_definition(path: Path) -> SweepDefinition:
    return SweepDefinition.from_dict(json.loads((path / DEFINITION_FILE).read_text()))


def read_state(path: Path) -> dict[str, Any]:
    return json.loads((path / STATE_FILE).read_text())


_STATE_LOCK = threading.Lock()


def update_state(path: Path, **changes: Any) -> dict[str, Any]:
    """Rewrites the sweep's `state.json` with `changes`, under the same kind of lock as a run's summary."""
    with _STATE_LOCK, runs.summary_lock(path):
        state = read_state(path)
        state.update(changes)
        runs.write_json_atomic(path / STATE_FILE, state)
    return state


def record_trial(path: Path, index: int, **changes: Any) -> None:
    """Records what became of trial `index` (0-based) in the sweep's state."""
    with _STATE_LOCK, runs.summary_lock(path):
        state = read_state(path)
        trial = state.setdefault("trials", {}).setdefault(str(index), {})
        trial.update(changes)
        runs.write_json_atomic(path / STATE_FILE, state)


def tag_trial_run(run_path: Path, sweep_id: str, trial: Trial) -> None:
    """Marks a run as a trial of a sweep: the tag `sweep:<id>`, and the trial's number and settings."""
    runs.update_summary(run_path, tags=[sweep_tag(sweep_id)],
                        sweep={"id": sweep_id, "trial": trial.number, "parameters": trial.parameters})  # fmt: skip


@dataclass(frozen=True)
class TrialRow:
    """One trial as the Sweeps page and the CLI show it."""

    number: int
    parameters: dict[str, Any]
    run_id: str | None
    status: str  # "pending", a run's status, or "early stopped".
    epochs_completed: int = 0
    val_loss: float | None = None
    test_loss: float | None = None
    params: int | None = None
    train_seconds: float | None = None
    early_stopped_at: int | None = None  # The epoch at which early stopping ended it.


@dataclass(frozen=True)
class SweepInfo:
    """A sweep as read from the store: its definition, state and trials."""

    sweep_id: str
    path: Path
    definition: SweepDefinition
    status: str  # "created", "running", "stopping", "stopped", "completed", "failed", "interrupted".
    message: str
    executor: str | None
    state: dict[str, Any] = field(default_factory=dict)
    trials: tuple[TrialRow, ...] = ()

    @property
    def active(self) -> bool:
        return self.status in ("running", "stopping")

    @property
    def done_count(self) -> int:
        return sum(row.status in ("completed", "early stopped", "failed") for row in self.trials)

    def best(self) -> TrialRow | None:
        """The finished trial with the lowest test loss."""
        scored = [row for row in self.trials if row.test_loss is not None and math.isfinite(row.test_loss)]
        return min(scored, key=lambda row: row.test_loss or 0.0) if scored else None


def trial_outcome(state: dict[str, Any], index: int, run: runs.RunInfo | None) -> str:
    """What became of trial `index`: "pending", "early_stopped", or the status of its run."""
    record = state.get("trials", {}).get(str(index), {})
    if run is None:
        return "pending"
    if record.get("early_stopped_at") is not None and run.status == "stopped":
        return "early_stopped"  # A trial that completed before the stop reached it stays "completed".
    return run.status


def read_sweep(sweep_id: str, runs_dir: Path | str) -> SweepInfo:
    """The sweep `sweep_id` with its trials' latest runs.

    Raises:
        SweepError: for an invalid id or a missing sweep.
    """
    path = sweep_path(sweep_id, runs_dir)
    definition = read_definition(path)
    state = read_state(path)
    trial_runs = sweep_runs(sweep_id, runs_dir)
    rows = []
    for trial in plan_trials(definition, checked=False):
        run = trial_runs.get(trial.index)
        outcome = trial_outcome(state, trial.index, run)
        record = state.get("trials", {}).get(str(trial.index), {})
        summary = run.summary if run else {}
        # The settings the run recorded: a sweep planned before random searches stopped repeating may differ.
        parameters = summary.get("sweep", {}).get("parameters")
        rows.append(TrialRow(
            number=trial.number, parameters=parameters if isinstance(parameters, dict) else trial.parameters,
            run_id=run.run_id if run else None,
            status="early stopped" if outcome == "early_stopped" else outcome,
            epochs_completed=int(summary.get("epochs_completed") or 0), val_loss=summary.get("val_loss"),
            test_loss=summary.get("test_loss"), params=summary.get("params"),
            train_seconds=summary.get("train_seconds"),
            early_stopped_at=record.get("early_stopped_at") if outcome == "early_stopped" else None,
        ))  # fmt: skip
    status = state.get("status", "created")
    if status in ("running", "stopping") and not runs.process_alive(state.get("driver")):
        status = "interrupted"
    elif status == "running" and (path / STOP_FILE).exists():
        status = "stopping"
    return SweepInfo(sweep_id, path, definition, status, str(state.get("message", "")), state.get("executor"),
                     state, tuple(rows))  # fmt: skip


def sweep_runs(sweep_id: str, runs_dir: Path | str) -> dict[int, runs.RunInfo]:
    """The latest run of each trial of the sweep, by trial index (0-based)."""
    found: dict[int, runs.RunInfo] = {}
    for run in sorted(runs.list_runs(runs_dir, include_pretrained=False), key=lambda run: run.run_id):
        sweep = run.summary.get("sweep")
        if sweep_tag(sweep_id) in run.tags and isinstance(sweep, dict) and _is_integer(sweep.get("trial")):
            found[sweep["trial"] - 1] = run  # Sorted by id, so a trial run again keeps its newest run.
    return found


def list_sweeps(runs_dir: Path | str) -> list[SweepInfo]:
    """Every sweep of the store, newest first; a damaged one is left out."""
    root = sweeps_root(runs_dir)
    found = []
    for path in sorted(root.iterdir(), reverse=True) if root.is_dir() else ():
        with contextlib.suppress(OSError, ValueError):
            found.append(read_sweep(path.name, runs_dir))
    return found


# --- Control -----------------------------------------------------------------------------------------------


def ray_available() -> bool:
    """Whether Ray Tune is installed (it is optional: `requirements-ray.txt`)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def check_ray() -> None:
    """Raises SweepError, saying how to install Ray, if Ray Tune is not installed."""
    if not ray_available():
        raise SweepError(f"Ray is not installed, so this sweep cannot run on a Ray cluster. Install it with "
                         f"`{RAY_INSTALL}` (Ray Tune, pinned), or run the sweep locally.")  # fmt: skip


def start_sweep(
    sweep_id: str, runs_dir: Path | str, *, ray_address: str | None = None, parallel: int | None = None
) -> SweepInfo:
    """Starts (or resumes) a sweep in a driver process of its own; trials it has done are not run again.

    Args:
        sweep_id: the sweep, from `create_sweep`.
        runs_dir: the run store.
        ray_address: run the trials on the Ray cluster at this address ("auto", "127.0.0.1:6379", "ray://...");
            None runs them in the store's local job queue.
        parallel: locally, let this many jobs of the store train at once (the queue's setting,
            `core.jobs.set_max_parallel`); on Ray, the most trials at once. None keeps the queue's setting.

    Raises:
        SweepError: if the sweep is already running, or Ray is asked for and not installed.
    """
    path = sweep_path(sweep_id, runs_dir)
    info = read_sweep(sweep_id, runs_dir)
    if info.active:
        raise SweepError(f"Sweep {sweep_id} is already running. Stop it first.")
    if ray_address:
        check_ray()
    if parallel is not None and not ray_address and parallel > max_parallel(runs_dir):
        set_max_parallel(runs_dir, parallel)
    (path / STOP_FILE).unlink(missing_ok=True)
    executor = "ray" if ray_address else "local"
    update_state(path, status="running", executor=executor, ray_address=ray_address, parallel=parallel,
                 started_at=runs.timestamp(), ended_at=None, message="Starting the sweep.",
                 driver=None)  # fmt: skip
    _launch_driver(path, Path(runs_dir))
    return read_sweep(sweep_id, runs_dir)


def _launch_driver(path: Path, runs_dir: Path) -> None:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(runs.PROJECT_ROOT), environment.get("PYTHONPATH")]))
    environment["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "core.sweep_driver", "--runs-dir", str(runs_dir), path.name]
    with open(path / DRIVER_LOG, "ab") as log:
        process = subprocess.Popen(command, cwd=runs.PROJECT_ROOT, env=environment, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    update_state(path, driver=runs.process_identity(process.pid))
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()


def stop_sweep(sweep_id: str, runs_dir: Path | str) -> SweepInfo:
    """Stops a sweep: its driver starts no more trials, and its queued and training trials are stopped.

    Returns:
        The sweep as it is now; its driver may take a moment to end (its status is then "stopping").
    """
    path = sweep_path(sweep_id, runs_dir)
    (path / STOP_FILE).touch()
    stop_trials(sweep_id, runs_dir)
    info = read_sweep(sweep_id, runs_dir)
    if info.status in ("created", "interrupted"):
        update_state(path, status="stopped", message="Stopped.", ended_at=runs.timestamp())
    return read_sweep(sweep_id, runs_dir)


def stop_trials(sweep_id: str, runs_dir: Path | str) -> list[str]:
    """Stops every queued or training run of the sweep through the job runner; returns their ids."""
    runner = JobRunner(runs_dir)
    stopped = []
    for run in runs.list_runs(runs_dir, include_pretrained=False):
        if sweep_tag(sweep_id) not in run.tags or run.status not in ("queued", "running"):
            continue
        if runner.snapshot(run.run_id).status in ("queued", *ACTIVE_STATUSES) and runner.stop(run.run_id):
            stopped.append(run.run_id)
    return stopped


def wait_for_sweep(sweep_id: str, runs_dir: Path | str, timeout: float | None = None) -> SweepInfo:
    """Waits until the sweep's driver has ended (or `timeout` seconds pass) and returns the sweep."""
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    while True:
        info = read_sweep(sweep_id, runs_dir)
        if not info.active or time.monotonic() >= deadline:
            return info
        time.sleep(0.25)


# --- What the driver needs ---------------------------------------------------------------------------------


def pending_trials(path: Path, definition: SweepDefinition, runs_dir: Path) -> list[Trial]:
    """The trials of the plan that have not been done: never run, or stopped by the user, interrupted or cancelled."""
    state = read_state(path)
    done = sweep_runs(path.name, runs_dir)
    return [trial for trial in plan_trials(definition, checked=False)
            if trial_outcome(state, trial.index, done.get(trial.index)) not in DONE_OUTCOMES]  # fmt: skip


def metric_of(record: dict[str, Any]) -> float | None:
    """The loss that early stopping compares: the validation loss, or the training loss without validation."""
    value = record.get("val_loss")
    if value is None:
        value = record.get("loss")
    return float(value) if isinstance(value, (int, float)) else None


# --- Command line ------------------------------------------------------------------------------------------


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def print_sweep(info: SweepInfo) -> None:
    """The sweep's status and trials as a table on stdout."""
    done = f"{info.done_count}/{len(info.trials)} trials done"
    print(f"Sweep {info.sweep_id} ({info.definition.name}): {info.status}, {done}. {info.message}".rstrip())
    paths = [parameter.path for parameter in info.definition.parameters]
    header = ["#", *paths, "status", "epochs", "val_loss", "test_loss", "run"]
    rows = [[str(row.number), *(_format(row.parameters.get(p)) for p in paths), row.status,
             str(row.epochs_completed), _format(row.val_loss), _format(row.test_loss), row.run_id or "-"]
            for row in info.trials]  # fmt: skip
    widths = [max(len(line[column]) for line in [header, *rows]) for column in range(len(header))]
    for line in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _summary_json(info: SweepInfo) -> dict[str, Any]:
    best = info.best()
    return {
        "sweep_id": info.sweep_id,
        "name": info.definition.name,
        "status": info.status,
        "message": info.message,
        "executor": info.executor,
        "best_run_id": best.run_id if best else None,
        "trials": [
            {key: value if not isinstance(value, float) or math.isfinite(value) else None
             for key, value in vars(row).items()}
            for row in info.trials
        ],
    }  # fmt: skip


def _follow(sweep_id: str, runs_dir: Path, quiet: bool) -> SweepInfo:
    """Waits for the sweep, printing each trial's outcome as it comes; Ctrl-C stops the sweep."""
    told: dict[int, str] = {}
    try:
        while True:
            info = read_sweep(sweep_id, runs_dir)
            for row in info.trials:
                if row.status != "pending" and told.get(row.number) != row.status and not quiet:
                    told[row.number] = row.status
                    settings = ", ".join(f"{path}={_format(value)}" for path, value in row.parameters.items())
                    print(f"Trial {row.number} ({settings}): {row.status}"
                          + (f", test loss {row.test_loss:.4f}" if row.test_loss is not None else ""),
                          file=sys.stderr, flush=True)  # fmt: skip
            if not info.active:
                return info
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping the sweep and its trials...", file=sys.stderr)
        stop_sweep(sweep_id, runs_dir)
        return wait_for_sweep(sweep_id, runs_dir)


def main(argv: list[str] | None = None) -> int:
    """`python -m core.sweep start|resume|stop|status|list`: sweeps from the command line.

    Exit status: 0 when the sweep ends completed or stopped, 1 when it fails, 2 for an invalid definition or
    arguments, printed as one message on stderr.
    """
    parser = argparse.ArgumentParser(prog="python -m core.sweep", description="Run a sweep of training runs.")
    parser.add_argument("--runs-dir", type=Path, default=runs.DEFAULT_RUNS_DIR, help="the run store (default: runs/)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("start", "start a sweep from its definition (JSON)"), ("resume", "resume a stopped sweep")):
        command = commands.add_parser(name, help=text)
        command.add_argument("definition" if name == "start" else "sweep_id",
                             **({"type": Path, "metavar": "SWEEP.json"} if name == "start" else {}))  # fmt: skip
        command.add_argument("--ray-address", default=os.environ.get("RAY_ADDRESS") or None,
                             help="run the trials on a Ray cluster (default: RAY_ADDRESS, else locally)")  # fmt: skip
        command.add_argument("--parallel", type=int, metavar="N", help="trials at once (locally: the queue's setting)")
        command.add_argument("--detach", action="store_true", help="return at once; the sweep runs on")
        command.add_argument("--json", action="store_true", help="end stdout with one JSON object of the sweep")
    commands.add_parser("stop", help="stop a sweep and its trials").add_argument("sweep_id")
    status_parser = commands.add_parser("status", help="a sweep's trials")
    status_parser.add_argument("sweep_id")
    status_parser.add_argument("--json", action="store_true")
    commands.add_parser("list", help="the store's sweeps")
    arguments = parser.parse_args(argv)
    runs_dir = arguments.runs_dir

    try:
        if arguments.command == "list":
            sweeps = list_sweeps(runs_dir)
            if not sweeps:
                print(f"No sweeps in {runs_dir}.")
            for info in sweeps:
                print(f"{info.sweep_id:<20} {info.status:<12} {info.done_count}/{len(info.trials)} trials  "
                      f"{info.definition.name}")  # fmt: skip
            return 0
        if arguments.command == "stop":
            info = stop_sweep(arguments.sweep_id, runs_dir)
            print(f"Asked sweep {info.sweep_id} and its trials to stop.")
            return 0
        if arguments.command == "status":
            info = read_sweep(arguments.sweep_id, runs_dir)
            if arguments.json:
                print(json.dumps(_summary_json(info)))
            else:
                print_sweep(info)
            return 0
        if arguments.command == "start":
            try:
                text = arguments.definition.read_text()
            except (OSError, UnicodeDecodeError) as error:
                raise SweepError(f"Cannot read sweep definition {arguments.definition}: "
                                 f"{getattr(error, 'strerror', None) or error}.") from error  # fmt: skip
            try:
                definition = SweepDefinition.from_json(text)
            except SweepError as error:
                raise SweepError(f"{arguments.definition}: {error}") from error
            if arguments.ray_address:
                check_ray()
            sweep_id = create_sweep(definition, runs_dir)
            if note := plan_note(definition):
                print(f"note: {note}", file=sys.stderr)
        else:
            sweep_id = arguments.sweep_id
        if arguments.parallel is not None and not 1 <= arguments.parallel <= 64:
            raise SweepError(f"Invalid value for argument `--parallel`. Expected an integer from 1 to 64. "
                             f"Received {arguments.parallel}.")  # fmt: skip
        info = start_sweep(sweep_id, runs_dir, ray_address=arguments.ray_address, parallel=arguments.parallel)
    except (SweepError, runs.RunStoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    where = f"on Ray at {arguments.ray_address}" if arguments.ray_address else "in the local job queue"
    print(f"Sweep {info.sweep_id}: {len(info.trials)} trials {where}.", file=sys.stderr)
    if arguments.detach:
        print(info.sweep_id)
        return 0
    info = _follow(info.sweep_id, runs_dir, quiet=arguments.json)
    if arguments.json:
        print(json.dumps(_summary_json(info)))
    else:
        print_sweep(info)
    return 1 if info.status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
