"""The run store: one directory per run under a store root, readable by any process at any time.

    runs/<run-id>/config.json     the experiment spec (ExperimentSpec JSON) plus how it was run
    runs/<run-id>/history.jsonl   one JSON object per finished epoch, appended and flushed each epoch
    runs/<run-id>/model.keras     the latest weights, written to a temporary file and renamed
    runs/<run-id>/summary.json    status, final metrics, timings, library versions (rewritten atomically)
    runs/<run-id>/events.jsonl    a training job's events, appended by its worker (see `core.jobs`)

A run is created "queued" when a job is submitted and becomes "running" when a worker takes it. A model uploaded
from elsewhere becomes an "imported" run (`register_imported_run`): its model file, a config that names the file it
came from instead of a spec, and a summary; it has no history. Runs shipped
with the studio live in `pretrained/` and are read-only. A damaged run is listed as damaged and never hides the
others; a run left "running" by processes that are all gone is reported as "interrupted". Summaries are changed
under a lock, so two processes (a training worker and a rename in the dashboard) never lose each other's update.
Run ids are checked so that no id can reach outside its store.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.spec import ExperimentSpec, SpecError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_runs_dir() -> Path:
    """`runs/` in the project, unless the environment variable STUDIO_RUNS_DIR names another store."""
    return Path(os.environ.get("STUDIO_RUNS_DIR") or PROJECT_ROOT / "runs")


# Read once at import for the CLI defaults; the dashboard calls `default_runs_dir()` so tests can redirect it.
DEFAULT_RUNS_DIR = default_runs_dir()
PRETRAINED_DIR = PROJECT_ROOT / "pretrained"

STATUSES = ("queued", "running", "completed", "stopped", "failed", "interrupted", "imported", "damaged")
MAX_JSON_BYTES = 1_000_000  # A config or summary larger than this was not written by the studio.
# The largest model a spec allows (12 layers of 1024 3x3 filters a part) holds about 450 MB of float32 weights.
MAX_MODEL_BYTES = 1_000_000_000
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")  # \Z, not $, which would let a trailing newline in.
STAGING_PREFIX = ".import-"  # A model being imported waits in a hidden directory, which no listing takes for a run.
STALE_STAGING_SECONDS = 3600  # A staging directory this old was left by a server that died mid-import.


class RunStoreError(ValueError):
    """A run that does not exist, cannot be changed, or an id that is not a valid run id."""


@dataclass(frozen=True)
class RunInfo:
    """What the store knows about one run, read from its directory."""

    run_id: str
    path: Path
    status: str
    name: str
    summary: dict[str, Any] = field(default_factory=dict)
    spec: ExperimentSpec | None = None
    read_only: bool = False
    problem: str | None = None  # Why a damaged run is damaged.

    @property
    def has_model(self) -> bool:
        return (self.path / "model.keras").is_file()

    @property
    def is_denoiser(self) -> bool:
        return self.spec is not None and self.spec.training.noise.kind != "none"

    @property
    def test_loss(self) -> float | None:
        return self.summary.get("test_loss")

    def comparable_test_loss(self, noise_kind: str, noise_amount: float) -> tuple[str, float] | None:
        """The run's mean binary cross-entropy on the test set under the conditions of one denoised digit, if known.

        The engine measures it on clean test inputs (`test_loss`) and, for a denoiser, on inputs with its training
        noise (`test_noisy_loss`); other noise settings, and runs trained with another loss, have no comparable
        figure.

        Args:
            noise_kind: the noise added to the digit, one of `core.noise.NOISE_KINDS`.
            noise_amount: its amount.

        Returns:
            (what it is, its value), such as ("test mean", 0.0912), or None.
        """
        if self.spec is None or self.spec.training.loss != "binary_crossentropy":
            return None
        trained_with = self.spec.training.noise
        if noise_kind == "none" or noise_amount == 0:
            value, what = self.summary.get("test_loss"), "test mean"
        elif noise_kind == trained_with.kind and abs(noise_amount - trained_with.amount) < 1e-6:
            value, what = self.summary.get("test_noisy_loss"), "noisy test mean"
        else:
            return None
        return (what, float(value)) if isinstance(value, (int, float)) else None

    @property
    def created_at(self) -> str:
        return self.summary.get("created_at", "")

    @property
    def imported_from(self) -> str | None:
        """The name of the file an imported run's model was uploaded as; None for a run trained here."""
        name = self.summary.get("imported_from") if self.status == "imported" else None
        return name if isinstance(name, str) else None

    @property
    def note(self) -> str:
        """The user's note on the run ("" for none, or for a summary edited by hand into something else)."""
        note = self.summary.get("note")
        return note if isinstance(note, str) else ""

    @property
    def tags(self) -> tuple[str, ...]:
        """The user's tags on the run, in the order given."""
        tags = self.summary.get("tags")
        return tuple(tag for tag in tags if isinstance(tag, str)) if isinstance(tags, list) else ()


# --- Paths and ids -----------------------------------------------------------------------------------------


def check_run_id(run_id: str) -> str:
    """Returns `run_id` if it is a plain directory name that cannot escape the store.

    Raises:
        RunStoreError: for ids with separators, "..", leading dots or other characters.
    """
    if not isinstance(run_id, str) or not RUN_ID.match(run_id) or ".." in run_id:
        raise RunStoreError(
            f"Invalid run id {run_id!r}. Expected letters, digits, '.', '_' or '-', starting with a letter or "
            "digit, at most 100 characters."
        )
    return run_id


def run_path(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> Path:
    """The directory of `run_id` in `runs_dir`, or in the shipped runs when it is one of those."""
    check_run_id(run_id)
    for root in (Path(runs_dir), PRETRAINED_DIR):
        candidate = (root / run_id).resolve()
        if candidate.parent != root.resolve() or (root / run_id).is_symlink():
            raise RunStoreError(f"Invalid run id {run_id!r}: it is a link, or leads outside the run store.")
        if candidate.is_dir():
            return candidate
    raise RunStoreError(f"No run {run_id!r} in {runs_dir}.")


def new_run_id(name: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> str:
    """A fresh id such as "20261125-153000-seed-fast", unique in `runs_dir`."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:40] or "run"
    base = f"{stamp}-{slug}"
    candidate, counter = base, 1
    while (Path(runs_dir) / candidate).exists() or (PRETRAINED_DIR / candidate).exists():
        counter += 1
        candidate = f"{base}-{counter}"
    return candidate


# --- Writing -----------------------------------------------------------------------------------------------


def timestamp() -> str:
    """Now, as the store writes every time (`created_at`, `ended_at`, ...): ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes JSON to a temporary file beside `path`, flushes it to disk, then renames it over `path`."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _claim_run_directory(root: Path, name: str) -> Path:
    """Makes an empty directory under a new run id for `name` in `root`, and returns it.

    Two processes may pick the same id in the same second: the one whose mkdir fails picks again.
    """
    while True:
        path = root / new_run_id(name, root)
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def create_run(
    spec: ExperimentSpec,
    runs_dir: Path | str = DEFAULT_RUNS_DIR,
    *,
    settings: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    status: str = "running",
) -> Path:
    """Creates a run directory with `config.json` and a first `summary.json`.

    Args:
        spec: the experiment.
        runs_dir: the store root; created if missing.
        settings: how the run was made beyond the spec (e.g. the image limit), stored in `config.json`.
        summary: extra fields for the first summary.
        status: "running" for a run this process trains (the summary names this process as its owner), or
            "queued" for a job that a worker will take later.

    Returns:
        The new run's directory.
    """
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    path = _claim_run_directory(root, spec.name)
    write_json_atomic(path / "config.json", {"spec": spec.to_dict(), "settings": settings or {}})
    (path / "history.jsonl").touch()
    now = timestamp()
    write_json_atomic(
        path / "summary.json",
        {
            "run_id": path.name,
            "name": spec.name,
            "status": status,
            "created_at": now,
            **({"process": process_identity(os.getpid())} if status == "running" else {}),
            **(summary or {}),
        },
    )
    return path


def append_history(path: Path, record: dict[str, Any]) -> None:
    """Appends one epoch's record to `history.jsonl` and flushes it to disk."""
    with open(path / "history.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def summary_lock(path: Path) -> Iterator[None]:
    """Holds the run's summary lock: one process at a time reads, changes and rewrites `summary.json`.

    An advisory `flock` on the run directory itself (the summary file is replaced on every write, its directory
    is not), released by the kernel when its holder dies, so a killed worker never leaves the run locked.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # Closing the last descriptor releases the lock.


def update_summary(path: Path, **changes: Any) -> dict[str, Any]:
    """Rewrites `summary.json` atomically with `changes` applied, and returns the new summary.

    The read and the write happen under `summary_lock`, so a rename in the dashboard during training survives the
    next epoch's write of the worker, and the other way round.
    """
    with summary_lock(path):
        summary = _read_json(path / "summary.json")
        summary.update(changes)
        write_json_atomic(path / "summary.json", summary)
    return summary


def save_model(path: Path, model: Any) -> None:
    """Saves a Keras model to `model.keras` through a temporary file, so readers never see half a file."""
    temporary = path / f".model-{os.getpid()}.tmp.keras"
    try:
        model.save(temporary)
        os.replace(temporary, path / "model.keras")
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def staging_directory(runs_dir: Path | str = DEFAULT_RUNS_DIR) -> Iterator[Path]:
    """A new hidden directory in the store for a model being imported, removed with what is left in it at the end.

    Its name starts with a dot, so no listing takes it for a run, and it lies on the store's file system, so a
    checked model moves into its run by a rename. Staging directories over an hour old, left by a server that died
    mid-import, are removed first.
    """
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).timestamp()
    for stale in root.glob(f"{STAGING_PREFIX}*"):
        with contextlib.suppress(OSError):
            if stale.is_dir() and not stale.is_symlink() and now - stale.stat().st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(stale)
    path = Path(tempfile.mkdtemp(dir=root, prefix=STAGING_PREFIX))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)  # Gone already once its run is registered.


def register_imported_run(
    staging: Path, name: str, imported: dict[str, Any], summary: dict[str, Any] | None = None
) -> Path:
    """Makes the checked model in `staging` (a `staging_directory` holding `model.keras`) a run of its store.

    The run's config records where the model came from (`imported`) and has no spec; its summary has the status
    "imported". The files are written in the staging directory, which then takes the new run's place by a rename,
    so no reader ever sees half an imported run.

    Args:
        staging: the staging directory, in the store the run joins.
        name: the run's display name, 1 to 64 characters.
        imported: what the config records of the import: at least the uploaded file's name as "file_name".
        summary: extra fields for the summary (the parameter count, the shapes).

    Returns:
        The new run's directory.

    Raises:
        RunStoreError: for a staging directory without `model.keras`, a name of the wrong length, or an `imported`
            without a file name.
    """
    if not (staging / "model.keras").is_file():
        raise RunStoreError(f"Nothing to import: {staging.name} holds no model.keras.")
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        raise RunStoreError(f"Invalid run name {name!r}. Expected 1 to 64 characters.")
    if not isinstance(imported.get("file_name"), str):
        raise RunStoreError("Invalid value for argument `imported`. Expected the uploaded file's name as file_name.")
    root = staging.parent
    write_json_atomic(staging / "config.json", {"spec": None, "settings": {}, "imported": imported})
    path = _claim_run_directory(root, name)  # The rename below then replaces the empty claimed directory.
    run_id = path.name
    now = timestamp()
    first = {"run_id": run_id, "name": name, "status": "imported", "created_at": now, **(summary or {})}
    first["imported_from"] = imported["file_name"]
    try:
        write_json_atomic(staging / "summary.json", first)
        os.replace(staging, path)
    except BaseException:
        path.rmdir()
        raise
    return path


# --- Reading -----------------------------------------------------------------------------------------------


def read_config(path: Path) -> dict[str, Any]:
    """A run's `config.json`: {"spec": the ExperimentSpec as a dict, "settings": how it is run}."""
    return _read_json(path / "config.json")


def read_summary(path: Path) -> dict[str, Any]:
    """A run's `summary.json`, as last written."""
    return _read_json(path / "summary.json")


def _read_json(path: Path) -> dict[str, Any]:
    with open(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_JSON_BYTES:  # Refused by its size before parsing: the studio writes a few kilobytes.
            raise ValueError(f"{path.name} is {size:,} bytes, more than the {MAX_JSON_BYTES:,} the studio writes")
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} does not hold a JSON object")
    return data


def process_identity(pid: int) -> dict[str, Any]:
    """The pid with its start time, so a recycled pid is not mistaken for the process that wrote a run."""
    return {"pid": pid, "start": _process_start(pid), "host": os.uname().nodename}


def _process_start(pid: int) -> str | None:
    try:
        # Field 22 of /proc/<pid>/stat is the start time in clock ticks since boot; fields after the
        # parenthesised command name are split from its last ")". Field 3 is the state: a zombie ("Z") has
        # ended and only waits for its parent to read its exit status, so it counts as gone.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except (OSError, IndexError):
        return None


def process_alive(identity: Any) -> bool:
    """Whether the process named by `identity` (from `process_identity`) is still running.

    A process of another host cannot be checked and counts as alive; an identity without a start time (a
    system without /proc) is trusted on its pid alone.
    """
    if not isinstance(identity, dict) or not isinstance(identity.get("pid"), int):
        return False
    if identity.get("host") != os.uname().nodename:
        return True  # Another machine's process: we cannot tell, so trust the status it wrote.
    pid = identity["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = _process_start(pid)
    if identity.get("start") is None:
        return start is not None or not Path("/proc").is_dir()
    return start == identity.get("start")


def owner_alive(summary: dict[str, Any]) -> bool:
    """Whether a process that works on a "running" run is alive: its supervisor ("process") or its worker."""
    return process_alive(summary.get("process")) or process_alive(summary.get("worker"))


def read_run(path: Path, read_only: bool = False) -> RunInfo:
    """Reads one run directory; never raises for a damaged run, which comes back with status "damaged"."""
    run_id = path.name
    try:
        summary = _read_json(path / "summary.json")
        config = _read_json(path / "config.json")
        # An imported model comes without a spec; any other run without one is damaged.
        spec = None if _imported(config) else ExperimentSpec.from_dict(config["spec"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:  # RecursionError: deep nesting.
        problem = f"{type(error).__name__}: {error}" if not isinstance(error, SpecError) else str(error)
        return RunInfo(run_id, path, "damaged", run_id, read_only=read_only, problem=problem)
    status = summary.get("status")
    if status not in STATUSES or status == "damaged":  # "damaged" is only ever the reader's verdict.
        problem = "summary.json has no status" if status is None else f"unknown status {status!r}"
        return RunInfo(run_id, path, "damaged", run_id, summary, spec, read_only, problem)
    if status == "running" and not owner_alive(summary):
        status = "interrupted"
    return RunInfo(run_id, path, status, str(summary.get("name", run_id)), summary, spec, read_only)


def _imported(config: dict[str, Any]) -> bool:
    return config.get("spec") is None and isinstance(config.get("imported"), dict)


def list_runs(runs_dir: Path | str = DEFAULT_RUNS_DIR, include_pretrained: bool = True) -> list[RunInfo]:
    """Every run in the store, newest first, then the shipped read-only runs."""
    runs: list[RunInfo] = []
    root = Path(runs_dir)
    if root.is_dir():
        # A symlink is never a run, even one that points to a run: it could lead out of the store.
        directories = [path for path in root.iterdir()
                       if path.is_dir() and not path.is_symlink() and RUN_ID.match(path.name)]  # fmt: skip
        runs += sorted((read_run(path) for path in directories), key=lambda run: run.run_id, reverse=True)
    if include_pretrained and PRETRAINED_DIR.is_dir() and PRETRAINED_DIR.resolve() != root.resolve():
        shipped = sorted(path for path in PRETRAINED_DIR.iterdir() if path.is_dir())
        runs += [read_run(path, read_only=True) for path in shipped]
    return runs


def load_run(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> RunInfo:
    """The run called `run_id`.

    Raises:
        RunStoreError: if the id is invalid or there is no such run.
    """
    path = run_path(run_id, runs_dir)
    return read_run(path, read_only=path.parent == PRETRAINED_DIR.resolve())


def load_history(run: RunInfo) -> list[dict[str, Any]]:
    """The run's epoch records; a torn last line (a process killed mid-write) is skipped."""
    records = []
    try:
        lines = (run.path / "history.jsonl").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def check_model_archive(path: Path) -> None:
    """Refuses a model file too large for any model of ours, before Keras opens it: by its size on disk, and by
    the sizes its zip directory gives for its members (a zip bomb is small on disk and huge unpacked).

    A file that is missing or not a zip archive is left for Keras, whose errors say so.

    Raises:
        ValueError: with the reason, for a file or archive over `MAX_MODEL_BYTES`.
    """
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ValueError(f"it is {size:,} bytes, more than the {MAX_MODEL_BYTES:,} of the largest model")
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (OSError, zipfile.BadZipFile):
        return
    if unpacked > MAX_MODEL_BYTES:
        raise ValueError(
            f"it would unpack to {unpacked:,} bytes, more than the {MAX_MODEL_BYTES:,} of the largest model"
        )


def load_model(run: RunInfo) -> Any:
    """The run's Keras model (imports Keras).

    Raises:
        RunStoreError: if the run has no model yet or its file cannot be read.
    """
    if not run.has_model:
        raise RunStoreError(f"Run {run.run_id!r} has no saved model yet (status: {run.status}).")
    try:
        check_model_archive(run.path / "model.keras")
    except ValueError as error:
        raise RunStoreError(f"The model file of run {run.run_id!r} cannot be read: {error}.") from error
    import keras

    try:
        # safe_mode=True refuses a Lambda layer, whose pickled code would run on loading.
        return keras.saving.load_model(run.path / "model.keras", compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a damaged archive.
        raise RunStoreError(f"The model file of run {run.run_id!r} cannot be read: {error}") from error


def rename_run(run_id: str, name: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> RunInfo:
    """Gives a run a new display name; its id and directory stay the same.

    Raises:
        RunStoreError: for shipped, damaged or missing runs, and names that are empty or over 64 characters.
    """
    run = _writable_run(run_id, runs_dir, "renamed")
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 64:
        raise RunStoreError(f"Invalid run name {name!r}. Expected 1 to 64 characters.")
    try:
        update_summary(run.path, name=name)
    except OSError as error:  # A read-only or full disk: the summary as it was stays in place.
        raise RunStoreError(f"Run {run_id!r} could not be renamed: {error.strerror or error}.") from error
    return load_run(run_id, runs_dir)


MAX_NOTE_CHARS = 200
MAX_TAGS = 8
MAX_TAG_CHARS = 24
# Control characters (C0, DEL, C1), and the bidirectional overrides and isolates that make text display in another
# order than it is stored, which a run table must not be made to do.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def check_note(note: str) -> str:
    """The note without surrounding spaces; "" removes it.

    Raises:
        RunStoreError: for a note over `MAX_NOTE_CHARS` characters or with control characters (a line break too).
    """
    note = note.strip() if isinstance(note, str) else note
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS or _UNPRINTABLE.search(note):
        raise RunStoreError(
            f"Invalid value for `note`. Expected one line of at most {MAX_NOTE_CHARS} characters without control "
            f"characters. Received {_preview(note)}."
        )
    return note


def parse_tags(text: str) -> tuple[str, ...]:
    """Comma-separated tags as a tuple: each stripped, empty ones dropped, repeats kept once (case aside).

    Raises:
        RunStoreError: for more than `MAX_TAGS` tags, a tag over `MAX_TAG_CHARS` characters, or control characters.
    """
    if not isinstance(text, str):
        raise RunStoreError(f"Invalid value for `tags`. Expected comma-separated text. Received {_preview(text)}.")
    tags: list[str] = []
    for tag in (part.strip() for part in text.split(",")):
        if len(tag) > MAX_TAG_CHARS or _UNPRINTABLE.search(tag):
            raise RunStoreError(
                f"Invalid tag {_preview(tag)}. Expected at most {MAX_TAG_CHARS} characters without control characters."
            )
        if tag and tag.casefold() not in {known.casefold() for known in tags}:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise RunStoreError(f"Invalid value for `tags`. Expected at most {MAX_TAGS} tags. Received {len(tags)}.")
    return tuple(tags)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def annotate_run(run_id: str, note: str, tags: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> RunInfo:
    """Sets a run's note and tags (comma-separated text), under the summary lock, so training loses neither.

    Raises:
        RunStoreError: for shipped, damaged or missing runs, and notes or tags that `check_note` or `parse_tags`
            refuse; nothing is written then.
    """
    note, parsed = check_note(note), parse_tags(tags)
    run = _writable_run(run_id, runs_dir, "given a note or tags")
    update_summary(run.path, note=note, tags=list(parsed))
    return load_run(run_id, runs_dir)


def delete_run(run_id: str, runs_dir: Path | str = DEFAULT_RUNS_DIR) -> None:
    """Deletes a run's directory.

    Raises:
        RunStoreError: for shipped runs, runs queued or still training in a live process, and missing runs.
    """
    run = _writable_run(run_id, runs_dir, "deleted", allow_damaged=True)
    if run.status == "running":
        raise RunStoreError(f"Run {run_id!r} is still training. Stop it before deleting it.")
    if run.status == "queued":
        raise RunStoreError(f"Run {run_id!r} is waiting in the queue. Cancel it instead of deleting it.")
    try:
        shutil.rmtree(run.path)
    except OSError as error:  # A read-only store.
        raise RunStoreError(f"Run {run_id!r} could not be deleted: {error.strerror or error}.") from error


def _writable_run(run_id: str, runs_dir: Path | str, verb: str, allow_damaged: bool = False) -> RunInfo:
    run = load_run(run_id, runs_dir)
    if run.read_only:
        raise RunStoreError(f"Run {run_id!r} ships with the studio and cannot be {verb}.")
    if run.status == "damaged" and not allow_damaged:
        raise RunStoreError(f"Run {run_id!r} is damaged ({run.problem}) and cannot be {verb}; delete it instead.")
    return run


# --- Command line ------------------------------------------------------------------------------------------


def _format_loss(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def main(argv: list[str] | None = None) -> int:
    """`python -m core.runs list|rename|delete`: the run store from the command line."""
    parser = argparse.ArgumentParser(prog="python -m core.runs", description="List and manage training runs.")
    parser.add_argument("--runs-dir", default=str(DEFAULT_RUNS_DIR), help="the run store (default: runs/)")
    commands = parser.add_subparsers(dest="command", required=True)
    list_parser = commands.add_parser("list", help="list runs with status and metrics")
    list_parser.add_argument("--json", action="store_true", help="print one JSON array")
    list_parser.add_argument("--runs-dir", default=argparse.SUPPRESS)
    rename_parser = commands.add_parser("rename", help="give a run a new display name")
    rename_parser.add_argument("run_id")
    rename_parser.add_argument("name")
    rename_parser.add_argument("--runs-dir", default=argparse.SUPPRESS)
    delete_parser = commands.add_parser("delete", help="delete a run")
    delete_parser.add_argument("run_id")
    delete_parser.add_argument("--runs-dir", default=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)

    try:
        if arguments.command == "rename":
            run = rename_run(arguments.run_id, arguments.name, arguments.runs_dir)
            print(f"Renamed {run.run_id} to {run.name!r}.")
            return 0
        if arguments.command == "delete":
            delete_run(arguments.run_id, arguments.runs_dir)
            print(f"Deleted {arguments.run_id}.")
            return 0
    except RunStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    runs = list_runs(arguments.runs_dir)
    if arguments.json:
        print(json.dumps([_run_row(run) for run in runs], indent=2))
        return 0
    if not runs:
        print(f"No runs in {arguments.runs_dir}.")
        return 0
    print(f"{'run id':<40} {'status':<12} {'epochs':>6} {'loss':>8} {'val':>8} {'test':>8}  name")
    for run in runs:
        row = _run_row(run)
        epochs = f"{row['epochs_completed']}/{row['epochs']}" if row["epochs"] else "-"
        flag = " (shipped)" if run.read_only else ""
        print(
            f"{run.run_id:<40} {run.status:<12} {epochs:>6} {_format_loss(row['loss']):>8} "
            f"{_format_loss(row['val_loss']):>8} {_format_loss(row['test_loss']):>8}  {run.name}{flag}"
        )
        if run.problem:
            print(f"{'':<40} problem: {run.problem}")
    return 0


def _run_row(run: RunInfo) -> dict[str, Any]:
    summary = run.summary
    return {
        "run_id": run.run_id,
        "name": run.name,
        "status": run.status,
        "path": str(run.path),
        "read_only": run.read_only,
        "denoiser": run.is_denoiser,
        "preset": run.spec.name if run.spec else None,
        "params": summary.get("params"),
        "epochs": run.spec.training.epochs if run.spec else None,
        "epochs_completed": summary.get("epochs_completed", 0),
        "loss": summary.get("loss"),
        "val_loss": summary.get("val_loss"),
        "test_loss": summary.get("test_loss"),
        "train_seconds": summary.get("train_seconds"),
        "created_at": summary.get("created_at"),
        "problem": run.problem,
    }


if __name__ == "__main__":
    sys.exit(main())
