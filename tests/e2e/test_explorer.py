"""The Layer explorer in a real browser: pick a layer and a channel as a person would, see it large with its range."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import assert_no_exception, choose, screenshot, type_number, wait_for_app


@pytest.fixture
def tall_page(browser: object) -> Iterator[object]:
    """A window tall enough for the whole page: Streamlit scrolls inside its main area, which a screenshot misses."""
    context = browser.new_context(viewport={"width": 1400, "height": 3600})
    page = context.new_page()
    page.set_default_timeout(120_000)
    yield page
    context.close()


def test_pick_a_layer_and_a_channel_to_see_it_large_with_its_range(server: str, tall_page: object) -> None:
    page = tall_page
    page.goto(f"{server}/explorer")  # The shipped seed-fast run is the active one on a new store.
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("One layer up close").wait_for()
    main.get_by_text("decoder_2_conv2d_transpose · 26x26x16").first.wait_for()  # Its strip's caption.
    main.get_by_text("encoder_1_conv2d · channel 1 of 32 · 26x26").wait_for()

    choose(page, "Layer", "decoder_2_conv2d_transpose · 26x26x16")
    main.get_by_text("decoder_2_conv2d_transpose: 3x3 kernels, Conv2DTranspose").wait_for()
    type_number(page, "Channel (1-16)", 5)
    main.get_by_text("decoder_2_conv2d_transpose · channel 5 of 16 · 26x26").wait_for()
    for label in ("Channel min", "Channel max"):
        value = main.locator('[data-testid="stMetric"]', has_text=label).locator('[data-testid="stMetricValue"]')
        float(value.inner_text())  # A number.
    main.get_by_text("Rows: input channels 1-8 of 8; columns: output channels (filters) 1-16 of 16.").wait_for()
    assert_no_exception(page)
    screenshot(page, "explorer-decoder-channel-5")

    choose(page, "Layer", "decoder_1_conv2d_transpose · 24x24x8")
    main.get_by_text("decoder_1_conv2d_transpose · channel 5 of 8 · 24x24").wait_for()
    assert_no_exception(page)
