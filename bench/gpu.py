"""Every GPU figure of BENCHMARKS.md from one command: the check a lent GPU machine runs once.

    python -m bench.gpu [--out DIR] [--epochs 25] [--parts speed,...,levers] [--lever-epochs 6]
                        [--limit N]    # N images instead of 60,000: a quick try of this script on a CPU

For a machine with JAX on a GPU and no TensorFlow, KERAS_BACKEND=jax. To set one up: here,
`../shared/gpu/make-offline-bundle.sh` downloads Keras' wheels into `.gpu-bundle/whl/` (its MNIST step imports a
module since renamed, so write the data with `python -m bench.gpu --write-mnist .gpu-bundle/mnist.npz`); there, as
that script's header says, install the wheels and set PYTHONPATH, KERAS_BACKEND=jax and MNIST_PATH.

Its parts, most important first; each runs in its own processes under a time limit, so a part that fails or hangs
leaves the others' figures:

1. speed: for float32 and mixed_bfloat16, a bare Keras `fit` of the seed model exactly as the reference recipe
   (arrays in memory, batch 1000, `validation_split=0.2`) and the seed preset through our job runner, its live
   chart's events on, `--epochs` epochs each. The steady rate is the 48,000 training images over the median epoch
   from the second on: for `fit`, epoch begin to epoch end; for the runner, from one "epoch" event to the next,
   so it holds everything our engine does between epochs (saving the model, the preview, the store). Test BCE of
   each.
2. torch_loop: the plain PyTorch loop's four variants (`bench.torch_loop`), the baseline.
3. seed_fast: the seed-fast preset through the runner (auto precision), three times: with an empty JAX compilation
   cache, then twice with what the first left in it. Training seconds (compilation included, as `fit` runs it),
   seconds from submitting the job to its "start" event, first batch and end (the worker's start and imports
   too), test BCE.
4. cost_growth: `bench.cost_growth` on this device, on this backend or `--cost-backends` (JSON only; the charts are
   drawn where Chromium is).
5. torch_backend: a 2-epoch seed job through the runner on Keras' PyTorch backend.
6. repeat: part 1's float32 runner job again: its spread, and the reproducibility of its batch losses on the device.
7. epoch_end: what our engine's epoch end costs on this device, in milliseconds (median of 20): saving the model,
   the preview's reconstructions by an eager call and by a compiled predict.
8. levers: what might lift Keras on JAX towards the plain PyTorch loop's bf16 rate, each a bare `fit` of
   `--lever-epochs` epochs in a fresh process, steady rate as in part 1: the seed model as `core.model` builds it
   (float32, mixed_bfloat16); Keras' `steps_per_execution=8` (8 steps a device call); the model written out in
   Keras layers (the check that it trains as `core.model`'s), then in `channels_first` (NCHW, cuDNN's own layout),
   then in mixed_bfloat16 with its output layer in bfloat16 too (PyTorch's autocast does so; our model keeps it in
   float32); float32 with JAX's matrix products at full float32 precision ("highest", no TF32) instead of its
   default; and, in both precisions, the device's ceiling without `fit`: a jitted step of `core.model`'s model with
   the images on the device (`LOOP`, which also profiles one epoch, kernel by kernel), then a `lax.scan` of each
   epoch. Figures to choose from, not settings of the product (the first loop became the engine's `core.jax_loop`).

Writes DIR/gpu.json after each part, so a run killed at its limit still returns what it measured, and prints it.
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
import traceback
from pathlib import Path
from typing import Any
from unittest import mock

from bench.backends import run_on_backend
from core.events import read_events
from core.jobs import JobRunner
from core.losses import test_floor
from core.presets import preset
from core.runs import read_summary

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("speed", "torch_loop", "seed_fast", "cost_growth", "torch_backend", "repeat", "epoch_end", "levers")
POLICIES = ("float32", "mixed_bfloat16")

EPOCH_END = """
import json, statistics, tempfile, time
from pathlib import Path
import keras
from core import mnist, presets, runs
from core.model import build_model
preview = mnist.scale(mnist.load_mnist().x_test[:8])
model = build_model(presets.preset("seed"), dtype_policy="float32")
model.fit(preview, preview, epochs=1, verbose=0)  # Builds the optimizer's variables, saved with the model.
folder = Path(tempfile.mkdtemp())

def median_ms(action):
    action()
    times = []
    for _ in range(20):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)

print(json.dumps({"save_model_ms": median_ms(lambda: runs.save_model(folder, model)),
                  "eager_preview_ms": median_ms(lambda: keras.ops.convert_to_numpy(model(preview, training=False))),
                  "compiled_preview_ms": median_ms(lambda: model.predict_on_batch(preview))}))
"""


FIT = """
import json, statistics, sys, time
import keras
from core import mnist, presets
from core.backends import describe_device
from core.model import build_model
lever, limit, epochs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
if lever.get("matmul_precision"):
    import jax
    jax.config.update("jax_default_matmul_precision", lever["matmul_precision"])
policy, data_format = lever["policy"], lever.get("data_format", "channels_last")
spec = presets.preset("seed")
data = mnist.load_mnist()
x_train, x_test = mnist.scale(data.x_train[:limit]), mnist.scale(data.x_test)
if data_format == "channels_first":
    x_train, x_test = x_train.transpose(0, 3, 1, 2).copy(), x_test.transpose(0, 3, 1, 2).copy()
keras.utils.set_random_seed(spec.training.seed)
if lever.get("written_out"):
    hidden = dict(kernel_size=3, activation="relu", kernel_initializer="he_normal", padding="valid",
                  data_format=data_format, dtype=policy)
    model = keras.Sequential(
        [keras.Input(x_train.shape[1:])]
        + [keras.layers.Conv2D(filters, **hidden) for filters in (32, 16, 8)]
        + [keras.layers.Conv2DTranspose(filters, **hidden) for filters in (8, 16, 32)]
        + [keras.layers.Conv2D(1, 3, activation="sigmoid", padding="same", data_format=data_format,
                               dtype=policy if lever.get("output_in_policy") else "float32")])
else:
    model = build_model(spec, compile=False, dtype_policy=policy)
model.compile(optimizer=keras.optimizers.Adam(spec.training.learning_rate), loss="binary_crossentropy",
              steps_per_execution=lever.get("steps_per_execution", 1))

class Clock(keras.callbacks.Callback):
    async_safe = True  # As our engine's on a GPU: Keras then dispatches batch hooks without waiting on the device.

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds.append(time.perf_counter() - self.started)

seconds = []
started = time.perf_counter()
history = model.fit(x_train, x_train, batch_size=spec.training.batch_size, epochs=epochs, validation_split=0.2,
                    verbose=0, callbacks=[Clock()])
fit_seconds = time.perf_counter() - started
test_loss = float(model.evaluate(x_test, x_test, batch_size=1000, verbose=0))
print(json.dumps({"lever": lever, "device": describe_device(), "fit_seconds": fit_seconds, "epoch_seconds": seconds,
                  "images_per_second": len(x_train) * 0.8 / statistics.median(seconds[1:] or seconds),
                  "val_loss": history.history["val_loss"][-1], "test_loss": test_loss}))
"""
LEVERS = (
    {"label": "float32, core.model", "policy": "float32"},
    {"label": "mixed_bfloat16, core.model", "policy": "mixed_bfloat16"},
    {"label": "float32, steps_per_execution 8", "policy": "float32", "steps_per_execution": 8},
    {"label": "mixed_bfloat16, steps_per_execution 8", "policy": "mixed_bfloat16", "steps_per_execution": 8},
    {"label": "float32, written out", "policy": "float32", "written_out": True},
    {"label": "float32, channels_first", "policy": "float32", "written_out": True, "data_format": "channels_first"},
    {"label": "mixed_bfloat16, channels_first", "policy": "mixed_bfloat16", "written_out": True,
     "data_format": "channels_first"},
    {"label": "mixed_bfloat16, output layer in bfloat16", "policy": "mixed_bfloat16", "written_out": True,
     "output_in_policy": True},
    {"label": "float32, matmul precision highest", "policy": "float32", "matmul_precision": "highest"},
    {"label": "float32, JAX loop, data on device", "policy": "float32", "loop": "step", "profile": True},
    {"label": "mixed_bfloat16, JAX loop, data on device", "policy": "mixed_bfloat16", "loop": "step", "profile": True},
    {"label": "float32, JAX scan of an epoch", "policy": "float32", "loop": "scan"},
    {"label": "mixed_bfloat16, JAX scan of an epoch", "policy": "mixed_bfloat16", "loop": "scan"},
)  # fmt: skip


LOOP = """
import glob, gzip, json, statistics, sys, tempfile, time
import jax, jax.numpy as jnp, keras
from core import mnist, presets
from core.backends import describe_device
from core.model import build_model
lever, limit, epochs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
spec = presets.preset("seed")
batch = spec.training.batch_size
data = mnist.load_mnist()
images = jnp.asarray(mnist.scale(data.x_train[:limit]))  # The whole set on the device, once.
test = jnp.asarray(mnist.scale(data.x_test))
keras.utils.set_random_seed(spec.training.seed)
model = build_model(spec, compile=False, dtype_policy=lever["policy"])
optimizer = keras.optimizers.Adam(spec.training.learning_rate)
optimizer.build(model.trainable_variables)
loss = keras.losses.BinaryCrossentropy()
train_count = int(len(images) * 0.8)  # validation_split=0.2, as fit takes it: the last fifth.
train, validation = images[:train_count], images[train_count:]
steps = train_count // batch

def forward_loss(trainable, non_trainable, inputs):
    outputs, non_trainable = model.stateless_call(trainable, non_trainable, inputs, training=True)
    return loss(inputs, outputs), non_trainable

gradients = jax.value_and_grad(forward_loss, has_aux=True)

def step(state, inputs):
    trainable, non_trainable, optimizer_variables = state
    (value, non_trainable), grads = gradients(trainable, non_trainable, inputs)
    trainable, optimizer_variables = optimizer.stateless_apply(optimizer_variables, grads, trainable)
    return (trainable, non_trainable, optimizer_variables), value

@jax.jit
def shuffled(key, train):
    order = jax.random.permutation(key, train.shape[0])[: steps * batch]
    return train[order].reshape(steps, batch, *train.shape[1:])

@jax.jit
def evaluate(state, inputs):
    trainable, non_trainable, _ = state
    chunks = inputs[: inputs.shape[0] // batch * batch].reshape(-1, batch, *inputs.shape[1:])
    def one(total, chunk):
        outputs, _ = model.stateless_call(trainable, non_trainable, chunk, training=False)
        return total + loss(chunk, outputs), None
    return jax.lax.scan(one, jnp.float32(0), chunks)[0] / chunks.shape[0]

step_jit = jax.jit(step, donate_argnums=0)
scan_epoch = jax.jit(lambda state, batches: jax.lax.scan(step, state, batches), donate_argnums=0)

def epoch(state, key):
    batches = shuffled(key, train)
    if lever["loop"] == "scan":  # One device call an epoch, every batch's loss kept.
        state, losses = scan_epoch(state, batches)
    else:  # One device call a step, as fit makes; losses stay on the device until the epoch ends.
        losses = []
        for index in range(steps):
            state, value = step_jit(state, batches[index])
            losses.append(value)
        losses = jnp.stack(losses)
    return state, losses, evaluate(state, validation)

state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
         [v.value for v in optimizer.variables])
key = jax.random.PRNGKey(spec.training.seed)
seconds, started = [], time.perf_counter()
for index in range(epochs):
    began = time.perf_counter()
    state, losses, val_loss = epoch(state, jax.random.fold_in(key, index))
    jax.block_until_ready(val_loss)
    seconds.append(time.perf_counter() - began)
fit_seconds = time.perf_counter() - started
kernels = {}
def profile():  # One more epoch under JAX's profiler: where the device's time goes, kernel by kernel.
    global state, losses, val_loss
    folder = tempfile.mkdtemp()
    with jax.profiler.trace(folder, create_perfetto_trace=True):
        state, losses, val_loss = epoch(state, jax.random.fold_in(key, epochs))
        jax.block_until_ready(val_loss)
    for path in glob.glob(folder + "/**/*perfetto_trace.json.gz", recursive=True):
        trace = json.loads(gzip.open(path).read())
        events = trace["traceEvents"] if isinstance(trace, dict) else trace
        meta = [e for e in events if e.get("ph") == "M"]
        processes = {e["pid"]: e["args"]["name"] for e in meta if e.get("name") == "process_name"}
        threads = {(e["pid"], e.get("tid")): e["args"]["name"] for e in meta if e.get("name") == "thread_name"}
        for e in events:  # Per process and thread (a GPU stream, XLA's ops, its modules), so nothing counts twice.
            if e.get("ph") == "X" and "dur" in e:
                thread = threads.get((e["pid"], e.get("tid")), str(e.get("tid")))
                where = kernels.setdefault(f"{processes.get(e['pid'], e['pid'])} / {thread}", {})
                where[e["name"]] = where.get(e["name"], 0.0) + e["dur"] / 1000

if lever.get("profile"):
    try:
        profile()
        kernels = {where: {"total": sum(times.values()), "count": len(times),
                           **dict(sorted(times.items(), key=lambda item: -item[1])[:30])}
                   for where, times in kernels.items()}
    except Exception as error:  # The profile is a bonus: its failure must not cost the lever's figures.
        kernels = {"error": f"{type(error).__name__}: {error}"}
print(json.dumps({"lever": lever, "device": describe_device(), "fit_seconds": fit_seconds, "epoch_seconds": seconds,
                  "images_per_second": steps * batch / statistics.median(seconds[1:] or seconds),
                  "val_loss": float(val_loss), "test_loss": float(evaluate(state, test)),
                  "last_losses": [float(value) for value in losses[-3:]], "profile_ms": kernels}))
"""


def bare_fit(backend: str, epochs: int, policy: str, limit: int | None) -> dict[str, Any]:
    """A bare Keras `fit` of the seed model, in a fresh process: the reference recipe, as `core.model` builds it."""
    return run_on_backend(FIT, backend, json.dumps({"policy": policy}), json.dumps(limit), str(epochs), timeout=240)


def first_time(events: list[dict[str, Any]], kind: str) -> float:
    """The wall-clock time of a run's first event of `kind`."""
    return next(event["time"] for event in events if event["kind"] == kind)


def runner_job(runs_dir: str, name: str, backend: str, limit: int | None, **training: Any) -> dict[str, Any]:
    """The preset `name` trained through our job runner (a worker process); its figures and batch losses."""
    spec = preset(name)
    spec = spec.with_training(**training) if training else spec
    runner = JobRunner(runs_dir)
    submitted, submitted_at = time.perf_counter(), time.time()  # Events carry wall-clock times.
    job = runner.start(spec, limit=limit, backend=backend)
    snapshot = runner.join(job, timeout=300)
    wall = time.perf_counter() - submitted
    if snapshot.status != "completed":
        raise RuntimeError(f"{name} on {backend} ended {snapshot.status}: {snapshot.message}")
    events = read_events(Path(runs_dir) / job)
    summary = read_summary(Path(runs_dir) / job)
    epoch_times = [event["time"] for event in events if event["kind"] == "epoch"]
    between = [later - earlier for earlier, later in zip(epoch_times, epoch_times[1:], strict=False)]
    return {
        "job": job,
        "backend": backend,
        "training": training,
        "device": summary.get("device"),
        "dtype_policy": summary.get("dtype_policy"),
        "submit_to_end_seconds": wall,
        # The worker's start: its imports, MNIST, building the model (the "start" event), then compiling the step.
        "submit_to_start_seconds": first_time(events, "start") - submitted_at,
        "submit_to_first_batch_seconds": first_time(events, "batch") - submitted_at,
        "train_seconds": summary.get("train_seconds"),
        "test_loss": summary.get("test_loss"),
        "epochs": len(epoch_times),
        # Epoch event to epoch event: all the engine does in an epoch, saving and the preview included.
        "images_per_second": snapshot.train_images / statistics.median(between) if between else None,
        "epoch_seconds_between_events": between,
        "epoch_seconds_in_fit": [event["seconds"] for event in events if event["kind"] == "epoch"],
        "batch_losses": [event["loss"] for event in events if event["kind"] == "batch"],
    }


def part_speed(runs_dir: str, epochs: int, backend: str, limit: int | None) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for policy in POLICIES:
        bare = bare_fit(backend, epochs, policy, limit)
        print(f"bare fit {policy}: {bare['images_per_second']:,.0f} images/s, test BCE {bare['test_loss']:.4f}",
              flush=True)  # fmt: skip
        engine = runner_job(runs_dir, "seed", backend, limit, epochs=epochs, dtype_policy=policy)
        print(f"runner {policy}: {engine['images_per_second']:,.0f} images/s, test BCE {engine['test_loss']:.4f}, "
              f"{engine['device']}", flush=True)  # fmt: skip
        figures[policy] = {"bare_fit": bare, "runner": engine,
                           "runner_over_bare": engine["images_per_second"] / bare["images_per_second"]}  # fmt: skip
    return figures


def part_torch_loop(out: Path, limit: int | None) -> Any:
    path = out / "torch_loop.json"
    limited = ["--limit", str(limit)] if limit else []
    subprocess.run([sys.executable, "-m", "bench.torch_loop", "--epochs", "6", "--json", str(path), *limited],
                   cwd=ROOT, timeout=420, check=True)  # fmt: skip
    results = json.loads(path.read_text())
    return [{key: value for key, value in result.items() if key != "history"} for result in results]


def part_seed_fast(runs_dir: str, backend: str, limit: int | None) -> dict[str, Any]:
    figures = {}
    # A fresh compilation cache for the first job (the other parts' jobs compiled the same initializers), then the
    # same job twice with what it left there: what JAX's persistent cache saves a user's next job.
    with mock.patch.dict(os.environ, {"JAX_COMPILATION_CACHE_DIR": tempfile.mkdtemp(prefix="jax-cache-")}):
        for label in ("cold cache", "warm cache", "warm cache again"):
            job = runner_job(runs_dir, "seed-fast", backend, limit)
            job.pop("batch_losses")
            print(f"seed-fast, {label}: test BCE {job['test_loss']:.4f} in {job['train_seconds']:.1f} s of training; "
                  f"from submit: start {job['submit_to_start_seconds']:.1f} s, first batch "
                  f"{job['submit_to_first_batch_seconds']:.1f} s, end {job['submit_to_end_seconds']:.1f} s",
                  flush=True)  # fmt: skip
            figures[label] = job
    return figures


def part_cost_growth(out: Path, backends: str, limit: int | None, series: str) -> Any:
    folder = out / "cost_growth"
    subprocess.run([sys.executable, "-m", "bench.cost_growth", "--backends", backends, "--images", str(limit or 48_000),
                    "--series", series, "--no-charts", "--out", str(folder)], cwd=ROOT,
                   timeout=420 * len(backends.split(",")), check=True)  # fmt: skip
    return json.loads((folder / "cost_growth.json").read_text())


def part_torch_backend(runs_dir: str, limit: int | None) -> dict[str, Any]:
    job = runner_job(runs_dir, "seed", "torch", limit, epochs=2)
    job.pop("batch_losses")
    return job


def part_repeat(
    runs_dir: str, epochs: int, backend: str, limit: int | None, first: dict[str, Any] | None
) -> dict[str, Any]:
    again = runner_job(runs_dir, "seed", backend, limit, epochs=epochs, dtype_policy="float32")
    figures: dict[str, Any] = {"runner": {key: value for key, value in again.items() if key != "batch_losses"}}
    if first is not None:
        losses = first["float32"]["runner"]["batch_losses"]
        differences = [abs(a - b) for a, b in zip(losses, again["batch_losses"], strict=True)]
        figures["batch_losses_compared"] = len(differences)
        figures["batch_losses_identical"] = sum(difference == 0 for difference in differences)
        figures["batch_loss_max_difference"] = max(differences)
        figures["first_epoch_max_difference"] = max(differences[: len(differences) // max(1, epochs)])
    return figures


def part_levers(backend: str, epochs: int, limit: int | None) -> list[dict[str, Any]]:
    figures = []
    for lever in LEVERS:
        try:
            script = LOOP if lever.get("loop") else FIT
            measured = run_on_backend(script, backend, json.dumps(lever), json.dumps(limit), str(epochs), timeout=180)
            print(f"{lever['label']}: {measured['images_per_second']:,.0f} images/s, "
                  f"validation BCE {measured['val_loss']:.4f}", flush=True)  # fmt: skip
        except Exception as error:  # One lever Keras or XLA refuses must not cost the others.
            measured = {"lever": lever, "error": f"{type(error).__name__}: {error}",
                        "stderr": (getattr(error, "stderr", None) or "")[-2000:]}  # fmt: skip
            print(f"{lever['label']}: {measured['error']}", measured["stderr"], flush=True)
        figures.append(measured)
    return figures


def write_mnist(path: Path) -> None:
    """MNIST as Keras' `mnist.npz` holds it, compressed, for `MNIST_PATH` on a machine without network."""
    import numpy as np

    from core.mnist import load_mnist

    mnist = load_mnist()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x_train=mnist.x_train, y_train=mnist.y_train, x_test=mnist.x_test, y_test=mnist.y_test)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "bench-gpu-out")))
    parser.add_argument("--epochs", type=int, default=25, help="epochs of the speed jobs (default 25, the recipe's)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N of the 60,000 images")
    parser.add_argument("--cost-series", default="batch,parameters", help="the cost_growth series to measure")
    parser.add_argument("--cost-backends", default=None, help="the cost_growth part's backends (default: this one)")
    parser.add_argument("--lever-epochs", type=int, default=6, help="epochs of each lever's fit (default 6)")
    parser.add_argument(
        "--write-mnist",
        type=Path,
        default=None,
        metavar="FILE.npz",
        help="only write MNIST, compressed, for a machine that cannot fetch it (11 MB)",
    )
    arguments = parser.parse_args()
    if arguments.write_mnist is not None:
        write_mnist(arguments.write_mnist)
        return
    parts = [part.strip() for part in arguments.parts.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"Invalid value for argument `parts`: {unknown}. Expected some of {list(PARTS)}.")
    backend = os.environ.get("KERAS_BACKEND", "jax")
    arguments.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"backend": backend, "epochs": arguments.epochs, "limit": arguments.limit,
                               "floor": test_floor("binary_crossentropy")}  # fmt: skip
    limit = arguments.limit
    report = arguments.out / "gpu.json"
    with tempfile.TemporaryDirectory() as runs_dir:
        for part in parts:
            started = time.perf_counter()
            print(f"--- {part}", flush=True)
            try:
                if part == "speed":
                    results[part] = part_speed(runs_dir, arguments.epochs, backend, limit)
                elif part == "torch_loop":
                    results[part] = part_torch_loop(arguments.out, limit)
                elif part == "seed_fast":
                    results[part] = part_seed_fast(runs_dir, backend, limit)
                elif part == "cost_growth":
                    results[part] = part_cost_growth(
                        arguments.out, arguments.cost_backends or backend, limit, arguments.cost_series
                    )
                elif part == "torch_backend":
                    results[part] = part_torch_backend(runs_dir, limit)
                elif part == "repeat":
                    results[part] = part_repeat(runs_dir, arguments.epochs, backend, limit, results.get("speed"))
                elif part == "levers":
                    results[part] = part_levers(backend, arguments.lever_epochs, limit)
                elif part == "epoch_end":
                    results[part] = run_on_backend(EPOCH_END, backend, timeout=120)
                    print(results[part], flush=True)
            except Exception as error:  # One part's failure must not cost the others' figures.
                results[part] = {
                    "error": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc(),
                    "stderr": (getattr(error, "stderr", None) or "")[-4000:],
                }  # A child's last words.
                print(results[part]["traceback"], results[part]["stderr"], flush=True)
            results.setdefault("part_seconds", {})[part] = time.perf_counter() - started
            report.write_text(json.dumps(results, indent=1, default=float))
    summary = json.loads(json.dumps(results, default=float))
    for figures in (summary.get("speed") or {}).values():
        if isinstance(figures, dict) and "runner" in figures:
            figures["runner"].pop("batch_losses", None)
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
