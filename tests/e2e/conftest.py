"""The real server (`streamlit run dashboard.py`) and headless Chromium driven by Playwright.

Debian's Chromium is the browser; Playwright cannot download its own here. Tests wait on the app's own readiness
signals (the health endpoint, elements and texts), never on fixed sleeps. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.workers import stop_every_job

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package.")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium).")
    return CHROMIUM


@dataclass(frozen=True)
class Served:
    """A running dashboard server: its base URL, its process and the file its output goes to."""

    url: str
    process: subprocess.Popen
    log_path: Path
    runs_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serve(runs_dir: Path, log_path: Path, stop_jobs: bool = True) -> Iterator[Served]:
    """Runs `streamlit run dashboard.py` on a free port over `runs_dir` until the block ends.

    The server runs as `make run` runs it, with PYTHONFAULTHANDLER=1 so that a native crash leaves a Python stack
    in its log. Training jobs outlive a server by design; with `stop_jobs`, those of `runs_dir` are stopped when
    the block ends, so none outlives its test.
    """
    port = _free_port()
    environment = {**os.environ, "STUDIO_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.port", str(port),
               "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]  # fmt: skip
    with open(log_path, "w+") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.seek(0)
                pytest.fail(f"The server did not start:\n{log.read()[-3000:]}")
            time.sleep(0.2)
        try:
            yield Served(url, process, log_path, runs_dir)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            if stop_jobs:
                stop_every_job(runs_dir)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            log.seek(0)
            (ARTIFACTS / log_path.name).write_text(log.read())


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The dashboard served for the whole session over an empty run store."""
    with serve(tmp_path_factory.mktemp("e2e-runs"), tmp_path_factory.mktemp("e2e-log") / "server.log") as running:
        yield running


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Stops the jobs a test left in the session's store, so a failed test's long job does not hold up the next."""
    yield
    if "served" in request.fixturenames:
        stop_every_job(request.getfixturevalue("served").runs_dir)


@pytest.fixture(scope="session")
def server(served: Served) -> str:
    """The base URL of the session's dashboard."""
    return served.url


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    yield page
    context.close()


def screenshot(page: object, name: str) -> Path:
    """Saves a full-page screenshot as a test artefact, once the images on the page have loaded."""
    page.wait_for_function("() => Array.from(document.images).every(image => image.complete)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_app(page: object) -> None:
    """Waits until Streamlit has run the script and drawn every element (no loading skeletons left)."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_selector('[data-testid="stSidebar"]')
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            const skeletons = document.querySelectorAll(
                '[data-testid="stSkeleton"], [data-testid="stAppSkeleton"], [data-testid="stSkeletonElement"]');
            return app && app.getAttribute('data-test-script-state') === 'notRunning' && skeletons.length === 0;
        }"""
    )


def assert_no_exception(page: object) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


CHART_POINTS = """() => {
    const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    if (!plot || !plot.data || !plot.data.length) return 0;
    return plot.data[0].x.length;
}"""


def open_page(page: object, name: str, ready_text: str) -> None:
    """Follows the sidebar link to a page and waits for a text that only the finished page shows.

    The Train page reruns its live fragment every second, so "the script is not running" is no signal there.
    """
    page.locator('[data-testid="stSidebarNav"] a', has_text=name).first.click()
    page.wait_for_url(f"**/{name.lower()}")
    page.get_by_text(ready_text).first.wait_for()


def choose(page: object, label: str, option: str) -> None:
    """Picks `option` in the first selectbox labelled `label`."""
    pick(page, page.locator('[data-testid="stSelectbox"]', has_text=label).first, option)


def pick(page: object, selectbox: object, option: str, attempts: int = 4) -> None:
    """Opens `selectbox` and clicks its `option`, opening it again if its list closed before the option showed.

    A rerun that lands while the list is open closes it; under a loaded CI machine that happened between the click
    and the option's render, and waiting longer for the option could not help.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    entry = page.get_by_role("option", name=option, exact=True)
    for attempt in range(attempts):
        wait_for_app(page)
        selectbox.click()
        try:
            entry.wait_for(timeout=15_000)
            watch_script_runs(page)
            entry.click(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
    wait_for_rerun(page)


SCRIPT_RUNS = """() => {
    window.studioScriptRuns?.observer.disconnect();
    const app = document.querySelector('[data-testid="stApp"]');
    const runs = {count: 0, observer: new MutationObserver(() => {
        if (app.getAttribute('data-test-script-state') !== 'notRunning') runs.count += 1;
    })};
    runs.observer.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    window.studioScriptRuns = runs;
}"""


def watch_script_runs(page: object) -> None:
    """Counts the script runs that start from now on, for `wait_for_rerun`."""
    page.evaluate(SCRIPT_RUNS)


def wait_for_rerun(page: object, timeout: float = 10_000) -> None:
    """Waits for a script run started since `watch_script_runs` (if one starts within `timeout` ms) to finish.

    Right after a widget changes, Streamlit may not have begun the rerun yet, so `wait_for_app` alone can return
    while the page still shows the widgets of the run before.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # No rerun: the value picked was already the widget's.
        page.wait_for_function("() => window.studioScriptRuns.count > 0", timeout=timeout)
    wait_for_app(page)


def type_number(page: object, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    watch_script_runs(page)
    field.press("Enter")
    page.wait_for_function(f"() => document.querySelector('input[aria-label=\"{label}\"]').value === '{value}'")
    wait_for_rerun(page)


def chart_points(page: object) -> int:
    return page.evaluate(CHART_POINTS)


def draw_seven(page: object) -> None:
    """Draws a 7 on the Draw page's canvas with the mouse, as a person would: its bar, then its stem."""
    canvas = page.locator('[class*="st-key-draw_canvas"] canvas.upper-canvas')
    canvas.wait_for()
    box = canvas.bounding_box()
    left, top = box["x"] + 70, box["y"] + 60
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(left + 140, top, steps=15)  # The bar of a 7...
    page.mouse.move(left + 50, top + 175, steps=20)  # ...and its stem.
    page.mouse.up()
