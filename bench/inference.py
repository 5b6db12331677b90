"""Model calls as a user meets them in the browser: a stroke on the Draw page, the first Reconstructions view.

    .venv/bin/python -m bench.inference [--strokes 20] [--baseline PATH]

Serves the dashboard of this checkout (and, with `--baseline`, of another checkout of the project, such as the
commit before the inference worker, in a `git worktree`), each over an empty run store so that the shipped
pretrained model is the active one, and drives it with headless Chromium:

1. First Reconstructions view, cold: a fresh server, the browser goes straight to /reconstructions; seconds until
   the grid says "Images 1–16 of 10,000". Then warm: a second fresh server, the browser spends 15 s on the Home
   page first (as a user reading it would), then opens Reconstructions.
2. Stroke to output: on the Draw page, from the mouse-up that ends a stroke to the moment the "Model output" panel
   shows the new image, `--strokes` times after one warm-up stroke. This includes the canvas component sending
   the drawing, the script rerun, the model call and the image reaching the page.

Prints one line per measurement and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_IMAGE = """() => {
    const images = Array.from(document.querySelectorAll('[data-testid="stImage"]'));
    const output = images.find(image => image.innerText.includes('Model output'));
    const picture = output && output.querySelector('img');
    return picture ? picture.src : null;
}"""


@contextmanager
def serve(root: Path, runs_dir: Path, port: int) -> Iterator[str]:
    environment = {**os.environ, "STUDIO_RUNS_DIR": str(runs_dir), "PYTHONFAULTHANDLER": "1"}
    command = [str(root / ".venv/bin/python"), "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
               "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]  # fmt: skip
    process = subprocess.Popen(command, cwd=root, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def first_reconstructions(browser: object, root: Path, scratch: Path, port: int, warm_seconds: float) -> float:
    with serve(root, scratch / f"runs-{port}", port) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        if warm_seconds:
            page.goto(url)
            page.get_by_text("Edit the architecture").first.wait_for()
            time.sleep(warm_seconds)
        started = time.perf_counter()
        page.goto(f"{url}/reconstructions")
        page.get_by_text("Images 1–16 of 10,000").first.wait_for()
        seconds = time.perf_counter() - started
        page.close()
        return seconds


def stroke(page: object, offset: int) -> None:
    canvas = page.locator('[class*="st-key-draw_canvas"] canvas.upper-canvas')
    box = canvas.bounding_box()
    left, top = box["x"] + 60 + offset % 50, box["y"] + 50 + offset % 30
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(left + 120, top + 10, steps=6)
    page.mouse.move(left + 50, top + 170, steps=8)


def stroke_latencies(browser: object, root: Path, scratch: Path, port: int, strokes: int) -> list[float]:
    with serve(root, scratch / f"runs-{port}", port) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        page.goto(f"{url}/draw")
        page.get_by_text("Draw a digit on the canvas").first.wait_for()
        stroke(page, 0)
        page.mouse.up()
        page.wait_for_function(f"() => ({OUTPUT_IMAGE})() !== null")  # Warm-up: the model's first load.
        latencies, missed = [], 0
        for number in range(1, strokes + 1):
            if number % 5 == 0:  # A fresh canvas now and then, so that every stroke changes the digit visibly.
                page.get_by_role("button", name="Clear").first.click()
                page.get_by_text("Draw a digit on the canvas:").first.wait_for()
            before = page.evaluate(OUTPUT_IMAGE)
            stroke(page, number * 7)
            released = time.perf_counter()
            page.mouse.up()
            try:
                page.wait_for_function(f"() => ({OUTPUT_IMAGE})() !== {json.dumps(before)}", polling="raf",
                                       timeout=10_000)  # fmt: skip
            except Exception:  # The stroke left the 28x28 digit (and so the output) as it was: not a sample.
                missed += 1
                continue
            latencies.append(time.perf_counter() - released)
        page.close()
        print(f"strokes: {len(latencies)} measured, {missed} changed nothing", flush=True)
        return latencies


def measure(browser: object, root: Path, scratch: Path, port: int, strokes: int) -> dict:
    results = {"reconstructions_cold": first_reconstructions(browser, root, scratch, port, 0)}
    print(f"{root}: first Reconstructions view, cold: {results['reconstructions_cold']:.1f} s", flush=True)
    results["reconstructions_after_15_s_on_home"] = first_reconstructions(browser, root, scratch, port + 1, 15)
    print(f"{root}: after 15 s on Home: {results['reconstructions_after_15_s_on_home']:.1f} s", flush=True)
    results["strokes"] = stroke_latencies(browser, root, scratch, port + 2, strokes)
    results["stroke_median"] = statistics.median(results["strokes"])
    results["stroke_p90"] = sorted(results["strokes"])[int(0.9 * (len(results["strokes"]) - 1))]
    print(f"{root}: first Reconstructions view {results['reconstructions_cold']:.1f} s cold, "
          f"{results['reconstructions_after_15_s_on_home']:.1f} s after 15 s on Home; stroke to output median "
          f"{results['stroke_median'] * 1000:.0f} ms, p90 {results['stroke_p90'] * 1000:.0f} ms",
          flush=True)  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strokes", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another checkout of the project to measure the same way")
    arguments = parser.parse_args()

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS

    results = {}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        results["this"] = measure(browser, ROOT, Path(scratch), 8611, arguments.strokes)
        if arguments.baseline:
            results["baseline"] = measure(browser, arguments.baseline.resolve(), Path(scratch), 8621, arguments.strokes)
        browser.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
