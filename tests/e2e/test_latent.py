"""The Latent space page in a real browser: pick two test digits, move the steps slider, read the decoded strip, and
click a point of the map to see its digit and make it an end, as a person would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.mnist import load_mnist
from core.pictures import grid_size
from tests.e2e.conftest import assert_no_exception, screenshot, serve, type_number, wait_for_app

MAP_POINTS = """() => {
    const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    if (!plot || !plot.data || plot.data.length < 10) return 0;
    return plot.data.slice(0, 10).reduce((total, trace) => total + trace.x.length, 0);
}"""
# Where on the screen the point of the map farthest to the right is: the one least likely to hide under others.
OUTERMOST_POINT = """() => {
    const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    const layout = plot._fullLayout, box = plot.getBoundingClientRect();
    let best = null;
    plot.data.slice(0, 10).forEach(trace => trace.x.forEach((x, i) => {
        if (best === null || x > best.x) best = {x: x, y: trace.y[i]};
    }));
    return {left: box.left + layout._size.l + layout.xaxis.l2p(best.x) - 2,
            top: box.top + layout._size.t + layout.yaxis.l2p(best.y)};
}"""


@pytest.fixture
def tall_page(browser: object) -> Iterator[object]:
    """A window tall enough for the whole page: Streamlit scrolls inside its main area, which a screenshot misses."""
    context = browser.new_context(viewport={"width": 1400, "height": 2600})
    page = context.new_page()
    page.set_default_timeout(120_000)
    yield page
    context.close()


def _strip(main: object) -> object:
    return main.locator('[data-testid="stImage"]', has_text="steps from A").locator("img")


def test_pick_two_digits_move_the_steps_and_read_the_strip(tall_page: object, tmp_path: Path) -> None:
    with serve(tmp_path / "runs", tmp_path / "latent-server.log") as served:
        _pick_two_digits_move_the_steps_and_read_the_strip(served.url, tall_page)


def _pick_two_digits_move_the_steps_and_read_the_strip(server: str, page: object) -> None:
    # A server of its own: on the session's, the runs that earlier tests trained would be the active one.
    labels = load_mnist().y_test
    page.goto(f"{server}/latent")  # The shipped seed-fast run is the active one on a new store.
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("3,872 values for 784 pixels: this bottleneck does not compress.").first.wait_for()
    page.wait_for_function(f"() => ({MAP_POINTS})() === 2000")

    type_number(page, "Test digit A", 3)
    type_number(page, "Test digit B", 7)
    main.get_by_text(f"A: test digit 3 (a {labels[3]})").wait_for()
    main.get_by_text(f"B: test digit 7 (a {labels[7]})").wait_for()
    main.get_by_text(f"8 steps from A, test digit 3 (a {labels[3]}), to B, test digit 7 (a {labels[7]}).").wait_for()

    slider = main.locator('[data-testid="stSlider"]', has_text="Steps")
    assert slider.locator('[data-testid="stSliderThumbValue"]').inner_text() == "8"
    slider.get_by_role("slider").focus()
    for _ in range(3):
        slider.get_by_role("slider").press("ArrowLeft")  # 8 -> 5, one step a key press.
    main.get_by_text(f"5 steps from A, test digit 3 (a {labels[3]}), to B").wait_for()
    wait_for_app(page)
    assert slider.locator('[data-testid="stSliderThumbValue"]').inner_text() == "5"
    page.wait_for_function("() => Array.from(document.images).every(image => image.complete)")
    size = _strip(main).evaluate("image => [image.naturalWidth, image.naturalHeight]")
    assert size == list(grid_size(5, 2, 5, titles=True))  # Five digits in each of the two rows, titled.
    assert_no_exception(page)
    screenshot(page, "latent-two-digits-5-steps")

    point = page.evaluate(OUTERMOST_POINT)
    page.mouse.click(point["left"], point["top"])
    caption = main.locator('[data-testid="stImageCaption"]', has_text=" · a ").first
    caption.wait_for()
    index, digit = caption.inner_text().lstrip("#").split(" · a ")
    assert int(digit) == labels[int(index)]  # The digit shown is the one the data has at that index.
    main.get_by_role("button", name=f"#{index} as A").click()
    main.get_by_text(f"A: test digit {index} (a {digit})").wait_for()
    main.get_by_text(f"5 steps from A, test digit {index} (a {digit}), to B, test digit 7").wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    screenshot(page, "latent-a-picked-on-the-map")
