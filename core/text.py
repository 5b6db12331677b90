"""Small text helpers for messages that the CLI, the worker and the pages all print."""

from __future__ import annotations

import signal


def plural(count: int, noun: str) -> str:
    """ "1 epoch", "3 epochs"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def describe_exit(code: int | None) -> str:
    """How a process ended, from its exit code: "killed by signal 9 (SIGKILL)", "exit code 1"."""
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
