"""The Train page's widget groups for training jobs: start and stop, the live job, the queue.

Jobs train in worker processes (`core.jobs`); these widgets only read snapshots of the store's event logs and
ask the runner to start, stop or cancel. So every tab, and a server restarted mid-job, shows the same jobs.
"""

from __future__ import annotations

import os
import time

import numpy as np
import streamlit as st

from core.backends import BACKEND_NAMES, default_backend, describe_placement
from core.jobs import JobRunner, JobSnapshot
from core.losses import test_floor
from core.shapes import infer_shapes
from core.spec import ExperimentSpec, SpecError
from core.text import plural
from core.training_chart import loss_figure, preview_strip, progress
from core.validation import spec_problem
from ui import state

JOB_KEY = "train_job"  # The job this session started last: the one its Train page follows.
START_TIME_KEY = "train_start_time"  # When Start last submitted a job (time.monotonic()).
REPEATED_CLICK_SECONDS = 2.0
START_OUTCOME_KEY = "train_start_outcome"  # What Start's callback has to say: ("error" or "queued", message).
FINISHED_KEY = "train_finished_job"  # The last finished job this session has already made the active run.
WATCHED_KEY = "train_watched_job"  # The last job this session's Train page showed training.


def followed_job(runner: JobRunner) -> JobSnapshot:
    """The job to show: this session's while it is queued or training, else whichever job trains, else the newest.

    When this session's job was cancelled from the queue, it never trained: the page shows how the job it watched
    training meanwhile ended instead, so that job's outcome is shown and it becomes the active run.
    """
    mine = st.session_state.get(JOB_KEY)
    if mine is None:
        return _watched(runner.snapshot())
    snapshot = runner.snapshot(mine)
    if snapshot.active or snapshot.queued:
        return _watched(snapshot)
    newest = runner.snapshot()
    if newest.active:
        return _watched(newest)
    watched = st.session_state.get(WATCHED_KEY)
    if snapshot.status == "cancelled" and watched not in (None, mine):
        return runner.snapshot(watched)
    return snapshot


def _watched(snapshot: JobSnapshot) -> JobSnapshot:
    if snapshot.active:
        st.session_state[WATCHED_KEY] = snapshot.job_id
    return snapshot


def experiment_line(spec: ExperimentSpec, limit: int | None, backend: str | None = None) -> str:
    """What Start would train: preset, parameters, epochs, images, batch, optimizer, backend and precision."""
    images = f"the first {limit:,}" if limit else "all 60,000"
    training = spec.training
    backend_name = BACKEND_NAMES[backend or default_backend()]
    return (
        f"**{spec.name}** · {infer_shapes(spec).params:,} parameters · {plural(training.epochs, 'epoch')} of "
        f"{images} training images, batch {training.batch_size}, {training.optimizer} at {training.learning_rate:g} "
        f"· {backend_name}, precision {training.dtype_policy}"
    )


def _start_job(runner: JobRunner, spec: ExperimentSpec, limit: int | None) -> None:
    """Start's callback: submits the job and leaves what to say about it for the controls to show.

    A click that reaches the server twice within `REPEATED_CLICK_SECONDS` starts one job: under load, the browser
    sent one click on this button (inside a fragment rerun every second) twice, and two jobs started a second apart.
    """
    now = time.monotonic()
    last = st.session_state.get(START_TIME_KEY)
    if last is not None and now - last < REPEATED_CLICK_SECONDS:
        return
    try:
        st.session_state[JOB_KEY] = runner.start(spec, limit=limit, backend=state.training_backend())
        st.session_state[START_TIME_KEY] = now
    except SpecError as error:
        st.session_state[START_OUTCOME_KEY] = ("error", str(error))
    except OSError as error:  # The store cannot take the run: a read-only or full disk. Nothing was started.
        message = f"The job could not be saved in the run store, so it did not start: {error.strerror or error}."
        st.session_state[START_OUTCOME_KEY] = ("error", message)
    else:
        queued = runner.snapshot(st.session_state[JOB_KEY])
        if queued.queued:
            st.session_state[START_OUTCOME_KEY] = ("queued", f"Queued at position {queued.queue_position}.")


def controls_ui(runner: JobRunner) -> JobSnapshot:
    """Start (which queues behind a running job), and Stop or Cancel for the job shown; returns that job."""
    spec = state.current_spec()
    backend = state.training_backend() or default_backend()
    problem = spec_problem(spec, backend)
    limit = state.training_limit()
    if problem is None:
        st.markdown(experiment_line(spec, limit, state.training_backend()))
    busy = any(other.active for other in runner.jobs())
    start, stop, _ = st.columns([1, 1, 4])
    reason = None if problem is None else str(problem)
    queue_note = "A job is training: this one joins the queue and starts when a place is free."
    helper = reason or (queue_note if busy else None)
    # A callback, not the button's return value: a fragment run that its timer interrupts runs again with the
    # click still set. The callback also ignores a click that arrives twice (see `_start_job`).
    start.button("Start training", type="primary", disabled=problem is not None, help=helper, key="train_start",
                 on_click=_start_job, args=(runner, spec, limit))  # fmt: skip
    if (outcome := st.session_state.pop(START_OUTCOME_KEY, None)) is not None:
        kind, message = outcome
        if kind == "error":
            st.error(message)
        else:
            st.toast(message, icon=":material/schedule:")
    job = followed_job(runner)  # After Start, so that a new job is followed at once.
    if job.queued:
        # A callback, not the button's return value: a click that arrives just as the job leaves the queue reaches
        # a rerun that draws Stop instead, and the click was lost with its button while the job trained.
        stop.button("Cancel", key="train_cancel", help="Remove this job from the queue.", on_click=runner.stop,
                    args=(job.job_id,))  # fmt: skip
    elif stop.button("Stop", disabled=not job.active, key="train_stop", help="Stops after the current batch."):
        runner.stop(job.job_id)
        job = followed_job(runner)
    if reason:
        st.error(f"Training is disabled: {reason}")
    return job


def job_status_ui(job: JobSnapshot) -> None:
    """Which job this is and where it stands: status, place in the queue, progress."""
    if job.spec is None:  # Cancelled from the queue: its run is gone, and with it the spec.
        st.info(f"Job `{job.job_id}` · {job.status}. {job.message}", icon=":material/block:")
        return
    position = f" · #{job.queue_position} in the queue" if job.queued else ""
    # The worker says where it trains once it has started: its backend, device and the precision "auto" became.
    start = next((event for event in job.events if event["kind"] == "start" and "device" in event), None)
    placement = f" · {describe_placement(start['backend'], start['device'], start['dtype_policy'])}" if start else ""
    st.markdown(f"**{job.spec.name}** · run `{job.run_id}` · {job.status}{position}{placement}")
    now = progress(list(job.events), job.epochs, job.steps_per_epoch, job.spec.training.batch_size)
    st.progress(now.fraction, text=now.describe() if job.active and job.steps_per_epoch else job.message)


def job_chart_ui(job: JobSnapshot) -> None:
    """The loss chart, the latest epoch's reconstructions, and how the job ended."""
    if job.spec is None:
        return  # Cancelled before it started: nothing to chart.
    training = job.spec.training
    events = list(job.events)
    floor = test_floor(training.loss)
    if any(event["kind"] == "batch" for event in events):
        chart = loss_figure(events, job.steps_per_epoch, training.loss, floor)
        st.plotly_chart(chart, key="train_loss_chart", config={"displaylogo": False})
    elif job.queued or job.active:
        st.caption("The loss chart starts with the first batch.")
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
    if job.finished:
        outcome_ui(job, floor)


def outcome_ui(job: JobSnapshot, floor: float) -> None:
    """The end of a job: what happened, and the run made active once per session."""
    result = job.result
    if job.status == "completed":
        st.success(
            f"{job.message} Test loss {result.get('test_loss', float('nan')):.4f} on the 10,000 test images "
            f"(a perfect reconstruction scores {floor:.4f}). It is now the active run."
        )
    elif job.status == "stopped":
        test = f" Test loss {result['test_loss']:.4f}." if result.get("test_loss") is not None else ""
        st.warning(f"{job.message}{test} The run keeps its model and history so far.")
    elif job.status == "cancelled":
        st.info(job.message)
        return
    else:
        st.error(f"Training failed. {job.message}")
    if st.session_state.get(FINISHED_KEY) != job.job_id:
        st.session_state[FINISHED_KEY] = job.job_id
        if job.status not in ("failed", "interrupted") or result.get("epochs_completed"):
            state.activate_run(job.run_id)
        st.rerun(scope="app")  # Redraw the sidebar's run picker with the new run.


def queue_ui(runner: JobRunner, shown: JobSnapshot) -> None:
    """The store's other training and queued jobs, each with Stop or Cancel, and how many may train at once."""
    others = [job for job in runner.jobs() if job.job_id != shown.job_id]
    if others:
        st.markdown("**Queue**")
    for job in others:
        with st.container(horizontal=True, vertical_alignment="center"):
            if job.queued:
                st.markdown(f"#{job.queue_position} · **{job.spec.name}** · `{job.job_id}` · waiting")
                label, help_text = "Cancel", "Remove this job from the queue."
            else:
                where = f"epoch {min(job.epoch + 1, job.epochs)}/{job.epochs}, step {job.step}/{job.steps_per_epoch}"
                st.markdown(f"**{job.spec.name}** · `{job.job_id}` · {job.status}, {where}")
                label, help_text = "Stop", "Stops after the current batch."
            if st.button(label, key=f"train_queue_{label.lower()}_{job.job_id}", help=help_text):
                runner.stop(job.job_id)
                st.rerun()  # Redraw the queue without it.
            if st.button("Follow", key=f"train_queue_follow_{job.job_id}", type="tertiary"):
                st.session_state[JOB_KEY] = job.job_id
                st.rerun()


def parallel_ui(runner: JobRunner) -> None:
    """How many jobs train at once: 1 by default; more pays on machines with spare cores or GPUs."""
    cores = os.cpu_count() or 1

    def changed() -> None:
        runner.max_parallel = int(st.session_state["train_parallel"])

    st.number_input(
        "Jobs training at once", min_value=1, max_value=max(cores, runner.max_parallel), step=1,
        value=runner.max_parallel, key="train_parallel", on_change=changed,
        help=f"Further jobs wait in the queue. Each job uses the whole machine ({plural(cores, 'core')} here), so more "
        "than one at a time only pays with many cores or several GPUs.",
    )  # fmt: skip
