"""What one user is editing, kept in `st.session_state`: the draft spec and the active run.

A widget click reruns the whole script, so every page reads the draft through these helpers rather than
holding copies of its own. The sidebar's training widgets own the training settings; the Build page owns
the architecture; `current_spec` joins them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import streamlit as st

from core.presets import preset
from core.runs import RunInfo, default_runs_dir, list_runs
from core.spec import ExperimentSpec, TrainingSpec

DEFAULT_PRESET = "seed"
SPEC_KEY = "studio_spec"
ACTIVE_RUN_KEY = "studio_active_run"  # The source of truth; the sidebar's run picker shows it.
ACTIVE_RUN_CHOSEN_KEY = "studio_active_run_chosen"  # True once the user picks a run or trains one.
DENOISER_PICKED_KEY = "studio_denoiser_picked"  # The run the Draw page made active because it is a denoiser.
PICKER_VERSION_KEY = "studio_run_picker_version"  # Bumped when a page, not the picker, changes the active run.
LIMIT_KEY = "sidebar_limit"
BACKEND_KEY = "sidebar_backend"
KEPT_SUFFIX = "_kept"  # `keep` copies a widget's value to its key plus this: a key of no widget, never forgotten.


def init_state() -> None:
    """Fills in the defaults on a session's first run."""
    if SPEC_KEY not in st.session_state:
        st.session_state[SPEC_KEY] = preset(DEFAULT_PRESET)


def bring_back(key: str, default: object) -> None:
    """Gives the widget under `key` the value `keep` last kept for it, or `default` before there is one.

    Streamlit forgets a widget's value at the end of a run that does not draw the widget, as a run of another page
    does, and the widget would come back with its default. Call this before drawing the widget, and `keep` after;
    the widget then takes its value from the session state, so it needs no default of its own (`index`, `value`).
    """
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(key + KEPT_SUFFIX, default)


def bring_back_all(defaults: Mapping[str, object]) -> None:
    """`bring_back` for each key and default of a form's widgets."""
    for key, default in defaults.items():
        bring_back(key, default)


def keep(*keys: str) -> None:
    """Copies the widgets' values (drawn in this run) where `bring_back` finds them after a visit to another page."""
    for key in keys:
        st.session_state[key + KEPT_SUFFIX] = st.session_state[key]


def keep_value(key: str, value: object) -> None:
    """Keeps what a widget gives rather than its own value (an edited table, a drawing), for `kept`."""
    st.session_state[key + KEPT_SUFFIX] = value


def kept(key: str, default: object = None) -> object:
    """The value last kept under `key`, or `default` before there is one."""
    return st.session_state.get(key + KEPT_SUFFIX, default)


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


def activate_run(run_id: str, chosen: bool = True) -> None:
    """Makes `run_id` the active run, and the run picker show it from its next drawing on.

    The picker gets a new widget key: the browser may still hold the old picker's value and send it with the
    next rerun (say, a click on another page right after training ends), which would otherwise win.

    Args:
        run_id: the run to make active.
        chosen: whether the user chose it (a run they trained); a default the studio picks is not chosen, and
            gives way to the Draw page's denoiser (`activate_a_denoiser`).
    """
    st.session_state[ACTIVE_RUN_KEY] = run_id
    st.session_state[PICKER_VERSION_KEY] = st.session_state.get(PICKER_VERSION_KEY, 0) + 1
    if chosen:
        choose_run(run_id)


def choose_run(run_id: str) -> None:
    """Makes `run_id` the active run as the user's own choice (the sidebar's picker calls it)."""
    st.session_state[ACTIVE_RUN_KEY] = run_id
    st.session_state[ACTIVE_RUN_CHOSEN_KEY] = True


def best_denoiser(runs: list[RunInfo]) -> RunInfo | None:
    """The denoiser among `runs` with the lowest binary cross-entropy on noisy test inputs, or None if none is.

    Runs trained with another loss, or without that figure yet (still training), come after those with it, in
    their order in `runs`.
    """
    denoisers = [run for run in runs if run.is_denoiser]

    def noisy_test_loss(run: RunInfo) -> float:
        value = run.summary.get("test_noisy_loss")
        comparable = run.spec is not None and run.spec.training.loss == "binary_crossentropy"
        return float(value) if comparable and isinstance(value, (int, float)) else float("inf")

    return min(denoisers, key=noisy_test_loss, default=None)  # `min` keeps the first of equal runs.


def activate_a_denoiser() -> RunInfo | None:
    """Makes the best denoiser the active run, unless the user has chosen a run or the active run is a denoiser.

    The Draw page calls it, so that noise on a first drawing is cleaned up at once.

    Returns:
        The denoiser made active, or None if the active run stays as it was.
    """
    runs = usable_runs()
    active = active_run(runs)
    if st.session_state.get(ACTIVE_RUN_CHOSEN_KEY) or active is None or active.is_denoiser:
        return None
    denoiser = best_denoiser(runs)
    if denoiser is None:
        return None
    activate_run(denoiser.run_id, chosen=False)
    st.session_state[DENOISER_PICKED_KEY] = denoiser.run_id
    return denoiser


def denoiser_was_picked(run: RunInfo) -> bool:
    """Whether `run` is active because the Draw page picked it as the best denoiser."""
    return st.session_state.get(DENOISER_PICKED_KEY) == run.run_id and not st.session_state.get(ACTIVE_RUN_CHOSEN_KEY)


def active_run(runs: list[RunInfo] | None = None) -> RunInfo | None:
    """The run the Reconstructions and Draw pages use: the one picked or activated, else the newest usable.

    Args:
        runs: the usable runs, when the caller has listed them already; a second listing could differ from the
            caller's (a job may finish or a run be deleted in between).
    """
    runs = usable_runs() if runs is None else runs
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
