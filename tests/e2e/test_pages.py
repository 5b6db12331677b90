"""Every page loads in a real browser without an exception, and looks like itself (screenshots saved)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

PAGES = [
    ("", "Edit the architecture"),
    ("build", "Keras"),
    ("train", "Start training"),
    ("reconstructions", "Reconstructions"),
    ("draw", "Draw"),
]


@pytest.mark.parametrize(("path", "text"), PAGES, ids=[path or "home" for path, _ in PAGES])
def test_page_loads_without_exception(server: str, page: object, path: str, text: str) -> None:
    page.goto(f"{server}/{path}")
    wait_for_app(page)
    page.get_by_text(text).first.wait_for()
    assert_no_exception(page)
    screenshot(page, f"page-{path or 'home'}")
