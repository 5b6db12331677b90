"""What one user is editing, kept in `st.session_state`: the draft spec and the active run.

A widget click reruns the whole script, so every page reads the draft through these helpers rather than
holding copies of its own. The sidebar's training widgets own the training settings; the Build page owns
the architecture; `current_spec` joins them.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core.presets import preset
from core.runs import RunInfo, default_runs_dir, list_runs
from core.spec import ExperimentSpec, TrainingSpec

DEFAULT_PRESET = "seed"
SPEC_KEY = "studio_spec"
ACTIVE_RUN_KEY = "studio_active_run"  # The source of truth; the sidebar's run picker shows it.
PICKER_VERSION_KEY = "studio_run_picker_version"  # Bumped when a page, not the picker, changes the active run.
LIMIT_KEY = "sidebar_limit"
BACKEND_KEY = "sidebar_backend"


def init_state() -> None:
    """Fills in the defaults on a session's first run."""
    if SPEC_KEY not in st.session_state:
        st.session_state[SPEC_KEY] = preset(DEFAULT_PRESET)


def current_spec() -> ExperimentSpec:
    """The experiment as the user has it now: the Build page's architecture with the sidebar's training."""
    init_state()
    return st.session_state[SPEC_KEY]


def set_spec(spec: ExperimentSpec) -> None:
    st.session_state[SPEC_KEY] = spec


def set_architecture(spec: ExperimentSpec) -> None:
    """Keeps the architecture of `spec` and the training settings the sidebar holds."""
    set_spec(replace(spec, training=current_spec().training))


def set_training(training: TrainingSpec) -> None:
    set_spec(replace(current_spec(), training=training))


def training_limit() -> int | None:
    """How many of the 60,000 training images to use (None for all)."""
    limit = st.session_state.get(LIMIT_KEY)
    return None if limit is None or limit >= 60_000 else int(limit)


def training_backend() -> str | None:
    """The Keras backend picked in the sidebar (None before the sidebar has drawn: the runner's default)."""
    return st.session_state.get(BACKEND_KEY)


def usable_runs() -> list[RunInfo]:
    """Runs whose model can be loaded, newest first, then the shipped ones."""
    return [run for run in list_runs(default_runs_dir()) if run.has_model and run.status != "damaged"]


def activate_run(run_id: str) -> None:
    """Makes `run_id` the active run, and the run picker show it from its next drawing on.

    The picker gets a new widget key: the browser may still hold the old picker's value and send it with the
    next rerun (say, a click on another page right after training ends), which would otherwise win.
    """
    st.session_state[ACTIVE_RUN_KEY] = run_id
    st.session_state[PICKER_VERSION_KEY] = st.session_state.get(PICKER_VERSION_KEY, 0) + 1


def active_run() -> RunInfo | None:
    """The run the Reconstructions and Draw pages use: the one picked or activated, else the newest usable."""
    runs = usable_runs()
    run_id = st.session_state.get(ACTIVE_RUN_KEY)
    return next((run for run in runs if run.run_id == run_id), runs[0] if runs else None)


def active_run_or_stop(then: str) -> RunInfo:
    """The active run; without one, says how to get one (`then`: what the page would do with it) and stops the page."""
    run = active_run()
    if run is None:
        st.info(f"No trained model yet. Train one on the Train page, then {then}.")
        st.page_link("app_pages/train.py", label="Train a model", icon=":material/monitoring:")
        st.stop()
    return run
