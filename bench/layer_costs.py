"""Where a training step of the `seed` preset spends its time on this CPU, layer by layer (TensorFlow backend).

    .venv/bin/python -m bench.layer_costs [--batch 1000] [--repeats 7] [--onednn on,off]

For each layer of the `seed` model (batch 1000, as the reference recipe): its forward pass, and its forward and
backward pass as training computes it (gradients of its weights, and of its input except for the first layer,
whose input is the data), each a `tf.function` on the layer's real input (the activations of an MNIST batch),
median of `--repeats` timings after two warm-ups. Beside them, a whole training step (`train_on_batch`). Work is
counted in multiply-adds (a convolution: output pixels x output channels x kernel area x input channels; a
transposed one: input pixels x input channels x kernel area x output channels); the backward pass does two more
of those (one without the input's gradient), so a layer's rate is FLOPs of its forward and backward over their
time. Each `--onednn` setting runs in a fresh process (`TF_ENABLE_ONEDNN_OPTS`, read when TensorFlow loads).

This is the evidence for how far the CPU can go with the reference recipe: if every layer ran at the best layer's
rate, the layers would take `ceiling_ms`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from bench.backends import run_on_backend

MEASURE = "from bench.layer_costs import measure_here; measure_here({batch}, {repeats})"


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


def measure_here(batch: int, repeats: int) -> None:
    """Measures in this process and prints one JSON line (run by `main` in a fresh process per setting)."""
    import keras
    import tensorflow as tf

    from core.mnist import load_mnist, scale
    from core.model import build_model
    from core.presets import preset
    from core.shapes import describe_shape

    keras.utils.set_random_seed(0)
    model = build_model(preset("seed"))
    images = scale(load_mnist().x_train[:batch])
    layers = [layer for part in ("encoder", "decoder") for layer in model.get_layer(part).layers
              if not isinstance(layer, keras.layers.InputLayer)]  # fmt: skip

    step_times = []
    model.train_on_batch(images, images), model.train_on_batch(images, images)
    for _ in range(repeats):
        started = time.perf_counter()
        model.train_on_batch(images, images)
        step_times.append((time.perf_counter() - started) * 1000)

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

    layers_ms = sum(row["train_ms"] for row in rows)
    best_rate = max(row["gflops_per_second"] for row in rows)
    ceiling_ms = sum(row["train_ms"] * row["gflops_per_second"] / best_rate for row in rows)
    print(json.dumps({
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"), "batch": batch,
        "train_step_ms": round(statistics.median(step_times), 1), "layers_ms": round(layers_ms, 1),
        "ceiling_ms": round(ceiling_ms, 1), "layers": rows,
        "multiply_adds_per_image": sum(row["multiply_adds_per_image"] for row in rows),
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--onednn", default="on", help="oneDNN settings to measure, comma-separated: on, off")
    arguments = parser.parse_args()
    results = []
    for setting in arguments.onednn.split(","):
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = {"on": "1", "off": "0"}[setting]
        result = run_on_backend(MEASURE.format(batch=arguments.batch, repeats=arguments.repeats), "tensorflow")
        results.append(result)
        print(f"\noneDNN {setting}: a training step {result['train_step_ms']} ms; the layers' forward and backward "
              f"{result['layers_ms']} ms; at the best layer's rate {result['ceiling_ms']} ms")  # fmt: skip
        print(f"{'layer':<34} {'shape':<22} {'MACs/image':>11} {'forward':>9} {'train':>9} {'GFLOP/s':>8}")
        for row in result["layers"]:
            cells = (row["layer"], row["shape"], row["multiply_adds_per_image"], row["forward_ms"], row["train_ms"])
            print("{:<34} {:<22} {:>11,} {:>7.1f}ms {:>7.1f}ms".format(*cells), f"{row['gflops_per_second']:>8.1f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
