"""The Sweeps page in a real browser: a person defines a sweep of two learning rates, watches both trials train in
the job queue, and opens the best one on the Reconstructions page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core import sweep
from tests.e2e.conftest import assert_no_exception, choose, screenshot, serve, type_number, wait_for_app

TRACE_NAMES = """(key) => {
    const plot = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    return plot && plot.data ? plot.data.map(trace => trace.name) : [];
}"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    """The test's run store; a sweep still running at the end (a failed test) is stopped, as its driver outlives
    the server by design."""
    path = tmp_path / "runs"
    path.mkdir()
    yield path
    for info in sweep.list_sweeps(path):
        if info.active:
            sweep.stop_sweep(info.sweep_id, path)
            sweep.wait_for_sweep(info.sweep_id, path, timeout=120)


def test_define_a_two_trial_sweep_watch_it_finish_and_open_the_best(tmp_path: Path, store: Path, page: object) -> None:
    with serve(store, tmp_path / "sweeps-server.log") as served:
        page.goto(served.url)
        wait_for_app(page)
        page.locator('[data-testid="stSidebarNav"] a', has_text="Sweeps").click()
        page.wait_for_url("**/sweeps")
        page.get_by_text("No sweep yet").wait_for()

        # Two learning rates (the example), on the strided preset, one epoch of 600 images each.
        choose(page, "Start from", "strided")
        type_number(page, "Epochs per trial", 1)
        wait_for_app(page)
        type_number(page, "Training images per trial", 600)
        wait_for_app(page)
        main = page.locator('[data-testid="stMain"]')
        main.get_by_role("button", name="Start sweep of 2 trials").click()

        # The page follows the sweep it started until both trials are done; the chart overlays both.
        main.get_by_text(re.compile(r"completed\s*· 2 of 2 trials done")).wait_for(timeout=400_000)
        (info,) = sweep.list_sweeps(store)
        best = info.best()
        assert info.status == "completed" and best is not None
        page.wait_for_function(f"() => ({TRACE_NAMES})('sweeps_curves').length >= 2")
        names = page.evaluate(TRACE_NAMES, "sweeps_curves")
        assert any(name.startswith("#1 learning_rate=0.001") for name in names), names
        assert any(name.startswith("#2 learning_rate=0.003") for name in names), names
        page.locator(".st-key-sweeps_parallel_coordinates .js-plotly-plot").wait_for()
        # The fragment redraws top to bottom, so the line above can be new while the best trial below is still the
        # one drawn when only #1 was done (CI): wait for the store's best.
        main.get_by_text(f"Best trial: #{best.number},").wait_for()
        assert_no_exception(page)
        page.set_viewport_size({"width": 1400, "height": 2600})
        screenshot(page, "sweeps-two-trials")
        page.set_viewport_size({"width": 1400, "height": 1000})
        main.get_by_role("button", name="Open on Reconstructions").click()
        page.wait_for_url("**/reconstructions")
        wait_for_app(page)
        picker = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Active run")
        expect(picker).to_have_value(re.compile(rf"^learning-rates-{best.number} · completed"))  # The run's label.
        assert_no_exception(page)
