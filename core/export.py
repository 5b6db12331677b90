"""What a run exports: its model file, its spec as JSON, a plain-Keras training script, its history as CSV; and
the one import, a spec JSON file that restores an experiment (`spec_from_upload`).

Each file is made only when asked for (the dashboard's download buttons call these when clicked). Nothing in them
names a directory of this machine: the spec and history are the run's own data, the script is generated from the
spec, and the model file is the archive Keras wrote. Importing this module does not import Keras.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from core.keras_code import training_script
from core.runs import RunInfo, RunStoreError, check_model_archive, load_history
from core.spec import DTYPE_POLICIES, MAX_SPEC_BYTES, ExperimentSpec, SpecError
from core.validation import validate

HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "seconds", "images_per_second")


@dataclass(frozen=True)
class Export:
    """One file a run exports: what it is, the name to save it under and its media type."""

    kind: str  # "model", "spec", "script" or "history"
    label: str
    file_name: str
    mime: str


def run_exports(run: RunInfo) -> list[Export]:
    """The files `run` can export now: the model once one is saved; the spec and script for a readable spec; the
    history for a run trained here."""
    exports = []
    if run.has_model:
        exports.append(Export("model", "Model (.keras)", f"{run.run_id}-model.keras", "application/zip"))
    if run.spec is not None:
        exports += [
            Export("spec", "Spec (JSON)", f"{run.run_id}-spec.json", "application/json"),
            Export("script", "Keras script (.py)", f"{run.run_id}-train.py", "text/x-python"),
        ]
    if (run.path / "history.jsonl").exists():  # Every run trained here has one; an imported model has none.
        exports.append(Export("history", "History (CSV)", f"{run.run_id}-history.csv", "text/csv"))
    return exports


def export_data(run: RunInfo, kind: str) -> bytes:
    """The contents of one of `run_exports(run)`.

    Raises:
        RunStoreError: if the run has no such file (no model yet, an unreadable spec) or its model is too large.
        ValueError: for an unknown `kind`.
    """
    if kind == "model":
        return model_bytes(run)
    if kind in ("spec", "script"):
        if run.spec is None:
            raise RunStoreError(f"Run {run.run_id!r} has no readable spec to export.")
        text = run.spec.to_json() + "\n" if kind == "spec" else training_script(trained_spec(run))
        return text.encode()
    if kind == "history":
        return history_csv(load_history(run)).encode()
    raise ValueError(
        f"Invalid value for argument `kind`. Expected one of ['model', 'spec', 'script', 'history']. "
        f"Received kind={kind!r}."
    )


def trained_spec(run: RunInfo) -> ExperimentSpec:
    """The run's spec with the precision it trained with in place of "auto", which its worker resolved on its device.

    The spec export keeps "auto", so that a job queued from it picks what pays where it trains; the script shows
    what this run did.
    """
    resolved = run.summary.get("dtype_policy")
    if run.spec.training.dtype_policy == "auto" and resolved in DTYPE_POLICIES and resolved != "auto":
        return run.spec.with_training(dtype_policy=resolved)
    return run.spec


def model_bytes(run: RunInfo) -> bytes:
    """The run's `model.keras` as saved, after the size checks every model load makes.

    Raises:
        RunStoreError: if the run has no model or its file is too large to be one of ours.
    """
    path = run.path / "model.keras"
    if not run.has_model:
        raise RunStoreError(f"Run {run.run_id!r} has no saved model yet (status: {run.status}).")
    try:
        check_model_archive(path)
        return path.read_bytes()
    except (OSError, ValueError) as error:
        raise RunStoreError(f"The model file of run {run.run_id!r} cannot be exported: {error}.") from error


def history_csv(records: list[dict[str, object]]) -> str:
    """Epoch records as CSV: a header row, then one row per epoch; a value a record lacks is an empty cell.

    The columns are `HISTORY_COLUMNS`, then any other keys in the order the records first give them.
    """
    columns = list(HISTORY_COLUMNS)
    for record in records:
        columns += [key for key in record if key not in columns]
    output = io.StringIO()
    writer = csv.DictWriter(output, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: "" if value is None else value for key, value in record.items()})
    return output.getvalue()


def spec_from_upload(data: bytes) -> ExperimentSpec:
    """The experiment in an uploaded spec JSON file (as `Spec (JSON)` exports it), checked whole.

    Args:
        data: the file's bytes, at most `MAX_SPEC_BYTES` (checked before anything is decoded or parsed).

    Returns:
        The spec, valid as `core.validation.validate` checks it: its layers fit together from 28x28x1 to 28x28x1.

    Raises:
        SpecError: for a file too large, not UTF-8, not JSON, nested too deeply, with unknown keys or invalid
            values, or an architecture that does not fit together; the message says which, in Keras' voice.
    """
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            f"Invalid spec file. Expected a spec of at most {MAX_SPEC_BYTES:,} bytes. Received {len(data):,} bytes."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(
            f"Invalid spec file. Expected UTF-8 JSON text. Received bytes that are not UTF-8 ({error})."
        ) from error
    spec = ExperimentSpec.from_json(text)
    validate(spec)
    return spec
