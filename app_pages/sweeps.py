"""Sweeps: many runs of one experiment with settings varied, here or on a Ray cluster; compare them as they train."""

import streamlit as st

from ui.sweeps import best_ui, define_ui, picker_ui, refreshed, results_ui, start_ui, status_ui, where_ui

st.title("Sweeps")
with st.expander("Define a sweep", expanded=True):
    definition = define_ui()
    address, parallel = where_ui()
    start_ui(definition, address, parallel)

picked = picker_ui()
if picked is None:
    st.info("No sweep yet. Define one above, say two learning rates, and start it: each trial is a run of the "
            "store, trained in the job queue like any other.")  # fmt: skip
    st.stop()


# The trials train in worker processes and write to the store, so the fragment rereads it every 2 s.
@st.fragment(run_every=2.0)
def watch_ui() -> None:
    """The picked sweep's status and controls, curves, table, chart and best trial, redrawn while it runs."""
    info = status_ui(refreshed(picked))
    results_ui(info)
    best_ui(info)


watch_ui()
