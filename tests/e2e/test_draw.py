"""The Draw page in a real browser: a drawing outlives a visit to another page, and the canvas still draws after."""

from __future__ import annotations

import time

from tests.e2e.conftest import assert_no_exception, draw_seven, screenshot, wait_for_app

CANVAS = '[class*="st-key-draw_canvas"] canvas.dc-canvas.lower-canvas'  # Not the background canvas below it.
# How many of the canvas's pixels are ink: fabric.js draws the strokes on its lower canvas, white on black.
INK = """canvas => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let ink = 0;
    for (let index = 0; index < pixels.length; index += 4) if (pixels[index] > 128) ink += 1;
    return ink;
}"""


def _ink(page: object) -> int:
    # A locator, not document.querySelector: Playwright's selectors also reach into the component's shadow root.
    return page.locator(CANVAS).evaluate(INK)


def _wait_for_ink(page: object, above: int) -> int:
    deadline = time.monotonic() + 60
    while (ink := _ink(page)) <= above and time.monotonic() < deadline:
        time.sleep(0.2)
    return ink


def _go_to(page: object, title: str) -> None:
    """Switches page the way a person does, through the sidebar: the same session, no reload."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    wait_for_app(page)


def test_a_drawing_survives_a_visit_to_another_page(server: str, page: object) -> None:
    page.goto(f"{server}/draw")
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    draw_seven(page)
    main.get_by_text("Model output").first.wait_for()
    wait_for_app(page)
    drawn = _ink(page)
    assert drawn > 500, drawn

    _go_to(page, "Home")
    main.get_by_text("Active model").first.wait_for()
    _go_to(page, "Draw")
    # The same strokes on the canvas, and the panels of their result, without drawing again.
    restored = _wait_for_ink(page, 0)
    assert abs(restored - drawn) <= drawn * 0.02, (restored, drawn)
    main.get_by_text("Model output").first.wait_for()
    assert_no_exception(page)
    screenshot(page, "draw-after-another-page")

    # The restored canvas still draws: a second stroke adds ink, and the result follows it.
    canvas = page.locator('[class*="st-key-draw_canvas"] canvas.upper-canvas')
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + 240)
    page.mouse.down()
    page.mouse.move(box["x"] + 250, box["y"] + 240, steps=15)
    page.mouse.up()
    assert _wait_for_ink(page, restored) > restored
    wait_for_app(page)
    main.get_by_text("Model output").first.wait_for()
    assert_no_exception(page)
