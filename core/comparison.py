"""Comparing runs: the settings that differ between them, their final metrics, their loss curves and per-digit errors.

Everything here is plain data in and out: runs as `core.runs.RunInfo`, tables as lists of rows of display
strings (one column per run), so the Compare page only lays them out. Nothing here imports Streamlit or Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.runs import RunInfo, load_history
from core.spec import ExperimentSpec

MIN_RUNS, MAX_RUNS = 2, 4
MISSING = "—"  # A setting or metric a run does not have, such as a fourth encoder layer.
# Where the summary records how a run was trained beyond its spec, under the names the table shows.
SUMMARY_SETTINGS = {"backend": "backend", "device": "device", "dtype_policy": "precision used",
                    "train_images": "training images"}  # fmt: skip


@dataclass(frozen=True)
class LossCurve:
    """One run's loss per finished epoch, from its `history.jsonl`; a missing value is NaN."""

    name: str
    loss_name: str  # The loss the run trained with, such as "binary_crossentropy".
    epochs: tuple[int, ...]
    loss: tuple[float, ...]
    val_loss: tuple[float, ...]


def check_run_count(count: int) -> None:
    """Raises ValueError unless `count` runs can be compared (2 to 4)."""
    if not MIN_RUNS <= count <= MAX_RUNS:
        raise ValueError(
            f"Invalid number of runs. Expected {MIN_RUNS} to {MAX_RUNS} runs to compare. Received {count}."
        )


def distinct_names(runs: Sequence[RunInfo]) -> list[str]:
    """Each run's name, with its id added where two runs share a name, so columns and legends tell them apart."""
    names = [run.name for run in runs]
    return [f"{run.name} ({run.run_id})" if names.count(run.name) > 1 else run.name for run in runs]


def flatten_spec(spec: ExperimentSpec) -> dict[str, Any]:
    """The spec as one flat mapping, in Keras' argument names: "encoder 1 filters", "learning_rate", "noise kind".

    The layer counts come first, so that runs of different depths show it in one row.
    """
    flat: dict[str, Any] = {"encoder layers": len(spec.encoder), "decoder layers": len(spec.decoder)}
    for part, layers in (("encoder", spec.encoder), ("decoder", spec.decoder)):
        for number, layer in enumerate(layers, start=1):
            flat.update({f"{part} {number} {name}": value for name, value in layer.to_dict().items()})
    flat.update({f"output {name}": value for name, value in spec.output.to_dict().items()})
    for name, value in spec.training.to_dict().items():
        if isinstance(value, dict):  # The noise: {"kind": ..., "amount": ...}.
            flat.update({f"{name} {inner}": inner_value for inner, inner_value in value.items()})
        else:
            flat[name] = value
    return flat


def run_settings(run: RunInfo) -> dict[str, Any]:
    """The run's flattened spec and what its summary records of how it trained (backend, device, precision)."""
    settings = flatten_spec(run.spec) if run.spec is not None else {}
    settings.update({label: run.summary[key] for key, label in SUMMARY_SETTINGS.items() if key in run.summary})
    return settings


def format_value(value: Any) -> str:
    """A setting or metric as the tables show it: numbers to 4 significant digits, thousands separated."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not np.isfinite(value):
            return str(value)
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def differing_settings(runs: Sequence[RunInfo]) -> list[dict[str, str]]:
    """The settings that do not show the same in every run, one row each: {"setting": ..., <run name>: value, ...}.

    Values are compared as the table shows them (`format_value`), so a row never lists equal values: a setting
    that one run lacks (a deeper encoder, a summary from before backends were recorded) differs unless the others
    show it as missing too, as an unset `output_padding` (None) does. An imported model has no settings at all, so
    it shows a dash in every row and is left out of the comparison, or it would make every setting differ. Rows
    keep the order of the spec: layers top to bottom, then training, then the summary's settings.

    Raises:
        ValueError: for fewer than 2 or more than 4 runs.
    """
    check_run_count(len(runs))
    names = distinct_names(runs)
    settings = [run_settings(run) for run in runs]
    keys = list(dict.fromkeys(key for setting in settings for key in setting))
    rows = []
    for key in keys:
        shown = [format_value(setting.get(key)) for setting in settings]  # A missing key shows as None does.
        if len({value for run, value in zip(runs, shown, strict=True) if run.spec is not None}) > 1:
            rows.append({"setting": key, **dict(zip(names, shown, strict=True))})
    return rows


# (label, how to read it from a run) for each row of the metrics table.
_METRICS: tuple[tuple[str, Any], ...] = (
    ("test loss", lambda run: run.summary.get("test_loss")),
    ("loss", lambda run: run.spec.training.loss if run.spec else None),
    ("epochs", lambda run: run.summary.get("epochs_completed")),
    ("train seconds", lambda run: run.summary.get("train_seconds")),
    ("images/s", lambda run: run.summary.get("images_per_second")),
    ("parameters", lambda run: run.summary.get("params")),
    ("backend", lambda run: run.summary.get("backend")),
    ("status", lambda run: run.status),
    ("tags", lambda run: ", ".join(run.tags) or None),
    ("note", lambda run: run.note or None),
)


def metrics_rows(runs: Sequence[RunInfo]) -> list[dict[str, str]]:
    """The final metrics of each run, one row per metric: {"metric": ..., <run name>: value, ...}.

    Test loss is in the loss the run trained with (the "loss" row); a run stopped before its test evaluation
    has none. Train seconds is the time in `fit`; images/s the training images per second over it.

    Raises:
        ValueError: for fewer than 2 or more than 4 runs.
    """
    check_run_count(len(runs))
    names = distinct_names(runs)
    return [
        {"metric": label, **{name: format_value(read(run)) for name, run in zip(names, runs, strict=True)}}
        for label, read in _METRICS
    ]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def loss_curve(run: RunInfo, name: str | None = None) -> LossCurve:
    """The run's train and validation loss per finished epoch, read from its `history.jsonl`."""
    records = [record for record in load_history(run) if isinstance(record.get("epoch"), int)]
    return LossCurve(
        name=name or run.name,
        loss_name=run.spec.training.loss if run.spec else "binary_crossentropy",
        epochs=tuple(record["epoch"] for record in records),
        loss=tuple(_number(record.get("loss")) for record in records),
        val_loss=tuple(_number(record.get("val_loss")) for record in records),
    )


def digit_means(errors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The mean of `errors` over the images of each digit 0-9 (NaN for a digit with no image).

    Raises:
        ValueError: if `errors` and `labels` differ in length.
    """
    errors, labels = np.asarray(errors, dtype=np.float64), np.asarray(labels)
    if errors.shape != labels.shape:
        raise ValueError(
            f"Invalid value for argument `labels`. Expected one label per error ({errors.shape}). "
            f"Received {labels.shape}."
        )
    sums = np.bincount(labels, weights=errors, minlength=10)[:10]
    counts = np.bincount(labels, minlength=10)[:10]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def sample_indices(labels: np.ndarray, count: int = 8) -> np.ndarray:
    """The first test image of each digit 0, 1, ..., count - 1: the same digits for every run, one of each.

    Raises:
        ValueError: if `count` is not 1 to 10, or a digit has no image.
    """
    if not 1 <= count <= 10:
        raise ValueError(f"Invalid value for argument `count`. Expected 1 to 10. Received count={count}.")
    labels = np.asarray(labels)
    indices = []
    for digit in range(count):
        found = np.flatnonzero(labels == digit)
        if found.size == 0:
            raise ValueError(f"Invalid value for argument `labels`. Expected an image of digit {digit}. Found none.")
        indices.append(int(found[0]))
    return np.array(indices)
