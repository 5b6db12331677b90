"""A training job's event log: one JSON object a line in `events.jsonl` of its run directory.

The worker appends "start", "batch", "epoch" and "end" events as they happen; each line is written with a single
unbuffered `write`, so a reader in any process sees it at once, and a worker killed mid-line leaves at most one
torn last line, which readers skip. NumPy arrays (the epoch's preview digits) travel as base64 float16, about
12 KB for eight 28x28 images, and come back as float32.

This module imports neither Keras nor the runner, so both the worker's training procedure and the dashboard's
job runner can use it.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

EVENTS_FILE = "events.jsonl"
_ARRAY_KEY = "$array"


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value, dtype=np.float16)
        return {_ARRAY_KEY: base64.b64encode(array.tobytes()).decode("ascii"), "shape": list(array.shape)}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and _ARRAY_KEY in value:
        raw = base64.b64decode(value[_ARRAY_KEY])
        return np.frombuffer(raw, dtype=np.float16).reshape(value["shape"]).astype(np.float32)
    return value


class EventWriter:
    """Appends events to a run's `events.jsonl`; each event is visible to readers as soon as `write` returns."""

    def __init__(self, run_path: Path) -> None:
        self.path = Path(run_path) / EVENTS_FILE
        self._descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, kind: str, **data: Any) -> dict[str, Any]:
        """Appends one event of `kind` stamped with the time, and returns it as a reader will see it."""
        event = {"kind": kind, "time": time.time(), **data}
        line = json.dumps({key: _encode(value) for key, value in event.items()}) + "\n"
        os.write(self._descriptor, line.encode())
        return event

    def close(self) -> None:
        os.close(self._descriptor)

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()


class EventSink(Protocol):
    """Anything that takes events as `EventWriter.write` does: the run's log, or a mirror of it (TensorBoard)."""

    def write(self, kind: str, **fields: Any) -> None: ...


class MirroredEvents:
    """Writes each event to a run's log, then to mirrors of it, such as its TensorBoard logs."""

    def __init__(self, log: EventSink, *mirrors: EventSink) -> None:
        self.log, self.mirrors = log, mirrors

    def write(self, kind: str, **fields: Any) -> None:
        self.log.write(kind, **fields)
        for mirror in self.mirrors:
            mirror.write(kind, **fields)


class EventReader:
    """Reads a run's events incrementally: each `read` returns only the events appended since the last one."""

    def __init__(self, run_path: Path) -> None:
        self.path = Path(run_path) / EVENTS_FILE
        self.offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        """The complete events written since the previous call; an unfinished last line waits for its end."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # A line torn by a killed writer.
            if isinstance(event, dict) and isinstance(event.get("kind"), str):
                events.append({key: _decode(value) for key, value in event.items()})
        return events


def read_events(run_path: Path) -> list[dict[str, Any]]:
    """Every complete event of a run, from the start of its log."""
    return EventReader(run_path).read()
