"""Every page loads in a real browser without an exception, and looks like itself (screenshots saved)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

PAGES = [
    ("", "Edit the architecture"),
    ("build", "Plain Keras code"),
    ("train", "Start training"),
    ("reconstructions", "Sort by error"),  # The shipped pretrained run is the active one on a new store.
    ("draw", "Draw a digit on the canvas"),
    ("explorer", "One layer up close"),
    ("latent", "From one code to another"),
    ("compare", "Compare runs"),  # Its title: what follows depends on the runs earlier tests left in the store.
    ("transposed", "The scatter, one input value at a time"),
]


@pytest.mark.parametrize(("path", "text"), PAGES, ids=[path or "home" for path, _ in PAGES])
def test_page_loads_without_exception(server: str, page: object, path: str, text: str) -> None:
    page.goto(f"{server}/{path}")
    wait_for_app(page)
    page.locator('[data-testid="stMain"]').get_by_text(text).first.wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    screenshot(page, f"page-{path or 'home'}")


def test_deep_link_on_a_fresh_server_keeps_the_sidebar(tmp_path, page: object) -> None:
    """The first request a new server sees is a page's URL: it still runs under dashboard.py."""
    from tests.e2e.conftest import serve

    with serve(tmp_path / "runs", tmp_path / "deep-link-server.log") as served:
        page.goto(f"{served.url}/train")
        page.get_by_role("button", name="Start training").wait_for()
        page.locator('[data-testid="stSidebar"]').get_by_text("Preset").first.wait_for()
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Reconstructions" in nav and "dashboard" not in nav
        assert_no_exception(page)
