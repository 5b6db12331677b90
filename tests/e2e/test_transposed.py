"""The Conv2DTranspose page in a real browser: the slider walks the scatter and a setting changes the output."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import assert_no_exception, choose, screenshot, wait_for_app

# The numbers the "Sum after step k" grid shows, as Plotly holds them in the page.
SUM_GRID = """() => {
    const plot = document.querySelector('.st-key-transposed_step_sum .js-plotly-plot');
    return plot && plot.data ? plot.data[0].z : null;
}"""


@pytest.fixture
def tall_page(browser: object) -> Iterator[object]:
    """A window tall enough for the whole page: Streamlit scrolls inside its main area, which a screenshot misses."""
    context = browser.new_context(viewport={"width": 1400, "height": 3400})
    page = context.new_page()
    page.set_default_timeout(120_000)
    yield page
    context.close()


def test_slider_walks_the_scatter_and_a_setting_changes_the_output(server: str, tall_page: object) -> None:
    page = tall_page
    page.goto(f"{server}/transposed")
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("The scatter, one input value at a time").wait_for()
    assert page.evaluate(SUM_GRID)[0] == [1, 0, 2, 0, 0]  # Step 1: input value 1 times the kernel.

    thumb = page.locator('.st-key-transposed_step input[type="range"]')
    thumb.focus()
    for _ in range(3):  # Streamlit sends a slider's value when the key is released: one rerun per step.
        thumb.press("ArrowRight")
        wait_for_app(page)
    main.get_by_text("Step 4 of 4:").wait_for()
    assert page.evaluate(SUM_GRID)[2][2] == 13  # 1*1 + 2*1 + 3*2 + 4*1 where four windows overlap.
    main.get_by_text("The last step's sum is the output of the layer.").wait_for()

    choose(page, "Strides", "3")
    output_size = main.locator('[data-testid="stMetric"]', has_text="Output size")
    output_size.get_by_text("6×6").wait_for()
    main.get_by_text("= (2 - 1) * 3 + max(3, 3) = 6").wait_for()
    assert len(page.evaluate(SUM_GRID)) == 6
    assert_no_exception(page)
    screenshot(page, "transposed-strides-3")
