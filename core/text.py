"""Small text helpers for messages that the CLI, the worker and the pages all print."""

from __future__ import annotations

import os
import signal
import sysconfig
from pathlib import Path


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


def portable_paths(text: str, project_root: Path, runs_dir: Path | None = None) -> str:
    """`text` with no directory of this machine in it, so that a run's files can travel.

    The project's files are named as the project names them ("core/training.py"), Python's own and installed
    libraries "<stdlib>/..." and "<purelib>/...", the run store "<runs>/..." and the home directory "~/".
    """
    prefixes = {str(project_root): ""}
    prefixes.update({sysconfig.get_paths()[key]: f"<{key}>/" for key in ("stdlib", "platstdlib", "purelib", "platlib")})
    if runs_dir is not None:
        prefixes[str(runs_dir)] = "<runs>/"
    home = str(Path.home())
    if home not in ("", os.sep):
        prefixes[home] = "~/"
    for prefix in sorted(prefixes, key=len, reverse=True):  # The longest first: site-packages inside the project.
        text = text.replace(prefix + os.sep, prefixes[prefix])
    return text
