"""Where a sweep's trials run: one at a time locally, two at a time locally, and on a local Ray head, in one run.

    .venv/bin/python -m bench.sweeps [--trials 8] [--epochs 1] [--limit 2000] [--skip-ray]

The same sweep (`--trials` learning rates of a small strided autoencoder, no early stopping, so every place does
the same work) runs three times, each in a fresh store:
1. locally, one trial at a time (the queue's default);
2. locally, two at a time (the queue's setting at 2);
3. on a Ray head started here on 127.0.0.1 with 2 CPUs, two trials at a time (one CPU each), and stopped after.

Reports each sweep's wall time (from `start_sweep` to the sweep's end) and each trial's overhead, "start to first
batch": from the moment its place in the sweep came free (the sweep's start for the first trials, else the end of
the trial whose place it took, as the trials' own events time it) to its first batch event. That is the whole cost
of starting a trial there: scheduling, a process, Keras' import, MNIST and the model build. Prints one line per
measurement and a JSON summary at the end. Needs Ray (`requirements-ray.txt`) for the third, unless `--skip-ray`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from core import sweep
from core.events import read_events
from core.jobs import set_max_parallel

ROOT = Path(__file__).resolve().parent.parent


def definition(trials: int, epochs: int, limit: int) -> sweep.SweepDefinition:
    rates = [round(0.001 + 0.001 * index, 4) for index in range(trials)]
    base = sweep.PRESETS["strided"].with_training(epochs=epochs, batch_size=100)
    return sweep.SweepDefinition.from_dict({"name": "bench", "spec": base.to_dict(), "trials": trials, "limit": limit,
                                            "parameters": {"training.learning_rate": rates}})  # fmt: skip


def trial_times(store: Path, sweep_id: str) -> list[tuple[float, float]]:
    """(first batch, end) times of each trial's run, in the order the trials started."""
    found = []
    for run in sweep.sweep_runs(sweep_id, store).values():
        events = read_events(run.path)
        first = next(event["time"] for event in events if event["kind"] == "batch")
        end = next(event["time"] for event in events if event["kind"] == "end")
        found.append((first, end))
    return sorted(found)


def overheads(times: list[tuple[float, float]], started: float, places: int) -> list[float]:
    """Each trial's start to first batch: its place came free at the sweep's start, or at the end of the trial
    whose place it took (the ends in time order)."""
    ends = sorted(end for _, end in times)
    return [first - (started if index < places else ends[index - places]) for index, (first, _) in enumerate(times)]


def run_sweep(label: str, store: Path, spec: sweep.SweepDefinition, places: int, address: str | None) -> dict:
    store.mkdir(parents=True)
    if address is None:
        set_max_parallel(store, places)
    sweep_id = sweep.create_sweep(spec, store)
    started = time.time()
    sweep.start_sweep(sweep_id, store, ray_address=address, parallel=places)
    info = sweep.wait_for_sweep(sweep_id, store, timeout=3600)
    wall = time.time() - started
    assert info.status == "completed", info.message
    per_trial = overheads(trial_times(store, sweep_id), started, places)
    result = {"label": label, "wall_seconds": round(wall, 1), "trials": len(per_trial),
              "start_to_first_batch_median": round(statistics.median(per_trial), 2),
              "start_to_first_batch": [round(value, 2) for value in per_trial]}  # fmt: skip
    each = ", ".join(f"{value:.1f}" for value in per_trial)
    print(f"{label}: {wall:.1f} s for {len(per_trial)} trials; start to first batch median "
          f"{statistics.median(per_trial):.2f} s ({each})", flush=True)  # fmt: skip
    return result


def ray_head(directory: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = Path(directory) / "head.log"
    command = [str(ROOT / ".venv/bin/ray"), "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
               "--include-dashboard=false", "--num-cpus", "2", "--temp-dir", directory, "--block"]  # fmt: skip
    head = subprocess.Popen(command, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)  # noqa: SIM115
    deadline = time.monotonic() + 120
    while "Ray runtime started" not in log.read_text(errors="replace"):
        if head.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"The Ray head did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.5)
    return head, f"127.0.0.1:{port}"


def stop_head(head: subprocess.Popen) -> None:
    group = os.getpgid(head.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        head.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--skip-ray", action="store_true")
    arguments = parser.parse_args()
    spec = definition(arguments.trials, arguments.epochs, arguments.limit)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sweeps-") as directory:
        root = Path(directory)
        results.append(run_sweep("local, 1 at a time", root / "one", spec, 1, None))
        results.append(run_sweep("local, 2 at a time", root / "two", spec, 2, None))
        if not arguments.skip_ray:
            ray_directory = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short.
            head, address = ray_head(ray_directory)
            try:
                results.append(run_sweep("Ray head, 2 at a time", root / "ray", spec, 2, address))
            finally:
                stop_head(head)
    print(json.dumps({"trials": arguments.trials, "epochs": arguments.epochs, "limit": arguments.limit,
                      "results": results, "versions": {"cpus": os.cpu_count()}}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
