"""Train: start the current experiment, watch it live, stop it; the queue; manage the runs in the store."""

import streamlit as st

from core.jobs import JobRunner
from core.runs import default_runs_dir, list_runs
from ui.export import export_ui
from ui.jobs import controls_ui, followed_job, job_chart_ui, job_status_ui, parallel_ui, queue_ui
from ui.resources import get_runner
from ui.run_manager import runs_ui


# Fragments rerun alone, so the job is followed without redrawing the page. Jobs train in worker processes and
# write their events to the run store, so any tab, or a reloaded one, shows the same jobs.
@st.fragment(run_every=1.0)
def status_ui(runner: JobRunner) -> None:
    """The controls, the followed job's status and progress, and the queue, redrawn every second."""
    job = controls_ui(runner)
    if job.status == "idle":
        st.info("No training job has run since the server started. Press **Start training** to begin.")
    else:
        job_status_ui(job)
    queue_ui(runner, job)


# Every 3 s, not every second: redrawing a chart of thousands of points takes the browser and the server time
# that the training worker, on the same cores, would otherwise have (measured in BENCHMARKS.md).
@st.fragment(run_every=3.0)
def chart_ui(runner: JobRunner) -> None:
    """The followed job's loss chart, latest reconstructions and outcome."""
    job = followed_job(runner)
    if job.status != "idle":
        job_chart_ui(job)


st.title("Train")
runner = get_runner()
status_ui(runner)
chart_ui(runner)
with st.expander("Queue settings"):
    parallel_ui(runner)
st.subheader("Runs")
runs_ui()
with st.expander("Export a run", icon=":material/download:"):
    export_ui(list_runs(default_runs_dir()))
