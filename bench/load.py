"""Many users at once: browser sessions that browse Reconstructions and draw while a job trains.

    .venv/bin/python -m bench.load [--sessions 8] [--actions 6]

Serves the dashboard as `make run` does over a fresh store (the shipped model active), starts the `seed` preset
on all 60,000 images in a training worker, and once its first batch is in, opens `--sessions` browser sessions
(separate contexts, so separate Streamlit sessions) in headless Chromium, all at once: half flip the
Reconstructions grid page by page, half draw strokes on the Draw page. Each action's response time is from the
click (or the mouse-up that ends a stroke) to the page showing its result: the next page's "Images N–M" line, or
a new "Model output" image. Then the job is stopped. Prints each session's times and the median, p95 and worst
over all actions, and a JSON summary. `tests/e2e/test_load.py` runs the same sessions and checks that every
action completes without an error on any page and the server stays up; timing belongs here, not there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.inference import OUTPUT_IMAGE
from core import events
from core.jobs import JobRunner
from core.presets import preset

PER_PAGE = 16  # The Reconstructions grid's default page size.


async def browse(context: object, url: str, actions: int) -> list[float]:
    """Flips the Reconstructions grid `actions` times; returns each flip's response time in seconds."""
    page = await context.new_page()
    await page.goto(f"{url}/reconstructions")
    await page.get_by_text("Images 1–16 of 10,000").first.wait_for()
    times = []
    for number in range(1, actions + 1):
        first = number * PER_PAGE + 1
        started = time.perf_counter()
        # While a rerun draws the grid, the page's previous pagination may still be on screen: either does.
        await page.get_by_test_id("stPaginationNext").first.click()
        await page.get_by_text(f"Images {first:,}–{first + PER_PAGE - 1:,} of 10,000").first.wait_for()
        times.append(time.perf_counter() - started)
    await assert_no_exception(page)
    return times


async def draw(context: object, url: str, actions: int) -> list[float]:
    """Draws `actions` strokes on the Draw page; returns each stroke's time to a new model output, in seconds."""
    page = await context.new_page()
    await page.goto(f"{url}/draw")
    await page.get_by_text("Draw a digit on the canvas").first.wait_for()
    canvas = page.locator('[class*="st-key-draw_canvas"] canvas.upper-canvas')
    times = []
    for number in range(actions + 1):
        # Each stroke has its own shape and adds to the drawing, so each one changes the 28x28 digit (a drawing is
        # cropped and centred, so the same shape drawn elsewhere would give the same digit, and the same output).
        before = await page.evaluate(OUTPUT_IMAGE)
        box = await canvas.bounding_box()
        left, top = box["x"] + 30 + 12 * number, box["y"] + 30 + 10 * number  # Inside the 280x280 canvas.
        await page.mouse.move(left, top)
        await page.mouse.down()
        await page.mouse.move(left + 50 + 10 * number, top + 8 * number, steps=6)
        await page.mouse.move(left + 20, top + 80 + 8 * number, steps=8)
        started = time.perf_counter()
        await page.mouse.up()
        await page.wait_for_function(f"() => ({OUTPUT_IMAGE})() !== {json.dumps(before)}", polling="raf",
                                     timeout=60_000)  # fmt: skip
        if number:  # The first stroke loads the model in the worker: a one-off, not a response time.
            times.append(time.perf_counter() - started)
    await assert_no_exception(page)
    return times


async def assert_no_exception(page: object) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    if await exceptions.count():
        raise AssertionError(await exceptions.first.inner_text())


async def run_sessions(url: str, sessions: int, actions: int, chromium: str, flags: list[str]) -> list[list[float]]:
    """Opens `sessions` browser sessions at once, half browsing and half drawing; returns their response times."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=flags)
        contexts = []
        for _ in range(sessions):
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(180_000)
            contexts.append(context)
        work = [(browse if number % 2 == 0 else draw)(context, url, actions) for number, context in enumerate(contexts)]
        try:
            return list(await asyncio.gather(*work))
        finally:
            await browser.close()


def train_meanwhile(runs_dir: Path) -> tuple[JobRunner, str]:
    """Starts the default job and waits for its first batch, so the sessions meet a job that trains."""
    runner = JobRunner(runs_dir)
    job_id = runner.start(preset("seed"))
    deadline = time.monotonic() + 300
    while not any(event["kind"] == "batch" for event in events.read_events(runs_dir / job_id)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"The job {job_id} had no batch after 300 s: {runner.snapshot(job_id).message}")
        time.sleep(0.5)
    return runner, job_id


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--actions", type=int, default=6)
    arguments = parser.parse_args()

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS, serve

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "runs").mkdir()
        with serve(root / "runs", root / "server.log") as served:
            runner, job_id = train_meanwhile(root / "runs")
            try:
                times = asyncio.run(run_sessions(served.url, arguments.sessions, arguments.actions, CHROMIUM,
                                                 CHROMIUM_FLAGS))  # fmt: skip
                still_training = runner.snapshot(job_id).active
            finally:
                runner.stop(job_id)
                runner.join(job_id, timeout=120)
            alive = served.process.poll() is None
    for number, session in enumerate(times, start=1):
        kind = "Reconstructions page flips" if number % 2 else "Draw strokes"
        print(f"session {number} ({kind}): " + ", ".join(f"{seconds * 1000:.0f}" for seconds in session) + " ms")
    every = [seconds for session in times for seconds in session]
    summary = {
        "sessions": arguments.sessions,
        "actions": len(every),
        "median_ms": statistics.median(every) * 1000,
        "p95_ms": percentile(every, 0.95) * 1000,
        "worst_ms": max(every) * 1000,
        "job_still_training_at_the_end": still_training,
        "server_alive": alive,
    }
    print(
        f"{len(every)} actions in {arguments.sessions} sessions while the seed job trained: median "
        f"{summary['median_ms']:.0f} ms, p95 {summary['p95_ms']:.0f} ms, worst {summary['worst_ms']:.0f} ms"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
