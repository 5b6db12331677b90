"""A first start in a real browser: the Home page's pictures lead to their pages, and Draw cleans noise at once.

A fresh server over an empty store, as a new user meets it: the shipped models are the only runs.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import assert_no_exception, draw_seven, screenshot, serve, wait_for_app

DIGITS_CAPTION = "The first test image of each digit 0–7 and the model's output"


def test_home_pictures_lead_to_their_pages_and_draw_starts_on_the_denoiser(tmp_path: Path, page: object) -> None:
    with serve(tmp_path / "runs", tmp_path / "home-server.log") as served:
        page.goto(served.url)
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text(DIGITS_CAPTION).first.wait_for()
        wait_for_app(page)
        # The shape flow of the seed preset: the input, 3 encoder, 3 decoder and the output layer, as blocks.
        assert main.locator('[data-testid="stPlotlyChart"]').count() == 1
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length === 8")
        assert main.locator('[data-testid="stImage"] img').count() == 1
        assert_no_exception(page)
        screenshot(page, "home-first-start")

        main.get_by_role("link", name="Edit the architecture").click()
        page.wait_for_url("**/build")
        page.get_by_text("Plain Keras code").first.wait_for()
        page.locator('[data-testid="stSidebarNav"] a', has_text="Home").first.click()
        main.get_by_text(DIGITS_CAPTION).first.wait_for()
        main.get_by_role("link", name="Browse its reconstructions").click()
        page.wait_for_url("**/reconstructions")
        page.get_by_text("Sort by error").first.wait_for()

        # The Draw page starts on the shipped denoiser, with its own noise, and says why.
        page.locator('[data-testid="stSidebarNav"] a', has_text="Draw").first.click()
        page.wait_for_url("**/draw")
        main.get_by_text("the best denoiser here, picked").first.wait_for()
        wait_for_app(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        picked = sidebar.get_by_role("combobox", name="Active run").input_value()
        assert picked.startswith("denoising · completed") and "denoiser · pretrained" in picked
        # A first stroke comes out of the noise clean.
        draw_seven(page)
        main.get_by_text("Model output").first.wait_for()
        # Scored against the denoiser's own figure. The metric is drawn after the panels, in the same fragment run,
        # and a stroke may rerun the fragment more than once: wait for it rather than count at once (CI read 0).
        main.get_by_text("vs noisy test mean").first.wait_for()
        page.wait_for_function("() => document.querySelectorAll('[data-stale=\"true\"]').length === 0")
        assert main.get_by_text("vs noisy test mean").count() == 1
        assert_no_exception(page)
        screenshot(page, "draw-first-start")
