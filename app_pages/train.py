"""Train: start the current experiment, watch it live, stop it; the queue; manage the runs in the store."""

import streamlit as st

from core.jobs import JobRunner
from ui.jobs import controls_ui, job_ui, parallel_ui, queue_ui
from ui.resources import get_runner
from ui.run_manager import runs_ui


@st.fragment(run_every=1.0)
def live_ui(runner: JobRunner) -> None:
    """The controls, the followed job and the queue, redrawn every second.

    A fragment reruns alone, so the chart follows the job without redrawing the page. Jobs train in worker
    processes and write their events to the run store, so any tab, or a reloaded one, shows the same jobs.
    """
    job = controls_ui(runner)
    if job.status == "idle":
        st.info("No training job has run since the server started. Press **Start training** to begin.")
    else:
        job_ui(job)
    queue_ui(runner, job)


st.title("Train")
runner = get_runner()
live_ui(runner)
with st.expander("Queue settings"):
    parallel_ui(runner)
st.subheader("Runs")
runs_ui()
