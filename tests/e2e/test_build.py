"""The Build page's layer editor in a real browser: what a careless user types into its number cells."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

FIELD = "Encoder 1 filters"


def _expect_parameters(page: object, parameters: int) -> None:
    """Waits until the Total parameters metric reads `parameters`: the rerun that rebuilds the model may start a
    moment after the field commits, so a single read can still see the last model."""
    metric = page.locator('[data-testid="stMetric"]', has_text="Total parameters")
    expect(metric.locator('[data-testid="stMetricValue"]')).to_have_text(f"{parameters:,}", timeout=60_000)


def _commit(page: object, keys: str) -> None:
    """Types `keys` over the field's text, as a person would, and presses Enter."""
    field = page.get_by_label(FIELD, exact=True)
    field.click()
    field.press("ControlOrMeta+a")
    if keys:
        page.keyboard.type(keys)
    else:
        page.keyboard.press("Backspace")
    field.press("Enter")
    field.blur()
    wait_for_app(page)


@pytest.mark.parametrize("keys", ["abc", "", "-5", "0", "1e9", "3.7.2"])
def test_the_layer_editors_number_cells_keep_a_valid_number_whatever_is_typed(
    server: str, page: object, keys: str
) -> None:
    page.goto(f"{server}/build")
    wait_for_app(page)
    page.get_by_text("Build the architecture").wait_for()
    _expect_parameters(page, 12_785)  # The seed preset, as a new user meets it.

    _commit(page, keys)

    assert_no_exception(page)
    field = page.get_by_label(FIELD, exact=True)
    value = field.input_value()
    screenshot(page, f"build-typed-{keys or 'nothing'}")
    assert value.lstrip("-").isdigit(), value  # Letters never reach the field.
    # Taken, or (emptied or out of range) refused with a note under the row and the last valid number shown again.
    if 1 <= int(value) <= 1024:
        _expect_parameters(page, _seed_parameters_with(int(value)))  # The model matches the field.
    else:  # A refused number left in the field: the browser must at least mark it, and the model stays.
        assert field.get_attribute("aria-invalid") == "true"
        _expect_parameters(page, 12_785)


def _seed_parameters_with(filters: int) -> int:
    """The seed model's parameters with `filters` in encoder layer 1: 3x3x1 weights and a bias each, and as many
    more 3x3 input channels for each of layer 2's 16 filters."""
    return 12_785 + (filters - 32) * (9 + 1) + (filters - 32) * 9 * 16


def test_a_number_typed_in_the_layer_editor_rebuilds_the_model(server: str, page: object) -> None:
    page.goto(f"{server}/build")
    wait_for_app(page)
    page.get_by_text("Build the architecture").wait_for()
    _commit(page, "64")
    assert page.get_by_label(FIELD, exact=True).input_value() == "64"
    _expect_parameters(page, _seed_parameters_with(64))
    assert_no_exception(page)


def test_a_four_digit_filters_number_shows_whole_in_its_box(server: str, page: object) -> None:
    page.goto(f"{server}/build")
    wait_for_app(page)
    page.get_by_text("Build the architecture").wait_for()
    _commit(page, "1024")
    _expect_parameters(page, _seed_parameters_with(1024))
    field = page.get_by_label(FIELD, exact=True)
    # The box's text is not scrolled out of sight: its width fits in the box beside the clear icon.
    value, text_width, box_width = field.evaluate("box => [box.value, box.scrollWidth, box.clientWidth]")
    assert value == "1024" and text_width <= box_width, (text_width, box_width)
