"""Train: start the current experiment, watch it live, stop it; manage the runs in the store."""

import numpy as np
import streamlit as st

from core.data import test_floor
from core.engine import EngineBusyError, plural
from core.runs import RunStoreError, default_runs_dir, delete_run, list_runs, rename_run
from core.shapes import infer_shapes
from core.spec import SpecError
from core.training_chart import loss_figure, preview_strip, progress
from ui import state
from ui.entry import require_entry_script
from ui.resources import get_engine
from ui.validation import spec_problem

require_entry_script()

FINISHED_KEY = "train_finished_job"  # The last finished job this session has already made the active run.


def controls_ui(engine) -> None:
    """The Start and Stop buttons, with the reason when Start cannot be used."""
    spec = state.current_spec()
    snapshot = engine.snapshot()
    error = spec_problem(spec)
    problem = None if error is None else str(error)
    limit = state.training_limit()
    report = infer_shapes(spec) if problem is None else None
    images = f"the first {limit:,}" if limit else "all 60,000"
    if report is not None:
        st.markdown(
            f"**{spec.name}** · {report.params:,} parameters · {plural(spec.training.epochs, 'epoch')} of {images} "
            f"training images, batch {spec.training.batch_size}, "
            f"{spec.training.optimizer} at {spec.training.learning_rate:g}"
        )
    start, stop, _ = st.columns([1, 1, 4])
    reason = problem or ("A job is already running; stop it or wait for it to finish." if snapshot.active else None)
    if start.button("Start training", type="primary", disabled=reason is not None, help=reason, key="train_start"):
        try:
            engine.start(spec, limit=limit)
        except (EngineBusyError, SpecError) as error:
            st.error(str(error))
    if stop.button("Stop", disabled=not snapshot.active, key="train_stop", help="Stops after the current batch."):
        engine.stop()
    if problem:
        st.error(f"Training is disabled: {problem}")


@st.fragment(run_every=1.0)
def live_ui(engine) -> None:
    """The controls and the job as it runs: progress, loss chart, latest reconstructions, redrawn every second.

    A fragment reruns alone, so the chart follows the job without redrawing the page, and any tab (or a
    reloaded one) shows the process-wide job.
    """
    controls_ui(engine)
    snapshot = engine.snapshot()
    if snapshot.status == "idle":
        st.info("No training job has run since the server started. Press **Start training** to begin.")
        return
    events = list(snapshot.events)
    training = snapshot.spec.training
    status_line = f"**{snapshot.spec.name}** · run `{snapshot.run_id or '…'}` · {snapshot.status}"
    st.markdown(status_line)
    now = progress(events, snapshot.epochs, snapshot.steps_per_epoch, training.batch_size)
    st.progress(now.fraction, text=now.describe() if snapshot.active else snapshot.message)
    floor = test_floor(training.loss)
    chart = loss_figure(events, snapshot.steps_per_epoch, training.loss, floor)
    st.plotly_chart(chart, key="train_loss_chart", config={"displaylogo": False})
    epochs = [event for event in events if event["kind"] == "epoch"]
    if epochs:
        last = epochs[-1]
        validation = f", validation {last['val_loss']:.4f}" if last.get("val_loss") is not None else ""
        st.caption(
            f"Epoch {last['epoch']}: loss {last['loss']:.4f}{validation} (a perfect reconstruction scores "
            f"{floor:.4f}) · {last['seconds']:.1f} s · {last['images_per_second']:,.0f} images/s. "
            "Test digits (top) and their reconstructions after this epoch:"
        )
        st.image(preview_strip(np.asarray(last["preview"]), np.asarray(last["reconstructions"])))
    if snapshot.finished:
        outcome_ui(snapshot, floor)


def outcome_ui(snapshot, floor: float) -> None:
    """The end of a job: what happened, and the run made active once per session."""
    result = snapshot.result
    if snapshot.status == "completed":
        st.success(
            f"{snapshot.message} Test loss {result.get('test_loss', float('nan')):.4f} on the 10,000 test images "
            f"(a perfect reconstruction scores {floor:.4f}). It is now the active run."
        )
    elif snapshot.status == "stopped":
        test = f" Test loss {result['test_loss']:.4f}." if result.get("test_loss") is not None else ""
        st.warning(f"{snapshot.message}{test} The run keeps its model and history so far.")
    else:
        st.error(f"Training failed. {snapshot.message}")
    if snapshot.run_id and st.session_state.get(FINISHED_KEY) != snapshot.job_id:
        st.session_state[FINISHED_KEY] = snapshot.job_id
        if snapshot.status != "failed" or result.get("epochs_completed"):
            state.activate_run(snapshot.run_id)
        st.rerun(scope="app")  # Redraw the sidebar's run picker with the new run.


def runs_ui() -> None:
    """Every run in the store with its metrics; rename or delete one."""
    runs = list_runs(default_runs_dir())
    if not runs:
        st.caption("No runs yet.")
        return
    rows = [
        {
            "run": run.run_id,
            "name": run.name,
            "status": run.status,
            "epochs": f"{run.summary.get('epochs_completed', 0)}/{run.spec.training.epochs}" if run.spec else "",
            "loss": run.summary.get("loss"),
            "val_loss": run.summary.get("val_loss"),
            "test_loss": run.test_loss,
            "denoiser": run.is_denoiser,
            "shipped": run.read_only,
        }
        for run in runs
    ]
    st.dataframe(rows, hide_index=True, key="train_runs_table",
                 column_config={name: st.column_config.NumberColumn(format="%.4f")
                                for name in ("loss", "val_loss", "test_loss")})  # fmt: skip
    editable = [run for run in runs if not run.read_only]
    if not editable:
        return
    labels = {run.run_id: f"{run.name} ({run.run_id})" for run in editable}
    with st.expander("Rename or delete a run"):
        run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="train_manage_run")
        name = st.text_input("New name", key="train_new_name", max_chars=64)
        rename, delete = st.columns(2)
        try:
            if rename.button("Rename", key="train_rename", disabled=not name.strip()):
                rename_run(run_id, name, default_runs_dir())
                st.rerun(scope="app")
            if delete.button("Delete", key="train_delete", type="secondary"):
                delete_run(run_id, default_runs_dir())
                st.rerun(scope="app")
        except RunStoreError as error:
            st.error(str(error))


st.title("Train")
live_ui(get_engine())
st.subheader("Runs")
runs_ui()
