"""Keeps every page under `dashboard.py`, even when a page's URL is the first one a fresh server serves."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_entry_script() -> None:
    """Reruns through `dashboard.py` when Streamlit ran this page file on its own.

    Call it first in every page. Because our pages live in `pages/`, a fresh server starts in Streamlit's old
    pages-folder mode and serves a deep link such as /draw by running pages/draw.py alone, without the
    navigation and sidebar. `st.navigation` in `dashboard.py` leaves that mode, but only once `dashboard.py`
    runs: so leave it here and rerun, which runs `dashboard.py` with the same page.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
