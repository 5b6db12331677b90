"""Reconstructions: the 10,000 test images through the active model, paged, filtered, ranked and summarised."""

import streamlit as st

from core.inference import InferenceError, rank_images
from core.mnist import DataError
from core.runs import RunStoreError
from ui import state
from ui.reconstructions import (
    controls_ui,
    grid_footer_ui,
    grid_ui,
    header_ui,
    inspect_dialog_ui,
    pager_ui,
    summary_ui,
)
from ui.resources import get_noisy_test_report, get_test_report

st.title("Reconstructions")
run = state.active_run_or_stop("come back to compare the test images with their reconstructions")

header = st.container()  # Above the toolbar, but written once the toolbar has chosen which report to measure.
view = controls_ui(run)
try:
    report = get_noisy_test_report(run) if view.noisy else get_test_report(run)
except (RunStoreError, DataError, InferenceError) as problem:
    # A damaged model file, MNIST missing, or the model worker stopped (the next run starts a new one).
    st.error(str(problem))
    st.stop()
with header:
    header_ui(run, report, view.noisy)
ranked = rank_images(report.errors(view.error), report.labels, view.order, view.digit)

grid_page = pager_ui(ranked, view)
grid_ui(report, grid_page, view.error)
grid_footer_ui(run, report, view, grid_page)
inspect_dialog_ui(report, ranked, view.error)

st.subheader("Summary")
summary_ui(report, ranked, view)
