"""Training jobs in a real browser: the queue across tabs and a reload, and a job that outlives its server."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

from core.jobs import JobRunner
from tests.e2e.conftest import (
    CHART_POINTS,
    assert_no_exception,
    chart_points,
    choose,
    open_page,
    screenshot,
    serve,
    type_number,
    wait_for_app,
)
from tests.workers import stop_every_job


def small_job(page: object, epochs: int) -> None:
    """The strided preset on 2,000 images in batches of 20: about a second an epoch here."""
    choose(page, "Preset", "strided")
    page.get_by_text("Training settings").click()
    type_number(page, "Epochs", epochs)
    type_number(page, "Batch size", 20)
    type_number(page, "Training images", 2000)
    open_page(page, "Train", f"{epochs} epochs of the first 2,000")


def press_start(tab: object, runs_dir: Path) -> None:
    """Clicks Start training and waits for its job in the store; a click the page dropped is made once more.

    Under CI's load, a click on a Train page whose fragments were mid-rerun once reached no job (nothing in the
    store after 30 s); a user would press again, and so does this. One click never makes two jobs (ui/jobs.py).
    """
    before = len(JobRunner(runs_dir).jobs())
    for _ in range(2):
        tab.get_by_role("button", name="Start training").click()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if len(JobRunner(runs_dir).jobs()) > before:
                return
            time.sleep(0.25)
    raise AssertionError("Start training made no job in the store")


def test_a_second_start_queues_with_cancel_and_survives_a_reload(served: object, page: object) -> None:
    server = served.url
    page.goto(server)
    wait_for_app(page)
    small_job(page, epochs=200)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function(f"() => ({CHART_POINTS})() >= 1", timeout=240_000)

    # Another tab (another session) presses Start: its job waits in the queue, and that tab is told so.
    second = page.context.new_page()
    second.goto(f"{server}/train")
    wait_for_app(second)
    press_start(second, served.runs_dir)
    second.locator('[data-testid="stMain"]').get_by_text("#1 in the queue").first.wait_for()
    assert second.get_by_role("button", name="Cancel").is_enabled()
    screenshot(second, "queue-1-queued")
    # The first tab lists it too, under its own training job.
    waiting = re.compile(r"#1 · seed · .* · waiting")
    page.locator('[data-testid="stMain"]').get_by_text(waiting).wait_for()

    # A reload starts a new session: the queued job is still there, with a Cancel button of its own.
    second.reload()
    wait_for_app(second)
    second.locator('[data-testid="stMain"]').get_by_text(waiting).wait_for()
    second.get_by_role("button", name="Cancel").first.click()
    page.wait_for_function("() => !document.body.innerText.includes('waiting')")
    assert_no_exception(second)
    second.close()

    page.get_by_role("button", name="Stop").click()
    page.get_by_text("The run keeps its model and history so far.").wait_for()
    assert_no_exception(page)


def test_two_tabs_pressing_start_at_once_run_one_job_and_queue_the_other(served: object, page: object) -> None:
    # The session's store is shared with the tests before this one: wait until none of their jobs trains or waits,
    # or both of these would queue behind it.
    deadline = time.monotonic() + 120
    while any(job.active or job.queued for job in JobRunner(served.runs_dir).jobs()):
        assert time.monotonic() < deadline, "an earlier test's job still trains"
        time.sleep(0.5)
    try:
        tabs = [page, page.context.new_page()]
        for tab in tabs:
            tab.goto(served.url)
            wait_for_app(tab)
            small_job(tab, epochs=200)
        buttons = [tab.get_by_role("button", name="Start training") for tab in tabs]
        for button in buttons:
            button.wait_for()
        for button in buttons:  # Both clicks land within milliseconds: neither tab has heard back yet.
            button.click(no_wait_after=True)

        # Each tab is told which: its own job training, or its place in the queue with a Cancel button.
        told = re.compile(r"#1 in the queue|strided · run \S+ · (preparing|running)")
        for tab in tabs:
            tab.locator('[data-testid="stMain"]').get_by_text(told).first.wait_for(timeout=240_000)
        queued = [tab for tab in tabs if "#1 in the queue" in tab.locator('[data-testid="stMain"]').inner_text()]
        assert len(queued) == 1, "exactly one of the two tabs is told its job waits"
        (waiting,) = queued
        (training,) = [tab for tab in tabs if tab is not waiting]
        training.wait_for_function(f"() => ({CHART_POINTS})() >= 1", timeout=240_000)
        # In the store: one job training (a fresh runner may still read it as "preparing"), one queued.
        jobs = [job for job in JobRunner(served.runs_dir).jobs() if job.active or job.queued]
        assert sorted(job.queued for job in jobs) == [False, True], [job.status for job in jobs]
        screenshot(waiting, "queue-at-once-waiting")

        waiting.get_by_role("button", name="Cancel").first.click()
        training.wait_for_function("() => !document.body.innerText.includes('waiting')")
        training.get_by_role("button", name="Stop").click()
        training.get_by_text("The run keeps its model and history so far.").wait_for()
        for tab in tabs:
            assert_no_exception(tab)
        tabs[1].close()
    finally:  # Whatever happened, no job of this test trains on under the next one.
        stop_every_job(served.runs_dir)


def test_a_job_keeps_training_while_the_server_restarts(tmp_path: Path, page: object) -> None:
    runs_dir = tmp_path / "runs"
    with serve(runs_dir, tmp_path / "first-server.log", stop_jobs=False) as first:
        page.goto(first.url)
        wait_for_app(page)
        small_job(page, epochs=80)  # Long enough to outlive the first server and train on under the second.
        page.get_by_role("button", name="Start training").click()
        page.wait_for_function(f"() => ({CHART_POINTS})() >= 5", timeout=240_000)
        first.process.send_signal(signal.SIGINT)  # What Ctrl-C of `make run` sends.
        assert first.process.wait(timeout=30) == 0
    (job,) = JobRunner(runs_dir).jobs()
    assert job.status == "running", job.message

    with serve(runs_dir, tmp_path / "second-server.log") as second:
        page.goto(f"{second.url}/train")
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text(job.job_id).first.wait_for()
        assert f"strided · run {job.job_id} · running" in main.inner_text()
        page.wait_for_function(f"() => ({CHART_POINTS})() > 0")
        before = chart_points(page)
        page.wait_for_function(f"() => ({CHART_POINTS})() > {before}")  # Live again: new batches arrive.
        screenshot(page, "restart-1-reattached")
        page.get_by_text("Completed 80 epochs. Test loss").wait_for(timeout=400_000)
        assert_no_exception(page)
        screenshot(page, "restart-2-completed")
    assert "Fatal Python error" not in first.log() + second.log()
