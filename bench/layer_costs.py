"""Where a training step of the `seed` preset spends its time on this CPU, layer by layer (TensorFlow backend).

    .venv/bin/python -m bench.layer_costs [--batch 1000] [--repeats 7] [--onednn on,off]
        [--dtype-policies float32,mixed_bfloat16] [--primitives] [--ops]

For each layer of the `seed` model (batch 1000, as the reference recipe): its forward pass, and its forward and
backward pass as training computes it (gradients of its weights, and of its input except for the first layer,
whose input is the data), each a `tf.function` on the layer's real input (the activations of an MNIST batch),
median of `--repeats` timings after two warm-ups. Beside them, a whole training step (`train_on_batch`). Work is
counted in multiply-adds (a convolution: output pixels x output channels x kernel area x input channels; a
transposed one: input pixels x input channels x kernel area x output channels); the backward pass does two more
of those (one without the input's gradient), so a layer's rate is FLOPs of its forward and backward over their
time. Each `--onednn` setting runs in a fresh process (`TF_ENABLE_ONEDNN_OPTS`, read when TensorFlow loads).

This is the evidence for how far the CPU can go with the reference recipe: if every layer ran at the best layer's
rate, the layers would take `ceiling_ms`. Beside it, the CPU's float32 rate on a large matrix product
(`matmul_gflops_per_second`, 4096 x 4096, what its cores can do on work that suits them).

`--primitives` also runs one training step with oneDNN's own log on (`ONEDNN_VERBOSE=1`, in a fresh process) and
lists every oneDNN primitive of the step with its time, as oneDNN measured it, and its rate: which convolution
(forward, gradient of the data, gradient of the weights; a Conv2DTranspose is a convolution's data gradient run
forward) costs what, and the instruction set oneDNN picked for this CPU (`isa`).

`--ops` profiles training steps with TensorFlow's profiler (in a fresh process, ops one at a time) and lists every
op's time a step, oneDNN's and the rest: the bias adds, activations, casts, loss and optimizer that `--primitives`
counts only together, as "outside oneDNN".
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

from bench.backends import ROOT, run_on_backend

MEASURE = "from bench.layer_costs import measure_here; measure_here({batch}, {repeats}, {dtype_policy!r})"
PRIMITIVES = "from bench.layer_costs import primitives_here; primitives_here({batch}, {repeats}, {dtype_policy!r})"
OPS = "from bench.layer_costs import ops_here; ops_here({batch}, {repeats}, {dtype_policy!r})"
PROFILED_STEPS = 3
STEP_BEGINS, STEP_ENDS = "-- the logged training step begins --", "-- the logged training step ends --"
# oneDNN's log line of a convolution ends with its problem, such as mb1000_ic32oc1_ih28oh28kh3sh1dh0ph1_iw28ow28kw3...
PROBLEM_SIZES = re.compile(r"mb(\d+)_ic(\d+)oc(\d+)_ih\d+oh(\d+)kh(\d+)\D.*_iw\d+ow(\d+)kw(\d+)\D")


def multiply_adds(layer: object, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one image through a Conv2D or Conv2DTranspose layer."""
    kernel_area = layer.kernel_size[0] * layer.kernel_size[1]
    if type(layer).__name__ == "Conv2DTranspose":
        return input_shape[0] * input_shape[1] * input_shape[2] * kernel_area * output_shape[2]
    return output_shape[0] * output_shape[1] * output_shape[2] * kernel_area * input_shape[2]


def median_milliseconds(function: object, argument: object, repeats: int) -> float:
    """The median time of `function(argument)`, results read back, after two warm-up calls."""
    import keras

    def once() -> float:
        started = time.perf_counter()
        for value in keras.tree.flatten(function(argument)):
            value.numpy()
        return (time.perf_counter() - started) * 1000

    once(), once()
    return statistics.median(once() for _ in range(repeats))


def seed_model_and_images(batch: int, dtype_policy: str = "float32") -> tuple[object, object]:
    """The `seed` model, built and compiled from seed 0 with `dtype_policy`, and the first `batch` MNIST training
    images, scaled."""
    import keras

    from core.mnist import load_mnist, scale
    from core.model import build_model
    from core.presets import preset

    keras.utils.set_random_seed(0)
    return build_model(preset("seed"), dtype_policy=dtype_policy), scale(load_mnist().x_train[:batch])


def median_step_milliseconds(model: object, images: object, repeats: int) -> float:
    """The median time of a training step (`train_on_batch`, images to themselves), after two warm-up steps."""
    model.train_on_batch(images, images), model.train_on_batch(images, images)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.train_on_batch(images, images)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure_here(batch: int, repeats: int, dtype_policy: str = "float32") -> None:
    """Measures in this process and prints one JSON line (run by `main` in a fresh process per setting)."""
    import keras
    import tensorflow as tf

    from core.shapes import describe_shape

    model, images = seed_model_and_images(batch, dtype_policy)
    layers = [layer for part in ("encoder", "decoder") for layer in model.get_layer(part).layers
              if not isinstance(layer, keras.layers.InputLayer)]  # fmt: skip
    step_ms = median_step_milliseconds(model, images, repeats)

    rows, activation = [], tf.constant(images)
    for position, layer in enumerate(layers):
        output = layer(activation)
        needs_input_gradient = position > 0

        def forward(inputs: tf.Tensor, layer: keras.layers.Layer = layer) -> tf.Tensor:
            return layer(inputs)

        def forward_and_backward(
            inputs: tf.Tensor, layer: keras.layers.Layer = layer, needs_input_gradient: bool = needs_input_gradient
        ) -> list[tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(layer(inputs))
            sources = [*layer.trainable_variables, *([inputs] if needs_input_gradient else [])]
            return tape.gradient(loss, sources)

        forward_ms = median_milliseconds(tf.function(forward), activation, repeats)
        both_ms = median_milliseconds(tf.function(forward_and_backward), activation, repeats)
        macs = multiply_adds(layer, tuple(activation.shape[1:]), tuple(output.shape[1:]))
        flops = 2 * macs * batch * (3 if needs_input_gradient else 2)
        rows.append({
            "layer": layer.name, "type": type(layer).__name__,
            "shape": f"{describe_shape(activation.shape[1:])} -> {describe_shape(output.shape[1:])}",
            "multiply_adds_per_image": macs, "forward_ms": round(forward_ms, 2), "train_ms": round(both_ms, 2),
            "gflops_per_second": round(flops / both_ms / 1e6, 1),
        })  # fmt: skip
        activation = output

    size = 4096
    square = tf.random.normal((size, size))
    matmul_ms = median_milliseconds(tf.function(lambda matrix: tf.matmul(matrix, matrix)), square, repeats)

    layers_ms = sum(row["train_ms"] for row in rows)
    best_rate = max(row["gflops_per_second"] for row in rows)
    ceiling_ms = sum(row["train_ms"] * row["gflops_per_second"] / best_rate for row in rows)
    print(json.dumps({
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"), "batch": batch,
        "train_step_ms": round(step_ms, 1), "layers_ms": round(layers_ms, 1),
        "ceiling_ms": round(ceiling_ms, 1), "layers": rows,
        "matmul_gflops_per_second": round(2 * size**3 / matmul_ms / 1e6, 1),
        "multiply_adds_per_image": sum(row["multiply_adds_per_image"] for row in rows),
    }))  # fmt: skip


def one_op_at_a_time(batch: int, repeats: int, dtype_policy: str) -> tuple[object, object, float]:
    """TensorFlow set to run one op at a time (`inter_op_parallelism_threads=1`, each op still on every core), so that
    the ops' times add up to the step's; the seed model and images, and the median step in milliseconds."""
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    model, images = seed_model_and_images(batch, dtype_policy)
    return model, images, median_step_milliseconds(model, images, repeats)


def primitives_here(batch: int, repeats: int, dtype_policy: str = "float32") -> None:
    """Times training steps with TensorFlow's ops one at a time, then logs one step between markers for oneDNN's log.

    One op at a time (`inter_op_parallelism_threads=1`, each op still on every core), so that the primitives' times
    add up to the step's, and what the step spends outside oneDNN is the difference. Run with `ONEDNN_VERBOSE=1`.
    """
    model, images, step_ms = one_op_at_a_time(batch, repeats, dtype_policy)
    # oneDNN writes its log with C's stdio: flush it before each marker so that the markers fall where they belong.
    c_library = ctypes.CDLL(None)
    c_library.fflush(None), os.write(1, f"{STEP_BEGINS}\n".encode())
    model.train_on_batch(images, images)
    c_library.fflush(None), os.write(1, f"{STEP_ENDS}\n".encode())
    print(json.dumps({"train_step_ms": round(step_ms, 1)}))


def ops_here(batch: int, repeats: int, dtype_policy: str = "float32") -> None:
    """Profiles training steps with TensorFlow's profiler, ops one at a time, and prints each op's time a step as JSON.

    Every op of the step, oneDNN's and the rest (bias adds, ReLU, casts, the loss, Adam), by its name in the graph
    and its kernel: what `--primitives` counts as "outside oneDNN", op by op.
    """
    import collections
    import pathlib
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    model, images, step_ms = one_op_at_a_time(batch, repeats, dtype_policy)
    with tempfile.TemporaryDirectory() as directory:
        tf.profiler.experimental.start(directory)
        for _ in range(PROFILED_STEPS):
            model.train_on_batch(images, images)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(pathlib.Path(directory).rglob("*.xplane.pb")).read_bytes())
    totals: collections.Counter[str] = collections.Counter()
    for plane in space.planes:
        names = {key: metadata.name for key, metadata in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" in name and not name.startswith(("Eager", "Kernel", "Executor")):  # "graph/op:Kernel"
                    totals[name] += event.duration_ps / 1e9 / PROFILED_STEPS
    ops = [{"op": name, "ms": round(milliseconds, 2)} for name, milliseconds in totals.most_common()]
    print(json.dumps({"train_step_ms": round(step_ms, 1), "ops_ms": round(sum(totals.values()), 1), "ops": ops}))


def logged_primitives(log: str) -> dict:
    """The instruction set and the primitives of the logged training step in oneDNN's log, the slowest first."""
    isa = next((line.split(",isa:")[1] for line in log.splitlines() if ",isa:" in line), "unknown")
    step = log.split(STEP_BEGINS)[1].split(STEP_ENDS)[0]
    rows = []
    for line in step.splitlines():
        fields = line.split(",")
        if len(fields) < 8 or fields[2:4] != ["primitive", "exec"]:
            continue
        milliseconds, problem = float(fields[-1]), fields[-2]
        sizes = PROBLEM_SIZES.search(problem + ",") if fields[5] == "convolution" else None
        # Every convolution here has stride 1, so forward, data gradient and weight gradient do the same multiply-adds.
        gflop = 2 * math.prod(int(size) for size in sizes.groups()) / 1e9 if sizes else 0.0
        rows.append({
            "primitive": fields[5], "prop_kind": fields[7], "implementation": fields[6], "problem": problem,
            "ms": milliseconds, "gflop": gflop,
            "gflops_per_second": round(gflop / milliseconds * 1000, 1) if gflop else None,
        })  # fmt: skip
    rows.sort(key=lambda row: -row["ms"])
    step_ms = json.loads(log.strip().splitlines()[-1])["train_step_ms"]
    primitives_ms = sum(row["ms"] for row in rows)
    convolutions = [row for row in rows if row["primitive"] == "convolution"]
    return {
        "isa": isa, "train_step_ms": step_ms, "primitives_ms": round(primitives_ms, 1),
        "outside_onednn_ms": round(step_ms - primitives_ms, 1),
        "convolution_gflops_per_second": round(
            sum(row["gflop"] for row in convolutions) / sum(row["ms"] for row in convolutions) * 1000, 1
        ),
        "primitives": rows,
    }  # fmt: skip


def log_primitives(batch: int, repeats: int, dtype_policy: str = "float32") -> dict:
    """Runs `primitives_here` in a fresh process with oneDNN's log on, and reads the log."""
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
                   "TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_VERBOSE": "1"}  # fmt: skip
    script = PRIMITIVES.format(batch=batch, repeats=repeats, dtype_policy=dtype_policy)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment,
                            capture_output=True, text=True, check=True)  # fmt: skip
    return logged_primitives(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--onednn", default="on", help="oneDNN settings to measure, comma-separated: on, off")
    parser.add_argument("--dtype-policies", default="float32",
                        help="Keras dtype policies to measure, comma-separated: float32, mixed_bfloat16")  # fmt: skip
    parser.add_argument("--primitives", action="store_true", help="also list one step's oneDNN primitives")
    parser.add_argument("--ops", action="store_true", help="also list every op of a step, from TensorFlow's profiler")
    arguments = parser.parse_args()
    results = []
    for policy in arguments.dtype_policies.split(","):
        for setting in arguments.onednn.split(","):
            os.environ["TF_ENABLE_ONEDNN_OPTS"] = {"on": "1", "off": "0"}[setting]
            script = MEASURE.format(batch=arguments.batch, repeats=arguments.repeats, dtype_policy=policy)
            result = {"dtype_policy": policy, **run_on_backend(script, "tensorflow")}
            results.append(result)
            print(f"\n{policy}, oneDNN {setting}: a training step {result['train_step_ms']} ms; the layers' forward "
                  f"and backward {result['layers_ms']} ms; at the best layer's rate {result['ceiling_ms']} ms; a large "
                  f"matrix product {result['matmul_gflops_per_second']} GFLOP/s")  # fmt: skip
            print(f"{'layer':<34} {'shape':<22} {'MACs/image':>11} {'forward':>9} {'train':>9} {'GFLOP/s':>8}")
            for row in result["layers"]:
                cells = (row["layer"], row["shape"], row["multiply_adds_per_image"], row["forward_ms"], row["train_ms"])
                print("{:<34} {:<22} {:>11,} {:>7.1f}ms {:>7.1f}ms".format(*cells),
                      f"{row['gflops_per_second']:>8.1f}")  # fmt: skip
        if arguments.primitives:
            logged = {"dtype_policy": policy, **log_primitives(arguments.batch, arguments.repeats, policy)}
            results.append(logged)
            print(
                f"\n{policy}, one op at a time, a training step {logged['train_step_ms']} ms; oneDNN's log of one step "
                f"({logged['isa']}): {logged['primitives_ms']} ms in its primitives, convolutions at "
                f"{logged['convolution_gflops_per_second']} GFLOP/s; outside oneDNN {logged['outside_onednn_ms']} ms"
            )
            print(f"{'ms':>7} {'GFLOP/s':>8}  {'primitive':<34} {'implementation':<50} problem")
            for row in logged["primitives"]:
                rate = "" if row["gflops_per_second"] is None else f"{row['gflops_per_second']:.1f}"
                kind = f"{row['primitive']} {row['prop_kind']}"
                print(f"{row['ms']:>7.1f} {rate:>8}  {kind:<34} {row['implementation']:<50} {row['problem']}")
        if arguments.ops:
            script = OPS.format(batch=arguments.batch, repeats=arguments.repeats, dtype_policy=policy)
            profiled = {"dtype_policy": policy, **run_on_backend(script, "tensorflow")}
            results.append(profiled)
            print(f"\n{policy}, one op at a time, a training step {profiled['train_step_ms']} ms; TensorFlow's "
                  f"profiler: {profiled['ops_ms']} ms in its ops a step")  # fmt: skip
            for row in profiled["ops"][:40]:
                print(f"{row['ms']:>7.2f} ms  {row['op']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
