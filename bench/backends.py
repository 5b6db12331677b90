"""Training throughput of the `seed` preset per Keras backend and precision, on this machine's device.

    .venv/bin/python -m bench.backends [--steps 12] [--repeats 2] [--configs tensorflow:float32,...]

Each measurement runs in a fresh process (Keras picks its backend once, at import): the `seed` model built by
`core.model` with the given dtype policy, fed by `core.batches` (batch 1000, as the reference recipe), two warm-up
steps (tracing and compilation), then `--steps` timed steps. Configurations alternate, `--repeats` times, so the
machine's drift touches them alike. Prints one line per measurement and a JSON summary with the medians.
This is the evidence for `auto` precision and for TensorFlow as the CPU default (`core.backends`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIGS = "tensorflow:float32,tensorflow:mixed_bfloat16,jax:float32"

MEASURE = """
import json, sys, time
import keras
from core import batches, mnist, presets
from core.backends import describe_device
from core.model import build_model
steps, policy = int(sys.argv[1]), sys.argv[2]
spec = presets.preset("seed")
keras.utils.set_random_seed(0)
model = build_model(spec, dtype_policy=policy)
data = batches.training_batches(mnist.load_mnist().x_train[:48_000], 1000, spec.training.noise, 0)
model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)
started = time.perf_counter()
model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
seconds = time.perf_counter() - started
print(json.dumps({"images_per_second": steps * 1000 / seconds, "device": describe_device()}))
"""


def run_on_backend(script: str, backend: str, *arguments: str, timeout: float | None = None) -> dict:
    """Runs `script` in a fresh Python on `backend` (Keras picks it once, at import); returns its last line's JSON.

    Raises:
        subprocess.CalledProcessError: if the script fails (its stderr in the error's `stderr`).
        subprocess.TimeoutExpired: if it runs past `timeout` seconds.
    """
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", script, *arguments], cwd=ROOT, env=environment,
                            capture_output=True, text=True, check=True, timeout=timeout)  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(backend: str, policy: str, steps: int) -> dict:
    return run_on_backend(MEASURE, backend, str(steps), policy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="backend:dtype_policy pairs, comma-separated")
    arguments = parser.parse_args()
    configs = [tuple(pair.split(":")) for pair in arguments.configs.split(",")]
    results: dict[str, list[float]] = {f"{backend}:{policy}": [] for backend, policy in configs}
    device = None
    for repeat in range(1, arguments.repeats + 1):
        for backend, policy in configs:
            measured = measure(backend, policy, arguments.steps)
            device = measured["device"]
            results[f"{backend}:{policy}"].append(measured["images_per_second"])
            print(f"trial {repeat}: {backend} {policy}: {measured['images_per_second']:,.0f} images/s on {device}",
                  flush=True)  # fmt: skip
    medians = {name: statistics.median(values) for name, values in results.items()}
    baseline = medians[next(iter(medians))]
    for name, median in medians.items():
        print(f"median {name}: {median:,.0f} images/s ({median / baseline:.2f}x the first)")
    print(json.dumps({"device": device, "trials": results, "medians": medians}))


if __name__ == "__main__":
    main()
