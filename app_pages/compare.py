"""Compare runs: 2 to 4 trained runs side by side: loss curves, settings and metrics, reconstructions, digit errors."""

import streamlit as st

from core.comparison import MIN_RUNS, distinct_names
from ui import state
from ui.compare import digests_ui, digit_errors_ui, loss_curves_ui, picker_ui, reconstructions_ui, tables_ui
from ui.run_manager import notes_ui

st.title("Compare runs")
runs = state.usable_runs()
if len(runs) < MIN_RUNS:
    have = "no trained run" if not runs else "one trained run"
    st.info(f"Comparing needs at least two trained runs, and the store has {have}. Train another on the Train "
            "page, say with a different preset or learning rate, then come back to set them side by side.")  # fmt: skip
    st.page_link("app_pages/train.py", label="Go to the Train page", icon=":material/monitoring:")
    st.stop()

picked = picker_ui(runs)
if len(picked) < MIN_RUNS:
    st.info("Pick at least two runs to compare them.")
    st.stop()
names = distinct_names(picked)

st.subheader("Loss curves")
loss_curves_ui(picked, names)

st.subheader("Settings and metrics")
tables_ui(picked)
with st.expander("Notes and tags"):
    notes_ui(picked, "compare_notes")

digests = digests_ui(picked)  # The test set through each run's model, in the inference worker.
if digests is None:
    st.stop()
st.subheader("The same test digits, reconstructed by each run")
reconstructions_ui(names, digests)

st.subheader("Error per digit")
digit_errors_ui(names, digests)
