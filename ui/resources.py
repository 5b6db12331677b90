"""Process-wide resources, created once and shared by every session (Streamlit's `cache_resource`).

Models and test-set reports are keyed by run id and the model file's modification time, so a run that is
still training (its model rewritten each epoch) is reloaded when it changes.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.jobs import JobRunner, shared_runner
from core.runs import RunInfo, default_runs_dir, load_run


@st.cache_resource(show_spinner=False)
def _runner(runs_dir: str) -> JobRunner:
    return shared_runner(runs_dir)


def get_runner() -> JobRunner:
    """The one job runner of this server process: it reads the store's jobs for every session and tab."""
    return _runner(str(default_runs_dir()))


def model_version(run: RunInfo) -> float:
    """The model file's modification time: part of every cache key that depends on the weights."""
    path = run.path / "model.keras"
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def _model(run_id: str, version: float, runs_dir: str) -> Any:
    from core.runs import load_model

    return load_model(load_run(run_id, runs_dir))


def get_model(run: RunInfo) -> Any:
    """The run's Keras model, loaded once per version of its file."""
    return _model(run.run_id, model_version(run), str(default_runs_dir()))


@st.cache_resource(show_spinner="Reconstructing the 10,000 test images...", max_entries=2)
def _test_report(run_id: str, version: float, runs_dir: str) -> Any:
    from core.inference import evaluate_test_set

    return evaluate_test_set(_model(run_id, version, runs_dir))


def get_test_report(run: RunInfo) -> Any:
    """Reconstructions and per-image errors of the whole test set for the run's model (read-only, shared)."""
    return _test_report(run.run_id, model_version(run), str(default_runs_dir()))


@st.cache_resource(show_spinner="Loading MNIST...")
def get_mnist() -> Any:
    """The MNIST arrays, loaded and verified once per process."""
    from core.data import load_mnist

    return load_mnist()


@st.cache_resource(show_spinner="Reconstructing the 10,000 test images with noise added...", max_entries=2)
def _noisy_test_report(run_id: str, version: float, runs_dir: str, kind: str, amount: float, seed: int) -> Any:
    from core.inference import evaluate_test_set

    model = _model(run_id, version, runs_dir)
    return evaluate_test_set(model, noise_kind=kind, noise_amount=amount, seed=seed)


def get_noisy_test_report(run: RunInfo) -> Any:
    """Like `get_test_report`, but the model is given test images corrupted with the run's training noise.

    The noise is drawn with the run's seed + 2, as the training worker draws it for the run's `test_noisy_loss`, so the
    mean error here matches that figure. A run trained without noise gets its clean report.
    """
    if run.spec is None or run.spec.training.noise.kind == "none":
        return get_test_report(run)
    noise, seed = run.spec.training.noise, run.spec.training.seed + 2
    return _noisy_test_report(run.run_id, model_version(run), str(default_runs_dir()), noise.kind, noise.amount, seed)
