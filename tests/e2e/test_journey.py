"""One user's journey in a real browser: set a small job, train it, watch the chart, stop it, look at its
reconstructions, then draw a digit on the canvas and see the model's output."""

from __future__ import annotations

from tests.e2e.conftest import (
    CHART_POINTS,
    assert_no_exception,
    chart_points,
    choose,
    draw_seven,
    open_page,
    screenshot,
    type_number,
    wait_for_app,
)


def test_train_stop_inspect_and_draw(server: str, page: object) -> None:
    page.goto(server)
    wait_for_app(page)

    # A small job: the strided preset on 2,000 images in batches of 20, long enough to stop half-way.
    choose(page, "Preset", "strided")
    page.get_by_text("Training settings").click()
    type_number(page, "Epochs", 30)
    type_number(page, "Batch size", 20)
    type_number(page, "Training images", 2000)

    open_page(page, "Train", "strided · 12,201 parameters · 30 epochs of the first 2,000")
    page.get_by_role("button", name="Start training").click()

    # The chart gains points while the job runs: at least 10, then more a second later.
    # The first run of a job imports TensorFlow and loads MNIST: give it time on a busy machine.
    page.wait_for_function(f"() => ({CHART_POINTS})() >= 10", timeout=240_000)
    first = chart_points(page)
    page.wait_for_function(f"() => ({CHART_POINTS})() > {first}")
    assert chart_points(page) > first
    page.get_by_text("images/s").first.wait_for()
    screenshot(page, "journey-1-training")

    # A second tab (a new session) shows the same job; a Start there would join the queue behind it.
    second = page.context.new_page()
    second.goto(f"{server}/train")
    second.wait_for_function(f"() => ({CHART_POINTS})() > 0")
    second.locator('[data-testid="stMain"]').get_by_text("· running").first.wait_for()
    assert second.get_by_role("button", name="Start training").is_enabled()
    second.close()

    page.get_by_role("button", name="Stop").click()
    page.get_by_text("The run keeps its model and history so far.").wait_for()
    assert_no_exception(page)
    screenshot(page, "journey-2-stopped")
    stopped_at = chart_points(page)
    assert stopped_at >= first

    # The stopped run is now the active run: its reconstructions of the test set.
    open_page(page, "Reconstructions", "Sort by error")
    page.get_by_text("Images 1–16 of 10,000").wait_for()
    screenshot(page, "journey-3-reconstructions")
    # The stopped run is the active one. Look in the page itself: the sidebar's run picker says it too.
    page.locator('[data-testid="stMain"]').get_by_text("strided · stopped").first.wait_for()
    assert page.locator('[data-testid="stImage"] img').count() >= 16
    assert_no_exception(page)
    screenshot(page, "journey-3-reconstructions")

    # Draw a stroke with the mouse and see the model's output.
    open_page(page, "Draw", "Draw a digit on the canvas")
    draw_seven(page)
    page.get_by_text("Model output").first.wait_for()
    # Four panels: the 28x28 drawing, the noisy input, the model's output and its error.
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stImage\"] img').length >= 4")
    page.wait_for_function("() => document.querySelectorAll('[data-stale=\"true\"]').length === 0")
    assert_no_exception(page)
    screenshot(page, "journey-4-draw")
