"""Small text helpers for messages that the CLI, the worker and the pages all print."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """ "1 epoch", "3 epochs"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
