"""The Sweeps page's widget groups: define a sweep, pick one, control it, and watch its trials.

A sweep runs in a driver process of its own (`core.sweep`), whose trials are runs of the store, so these widgets
only write definitions, ask to start, stop or resume, and read the store.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import streamlit as st

from core.jobs import max_parallel
from core.presets import PRESETS
from core.runs import default_runs_dir
from core.sweep import (
    MAX_TRIALS,
    RAY_INSTALL,
    SweepDefinition,
    SweepError,
    SweepInfo,
    combination_count,
    create_sweep,
    list_sweeps,
    plan_note,
    plan_trials,
    ray_available,
    read_sweep,
    start_sweep,
    stop_sweep,
)
from core.sweep_charts import curves_figure, parallel_coordinates_figure, table_rows, trial_curves
from core.text import plural
from ui import state
from ui.compare import ADD_KEY as COMPARE_ADD_KEY

SWEEP_KEY = "sweeps_picked"  # The sweep this session watches.
CURRENT = "current experiment"  # The base spec option that means the sidebar's and Build page's spec.
EXAMPLE_PARAMETERS = '{"training.learning_rate": [0.001, 0.003]}'
FORM_DEFAULTS = {
    "sweeps_name": "learning-rates",
    "sweeps_base": CURRENT,
    "sweeps_parameters": EXAMPLE_PARAMETERS,
    "sweeps_search": "grid",
    "sweeps_trials": 4,
    "sweeps_seed": 0,
    "sweeps_minutes": 0.0,
    "sweeps_early": True,
}  # The epochs and images start from the base spec and the sidebar instead.


def define_ui() -> SweepDefinition | None:
    """The definition form; returns the sweep it describes, or None (with the reason shown) if it is invalid.

    Its values are kept through a visit to another page: a form come back to its defaults would start a full-size
    sweep from the next click on Start.
    """
    state.bring_back_all(FORM_DEFAULTS)
    name_column, base_column = st.columns(2)
    name = name_column.text_input("Sweep name", max_chars=40, key="sweeps_name")
    base = base_column.selectbox("Start from", [CURRENT, *PRESETS], key="sweeps_base",
                                 help="The spec every trial starts from: the experiment you are editing, or a "
                                      "preset.")  # fmt: skip
    parameters_text = st.text_area(
        "Parameters (JSON: a path and its values)", key="sweeps_parameters", height=110,
        help='Paths into the spec: "preset", "encoder[0].filters", "decoder[1].strides", "training.learning_rate", '
             '"training.noise.amount". A list is a choice; {"uniform": [low, high]} and {"log_uniform": [low, '
             'high]} are ranges for a random search.',
    )  # fmt: skip
    search_column, trials_column, seed_column = st.columns(3)
    search = search_column.selectbox("Search", ["grid", "random"], key="sweeps_search")
    trials = trials_column.number_input("Trials (budget)", min_value=1, max_value=MAX_TRIALS, key="sweeps_trials")
    seed = seed_column.number_input("Seed", min_value=0, key="sweeps_seed")
    epochs_column, images_column, time_column = st.columns(3)
    base_spec = state.current_spec() if base == CURRENT else PRESETS[base]
    epochs_key = f"sweeps_epochs_{base}"  # One per base, each starting at its base's epochs.
    state.bring_back_all({epochs_key: base_spec.training.epochs, "sweeps_images": state.training_limit() or 60_000})
    epochs = epochs_column.number_input("Epochs per trial", min_value=1, max_value=1000, key=epochs_key)
    images = images_column.number_input("Training images per trial", min_value=10, max_value=60_000, step=1000,
                                        key="sweeps_images")  # fmt: skip
    minutes = time_column.number_input("Time limit (minutes, 0 for none)", min_value=0.0, step=5.0,
                                       key="sweeps_minutes")  # fmt: skip
    early = st.checkbox("Stop poor trials early (ASHA: keep the best half at epochs 1, 2, 4, ...)",
                        key="sweeps_early")  # fmt: skip
    state.keep(*FORM_DEFAULTS, epochs_key, "sweeps_images")
    try:
        parameters = json.loads(parameters_text)
    except json.JSONDecodeError as error:
        st.error(f"The parameters are not valid JSON: {error}. Expected an object such as {EXAMPLE_PARAMETERS}.")
        return None
    data = {
        "name": name, "spec": base_spec.with_training(epochs=int(epochs)).to_dict(), "parameters": parameters,
        "search": search, "seed": int(seed), "trials": int(trials), "limit": None if images >= 60_000 else int(images),
        "time_limit_seconds": minutes * 60 if minutes else None,
        "early_stopping": {"grace_epochs": 1, "reduction_factor": 2} if early else None,
    }  # fmt: skip
    try:
        definition = SweepDefinition.from_dict(data)
    except SweepError as error:
        st.error(str(error))
        return None
    with st.expander("The definition as JSON (python -m core.sweep start SWEEP.json runs it too)"):
        st.code(definition.to_json(), language="json")
    return definition


def where_ui() -> tuple[str | None, int]:
    """Where the trials run: (a Ray address or None for this machine's job queue, how many at once)."""
    places = ["This machine (the job queue)", "A Ray cluster"]
    state.bring_back_all({"sweeps_where": places[0]})
    place = st.radio("Where trials run", places, horizontal=True, key="sweeps_where")
    state.keep("sweeps_where")
    runs_dir = default_runs_dir()
    if place.startswith("This"):
        state.bring_back_all({"sweeps_parallel": max_parallel(runs_dir)})
        parallel = st.number_input("Trials at once", min_value=1, max_value=64, key="sweeps_parallel",
                                   help="The queue's setting (Train page, Queue settings): how many jobs of the "
                                        "store train at once.")  # fmt: skip
        state.keep("sweeps_parallel")
        return None, int(parallel)
    if not ray_available():
        st.info(f"Ray is not installed, so sweeps run on this machine only. Install Ray Tune with `{RAY_INSTALL}` "
                "and restart the dashboard.")  # fmt: skip
    state.bring_back_all({"sweeps_ray_address": os.environ.get("RAY_ADDRESS", "auto"), "sweeps_ray_parallel": 2})
    address = st.text_input("Ray address", key="sweeps_ray_address",
                            help="As `ray.init` takes it: auto, 127.0.0.1:6379, ray://head:10001.")  # fmt: skip
    parallel = st.number_input("Trials at once", min_value=1, max_value=64, key="sweeps_ray_parallel")
    state.keep("sweeps_ray_address", "sweeps_ray_parallel")
    return address.strip() or "auto", int(parallel)


def _set_budget(trials: int) -> None:
    st.session_state["sweeps_trials"] = trials  # A callback runs before the rerun draws the budget's input.


def start_ui(definition: SweepDefinition | None, address: str | None, parallel: int) -> None:
    """What the budget leaves out, and the Start button: creates the sweep and starts its driver; the page then
    watches it."""
    count = len(plan_trials(definition, checked=False)) if definition else 0
    note = plan_note(definition) if definition else None
    if note and definition is not None:
        combinations = combination_count(definition) or 0
        if definition.search == "grid" and definition.trials < combinations:
            st.warning(note)
            if combinations <= MAX_TRIALS:
                st.button(f"Raise the budget to {combinations} trials", key="sweeps_raise_budget",
                          on_click=_set_budget, args=(combinations,))  # fmt: skip
        else:  # Fewer combinations than the budget: the Start button's count already says so; this says why.
            st.caption(note)
    disabled = definition is None or (address is not None and not ray_available())
    if st.button(f"Start sweep of {plural(count, 'trial')}", type="primary", disabled=disabled, key="sweeps_start"):
        assert definition is not None
        try:
            sweep_id = create_sweep(definition, default_runs_dir())
            start_sweep(sweep_id, default_runs_dir(), ray_address=address, parallel=parallel)
        except (SweepError, OSError) as error:
            st.error(str(error))
            return
        st.session_state[SWEEP_KEY] = sweep_id


def picker_ui() -> SweepInfo | None:
    """The sweep to watch: this session's latest, else the newest in the store."""
    sweeps = list_sweeps(default_runs_dir())
    if not sweeps:
        return None
    ids = [info.sweep_id for info in sweeps]
    labels = {info.sweep_id: f"{info.definition.name} · {info.sweep_id}" for info in sweeps}  # Its status is below.
    picked = st.session_state.get(SWEEP_KEY)
    index = ids.index(picked) if picked in ids else 0
    sweep_id = st.selectbox("Sweep", ids, index=index, format_func=labels.get, key=f"sweeps_picker_{picked}")
    st.session_state[SWEEP_KEY] = sweep_id
    return next(info for info in sweeps if info.sweep_id == sweep_id)


def status_ui(info: SweepInfo) -> SweepInfo:
    """The sweep's status line and its Stop or Resume button; returns the sweep as it is after a click."""
    where = "on Ray" if info.executor == "ray" else "in the local job queue"
    done = f"{info.done_count} of {len(info.trials)} trials done"
    st.markdown(f"**{info.definition.name}** · {info.status} {where if info.active else ''} · {done}")
    if info.message:
        st.caption(info.message)
    runs_dir = default_runs_dir()
    try:
        if info.active and st.button("Stop sweep", key="sweeps_stop", help="Stops its trials; resume it later."):
            info = stop_sweep(info.sweep_id, runs_dir)
        elif not info.active and info.done_count < len(info.trials):
            label = "Start" if info.status == "created" else "Resume"
            if st.button(f"{label} sweep", key="sweeps_resume", help="Runs the trials not yet done."):
                state_parallel = info.state.get("parallel")
                info = start_sweep(info.sweep_id, runs_dir, ray_address=info.state.get("ray_address"),
                                   parallel=state_parallel)  # fmt: skip
    except SweepError as error:
        st.error(str(error))
    return info


def results_ui(info: SweepInfo) -> None:
    """The overlaid loss curves, the sortable trial table, and settings against results."""
    runs_dir = default_runs_dir()
    st.plotly_chart(curves_figure(info, trial_curves(info, runs_dir)), key="sweeps_curves",
                    config={"displaylogo": False})  # fmt: skip
    st.caption("Each trial's smoothed batch loss, its validation loss per epoch (circles), and ✕ where early "
               "stopping ended it; dotted lines mark the epochs at which trials are compared.")  # fmt: skip
    st.dataframe(pd.DataFrame(table_rows(info)), hide_index=True, key="sweeps_table",
                 column_config={"test_loss": st.column_config.NumberColumn(format="%.4f"),
                                "val_loss": st.column_config.NumberColumn(format="%.4f")})  # fmt: skip
    figure = parallel_coordinates_figure(info)
    if figure is not None:
        st.plotly_chart(figure, key="sweeps_parallel_coordinates", config={"displaylogo": False})


def best_ui(info: SweepInfo) -> None:
    """The best finished trial, and one click to open it on Reconstructions or add it to Compare runs."""
    best = info.best()
    if best is None or best.run_id is None:
        return
    st.markdown(f"**Best trial: #{best.number}**, test loss {best.test_loss:.4f} · run `{best.run_id}`")
    open_column, compare_column, _ = st.columns([1, 1, 3])
    if open_column.button("Open on Reconstructions", key="sweeps_open_best", icon=":material/grid_view:"):
        state.activate_run(best.run_id)
        st.switch_page("app_pages/reconstructions.py")
    if compare_column.button("Add to Compare runs", key="sweeps_compare_best", icon=":material/compare:"):
        st.session_state[COMPARE_ADD_KEY] = best.run_id
        st.switch_page("app_pages/compare.py")


def refreshed(info: SweepInfo) -> SweepInfo:
    return read_sweep(info.sweep_id, default_runs_dir())
