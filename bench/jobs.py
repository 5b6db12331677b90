"""The job runner's costs: training with the Train page open against the CLI, memory, start-up and stop latency.

    .venv/bin/python -m bench.jobs [--epochs 2] [--repeats 2] [--stops 3]

1. Throughput: the `seed` preset on all 60,000 images for `--epochs` epochs, alternately through
   `python -m core.train` and through the dashboard (a real server, the Train page open in headless Chromium,
   Start clicked there), `--repeats` times each. Reports each run's images per second (the worker's own figure,
   training loop and validation included) and the ratio of the medians, dashboard / CLI.
   Also the CPU seconds the server and Chromium (all its processes) used during each dashboard run: what the
   worker, on the same cores, could not use.
2. Memory, sampled every 0.2 s during the dashboard runs: the server process's peak resident set (VmHWM) and
   whether it mapped any TensorFlow library; the training worker's peak (VmHWM) for the same job.
3. Start-up: from the Start click to the job's first batch event (the worker's interpreter, TensorFlow import,
   MNIST, model build and the first step).
4. Stop latency, `--stops` times through the runner: from the stop request to the job's "end" event (the batch in
   progress, saving the model and the test-set evaluation), and to the last batch event.

Prints one line per measurement and a JSON summary at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from core import events, runs
from core.jobs import JobRunner
from core.presets import preset

ROOT = Path(__file__).resolve().parent.parent


def status_kilobytes(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the server and by every Chromium process."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {"server": 0.0, "chromium": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # The process ended meanwhile.
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        if int(entry.name) == server_pid:
            used["server"] += seconds
        elif b"chromium" in command or b"chrome" in command:
            used["chromium"] += seconds
    return used


def cli_run(epochs: int, runs_dir: Path) -> float:
    command = [sys.executable, "-m", "core.train", "--preset", "seed", "--epochs", str(epochs), "--json",
               "--runs-dir", str(runs_dir)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])["images_per_second"]


class Sampler:
    """Samples the server's and the job's workers' peak memory while a job trains."""

    def __init__(self, server_pid: int, runs_dir: Path) -> None:
        self.server_pid, self.runs_dir = server_pid, runs_dir
        self.server_peak_kb = 0
        self.worker_peak_kb = 0
        self.tensorflow_in_server = False
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while self.running:
            self.server_peak_kb = max(self.server_peak_kb, status_kilobytes(self.server_pid, "VmHWM") or 0)
            try:
                self.tensorflow_in_server |= "tensorflow" in Path(f"/proc/{self.server_pid}/maps").read_text().lower()
            except OSError:
                return  # The server has ended.
            for summary_path in self.runs_dir.glob("*/summary.json"):
                worker = json.loads(summary_path.read_text()).get("worker")
                if worker:
                    self.worker_peak_kb = max(self.worker_peak_kb, status_kilobytes(worker["pid"], "VmHWM") or 0)
            time.sleep(0.2)

    def stop(self) -> None:
        self.running = False
        self.thread.join()


def dashboard_run(browser: object, url: str, runs_dir: Path, epochs: int) -> dict:
    """Trains seed for `epochs` from the Train page; returns images/s and the start-up time."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(600_000)
    page.goto(url)
    page.get_by_text("Training settings").click()
    field = page.get_by_label("Epochs", exact=True)
    field.fill(str(epochs))
    field.press("Enter")
    page.locator('[data-testid="stSidebarNav"] a', has_text="Train").first.click()
    page.get_by_text(f"{epochs} epochs of all 60,000").first.wait_for()
    before = {path.name for path in runs_dir.iterdir()}
    clicked = time.time()
    page.get_by_role("button", name="Start training").click()
    while not (new := {path.name for path in runs_dir.iterdir() if path.is_dir()} - before):
        time.sleep(0.2)
    (run_id,) = new
    page.get_by_text(run_id).first.wait_for()  # The page follows the job it started, live.
    while runs.read_summary(runs_dir / run_id).get("status") in ("queued", "running"):
        time.sleep(0.5)
    page.close()
    log = events.read_events(runs_dir / run_id)
    first_batch = next(event["time"] for event in log if event["kind"] == "batch")
    return {"images_per_second": runs.read_summary(runs_dir / run_id)["images_per_second"],
            "start_to_first_batch": first_batch - clicked}  # fmt: skip


def stop_latencies(runs_dir: Path, count: int) -> list[dict]:
    runner = JobRunner(runs_dir)
    results = []
    for _ in range(count):
        job_id = runner.start(preset("seed"))
        while sum(event["kind"] == "batch" for event in events.read_events(runs_dir / job_id)) < 3:
            time.sleep(0.05)
        asked = time.time()
        runner.stop(job_id)
        runner.join(job_id)
        log = events.read_events(runs_dir / job_id)
        last_batch = [event["time"] for event in log if event["kind"] == "batch"][-1]
        results.append({"to_end": log[-1]["time"] - asked, "to_last_batch": max(0.0, last_batch - asked)})
        print(f"stop: last batch {results[-1]['to_last_batch']:.2f} s after the request, job ended after "
              f"{results[-1]['to_end']:.2f} s", flush=True)  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stops", type=int, default=3)
    arguments = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS, serve

    results: dict = {"cli": [], "dashboard": [], "start_to_first_batch": []}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        root = Path(scratch)
        for store in ("dashboard-runs", "cli-runs", "stop-runs"):
            (root / store).mkdir()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        with serve(root / "dashboard-runs", root / "server.log") as served:
            sampler = Sampler(served.process.pid, root / "dashboard-runs")
            for repeat in range(1, arguments.repeats + 1):
                # Alternate which goes first (CLI, dashboard, dashboard, CLI, ...), so that a drift in the machine's
                # speed over the benchmark weighs on both sides alike.
                if repeat % 2:
                    results["cli"].append(cli_run(arguments.epochs, root / "cli-runs"))
                before = cpu_seconds(served.process.pid)
                run = dashboard_run(browser, served.url, root / "dashboard-runs", arguments.epochs)
                after = cpu_seconds(served.process.pid)
                if not repeat % 2:
                    results["cli"].append(cli_run(arguments.epochs, root / "cli-runs"))
                results.setdefault("cpu_seconds", []).append({key: after[key] - before[key] for key in after})
                results["dashboard"].append(run["images_per_second"])
                results["start_to_first_batch"].append(run["start_to_first_batch"])
                cpu = results["cpu_seconds"][-1]
                print(f"trial {repeat}: CLI {results['cli'][-1]:,.0f} img/s, dashboard {results['dashboard'][-1]:,.0f} "
                      f"img/s, Start click to first batch {run['start_to_first_batch']:.1f} s; CPU meanwhile: "
                      f"server {cpu['server']:.1f} s, Chromium {cpu['chromium']:.1f} s", flush=True)  # fmt: skip
            sampler.stop()
        browser.close()
        results["ratio"] = statistics.median(results["dashboard"]) / statistics.median(results["cli"])
        results["server_peak_mb"] = sampler.server_peak_kb / 1024
        results["worker_peak_mb"] = sampler.worker_peak_kb / 1024
        results["tensorflow_in_server"] = sampler.tensorflow_in_server
        cli, dashboard = statistics.median(results["cli"]), statistics.median(results["dashboard"])
        print(f"median: CLI {cli:,.0f} img/s, dashboard {dashboard:,.0f} img/s, ratio {results['ratio']:.3f}")
        print(f"server peak RSS {results['server_peak_mb']:.0f} MB (TensorFlow mapped: "
              f"{results['tensorflow_in_server']}), worker peak RSS {results['worker_peak_mb']:.0f} MB")  # fmt: skip
        results["stops"] = stop_latencies(root / "stop-runs", arguments.stops)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
