"""The Compare page in a real browser: a person swaps one of the two runs it opens on for another, reads the loss
chart and the tables, and tags a run."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import assert_no_exception, pick, screenshot, serve, wait_for_app
from tests.ui.test_compare_page import copy_run

TRACE_NAMES = """(key) => {
    const plot = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    return plot && plot.data ? plot.data.map(trace => trace.name) : [];
}"""


def test_pick_two_runs_and_read_the_comparison(tmp_path: Path, page: object) -> None:
    store = tmp_path / "runs"
    store.mkdir()
    copy_run(store, "20260101-000003-fast", "fast", 0.01, [0.09, 0.07, 0.065], backend="jax")
    copy_run(store, "20260101-000002-slow", "slow", 0.001, [0.2, 0.1], backend="tensorflow")
    copy_run(store, "20260101-000001-wide", "wide", 0.003, [0.12, 0.08], backend="tensorflow")
    with serve(store, tmp_path / "compare-server.log") as served:
        page.goto(served.url)
        wait_for_app(page)
        page.locator('[data-testid="stSidebarNav"] a', has_text="Compare runs").click()
        page.wait_for_url("**/compare")
        page.get_by_text("Runs to compare").wait_for()
        wait_for_app(page)

        # It opens on the two newest runs; swap "slow" for "wide": remove its chip, then pick "wide" in the list.
        picker = page.locator('[data-testid="stMultiSelect"]')
        picker.get_by_role("button", name=re.compile(r"^Remove slow · ")).click()
        wait_for_app(page)
        picker.get_by_role("combobox", name="Runs to compare").click()
        page.get_by_role("option", name=re.compile(r"^wide · completed")).click()
        page.keyboard.press("Escape")
        wait_for_app(page)

        main = page.locator('[data-testid="stMain"]')
        page.wait_for_function(f"() => ({TRACE_NAMES})('compare_digit_chart').length === 3")
        losses = page.evaluate(TRACE_NAMES, "compare_loss_chart")
        assert losses == ["fast · train", "fast · validation", "wide · train", "wide · validation"]
        assert page.evaluate(TRACE_NAMES, "compare_digit_chart") == ["fast", "wide", "floor (perfect reconstruction)"]
        settings = main.locator('[data-testid="stTable"]').first.inner_text()
        assert "learning_rate" in settings and "0.01" in settings and "0.003" in settings
        assert "batch_size" not in settings  # The same in both runs.
        assert "slow" not in settings
        main.get_by_text("Mean BCE over the 10,000 test images").wait_for()
        assert_no_exception(page)
        page.set_viewport_size({"width": 1400, "height": 2700})  # Streamlit scrolls inside its main area: show it all.
        screenshot(page, "compare-two-runs")
        page.set_viewport_size({"width": 1400, "height": 1000})

        # Tag the "wide" run; the metrics table shows the tags.
        main.get_by_text("Notes and tags").click()
        form = main.locator('[data-testid="stExpander"]', has_text="Save note and tags")
        pick(page, form.locator('[data-testid="stSelectbox"]'), "wide (20260101-000001-wide)")
        # The note and tag fields are keyed by run: fill those of "wide", not the last run's on their way out.
        note = form.locator('[class*="st-key-compare_notes_note_20260101-000001-wide"] input')
        tags = form.locator('[class*="st-key-compare_notes_tags_20260101-000001-wide"] input')
        note.fill("three times the learning rate")
        tags.fill("wide, candidate")
        tags.press("Enter")
        wait_for_app(page)
        form.get_by_role("button", name="Save note and tags").click()
        main.locator('[data-testid="stTable"]').nth(1).get_by_text("wide, candidate").wait_for()
        assert_no_exception(page)
