"""Process-wide resources, created once and shared by every session (Streamlit's `cache_resource`).

Models live in the one inference worker of this server (`core.inference.InferenceWorker`): this process never
imports Keras. The worker reloads a model file that changed; test-set reports here are keyed by run id and the
model file's modification time, so a run that is still training (its model rewritten each epoch) is measured
again when it changes.
"""

from __future__ import annotations

import streamlit as st

from core.inference import InferenceWorker, RemoteModel, TestSetReport, evaluate_test_set
from core.jobs import JobRunner, shared_runner
from core.mnist import Mnist, load_mnist
from core.noise import TEST_NOISE_SEED_OFFSET
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


# Released when the cache is cleared (the app menu's "Clear caches"): the worker process ends with its client.
@st.cache_resource(show_spinner=False, on_release=InferenceWorker.close)
def get_inference_worker() -> InferenceWorker:
    """The one inference worker of this server process, shared by every session; it starts on first use."""
    return InferenceWorker()


def start_inference_worker() -> None:
    """Starts the inference worker if it is not running, and returns at once.

    The entry script calls this on every run, so the worker imports Keras in the background while the user is
    still on the first page, and the first model call does not wait for it.
    """
    get_inference_worker().start()


def get_model(run: RunInfo) -> RemoteModel:
    """A handle on the run's model in the inference worker, which loads each version of its file once."""
    return get_inference_worker().model(run)


@st.cache_resource(show_spinner="Reconstructing the 10,000 test images...", max_entries=2)
def _test_report(run_id: str, version: float, runs_dir: str) -> TestSetReport:
    return evaluate_test_set(get_model(load_run(run_id, runs_dir)))


def get_test_report(run: RunInfo) -> TestSetReport:
    """Reconstructions and per-image errors of the whole test set for the run's model (read-only, shared).

    Raises:
        RunStoreError: (a `core.inference.ModelFileError`) if the run's model file is missing or damaged.
        InferenceError: if the inference worker stopped or failed; the next call starts a new one.
        DataError: if MNIST cannot be loaded.
    """
    return _test_report(run.run_id, model_version(run), str(default_runs_dir()))


@st.cache_resource(show_spinner="Loading MNIST...")
def get_mnist() -> Mnist:
    """The MNIST arrays, loaded and verified once per process."""
    return load_mnist()


@st.cache_resource(show_spinner="Reconstructing the 10,000 test images with noise added...", max_entries=2)
def _noisy_test_report(
    run_id: str, version: float, runs_dir: str, kind: str, amount: float, seed: int
) -> TestSetReport:
    model = get_model(load_run(run_id, runs_dir))
    return evaluate_test_set(model, noise_kind=kind, noise_amount=amount, seed=seed)


def get_noisy_test_report(run: RunInfo) -> TestSetReport:
    """Like `get_test_report`, but the model is given test images corrupted with the run's training noise.

    The noise is drawn as `core.noise.noisy_test_images` draws it for the run's `test_noisy_loss`, so the mean
    error here matches that figure. A run trained without noise gets its clean report. Raises as
    `get_test_report` does.
    """
    if run.spec is None or run.spec.training.noise.kind == "none":
        return get_test_report(run)
    noise, seed = run.spec.training.noise, run.spec.training.seed + TEST_NOISE_SEED_OFFSET
    return _noisy_test_report(run.run_id, model_version(run), str(default_runs_dir()), noise.kind, noise.amount, seed)
