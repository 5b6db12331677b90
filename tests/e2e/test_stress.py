"""The server never dies while the default job trains and other tabs use models: run five times in a row.

One tab trains the `seed` preset on all 60,000 images, as a new user would, for at least 30 s; meanwhile a
second tab flips and sorts the Reconstructions grid and a third draws digits on the Draw page. Then Stop. The
server must stay up, its log free of fatal errors, and it must never load TensorFlow: the model work belongs to
the training and inference workers.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import CHART_POINTS, Served, assert_no_exception, wait_for_app
from tests.workers import stop_every_job

TRAINING_SECONDS = 30


def draw_stroke(page: object, offset: int) -> None:
    canvas = page.locator('[class*="st-key-draw_canvas"] canvas.upper-canvas')
    box = canvas.bounding_box()
    left, top = box["x"] + 70 + offset % 40, box["y"] + 60
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(left + 120, top + 20, steps=8)
    page.mouse.move(left + 40, top + 170, steps=10)
    page.mouse.up()


def server_maps(served: Served) -> str:
    return Path(f"/proc/{served.process.pid}/maps").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(1, 6))
def test_training_the_default_preset_while_other_tabs_browse_and_draw(
    served: Served, browser: object, attempt: int
) -> None:
    stop_every_job(served.runs_dir)  # Earlier tests' jobs: this one must train, not wait in the queue.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(120_000)
    trainer, browser_tab, drawer = (context.new_page() for _ in range(3))
    try:
        trainer.goto(f"{served.url}/train")
        trainer.get_by_text("seed · 12,785 parameters · 25 epochs of all 60,000").first.wait_for()
        trainer.get_by_role("button", name="Start training").click()
        trainer.wait_for_function(f"() => ({CHART_POINTS})() >= 1", timeout=240_000)
        first_batch = time.monotonic()

        browser_tab.goto(f"{served.url}/reconstructions")
        browser_tab.get_by_text("Images 1–16 of 10,000").wait_for()
        drawer.goto(f"{served.url}/draw")
        drawer.get_by_text("Draw a digit on the canvas").first.wait_for()

        round_number = 0
        while time.monotonic() - first_batch < TRAINING_SECONDS or round_number < 3:
            round_number += 1
            # While a rerun draws the grid, the page's previous pagination may still be on screen: either does.
            browser_tab.get_by_test_id("stPaginationNext").first.click()
            wait_for_app(browser_tab)
            order = ("Best first", "Worst first", "Test order")[round_number % 3]
            browser_tab.locator('[data-testid="stButtonGroup"]').get_by_text(order, exact=True).click()
            wait_for_app(browser_tab)
            draw_stroke(drawer, round_number)
            drawer.get_by_text("Model output").first.wait_for()
            wait_for_app(drawer)
            assert served.process.poll() is None, "the server died"

        assert "· running" in trainer.locator('[data-testid="stMain"]').inner_text()
        trainer.get_by_role("button", name="Stop").click()
        trainer.get_by_text("The run keeps its model and history so far.").wait_for()
        for tab in (trainer, browser_tab, drawer):
            assert_no_exception(tab)
    finally:
        context.close()
        stop_every_job(served.runs_dir)  # A failure must not leave a job that the next attempt queues behind.
    assert served.process.poll() is None, "the server died"
    log = served.log()
    assert "Fatal Python error" not in log and "Segmentation fault" not in log, log[-3000:]
    assert "tensorflow" not in server_maps(served).lower(), "the server process loaded TensorFlow"
