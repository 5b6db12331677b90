"""A spec as plain Keras 3 code that a reader can copy, run and change without the studio.

The code follows keras-io's autoencoder example: the Functional API, named `encoder` and `decoder` sub-models, the
autoencoder as `decoder(encoder(image))`, compiled with the spec's optimizer, learning rate and loss, and a `fit`
line (commented out, as it needs MNIST) with the spec's batch size, epochs and validation split. Layer names match
the ones `core.model` gives, so summaries read the same. Generating the code does not import Keras.
"""

from __future__ import annotations

import math

from core.shapes import describe_shape, infer_shapes
from core.spec import INPUT_SHAPE, ExperimentSpec, LayerSpec, layer_name
from core.validation import validate

OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "nadam": "Nadam", "rmsprop": "RMSprop", "sgd": "SGD"}
# Keras' own defaults, left out of the code; `padding` is always written because it decides the shapes here.
_LINE_LENGTH = 100  # What fits a code block on a laptop screen without scrolling sideways.
_KERAS_DEFAULTS = {"strides": 1, "output_padding": None, "dilation_rate": 1, "kernel_initializer": "glorot_uniform"}


def layer_call(layer: LayerSpec, name: str) -> str:
    """One layer as a Keras constructor call: `layers.Conv2D(32, 3, padding="valid", activation="relu", ...)`.

    Filters and kernel size are positional, as keras-io writes them; other arguments are named, and those equal to
    Keras' defaults are left out.
    """
    return f"layers.{layer.type}({', '.join(_arguments(layer, name))})"


def keras_code(spec: ExperimentSpec) -> str:
    """Runnable Keras 3 code that builds and compiles the autoencoder of `spec`.

    Running it defines `encoder`, `decoder` and `autoencoder` (output shape (None, 28, 28, 1), as many parameters
    as `infer_shapes(spec).params`); the lines that load MNIST and train are there as comments.

    Args:
        spec: a valid experiment spec.

    Returns:
        Python source text, ending with a newline.

    Raises:
        SpecError: if the spec is invalid (there is no model to write).
    """
    validate(spec)
    report = infer_shapes(spec)
    layer_shapes = iter(report.layers)
    bottleneck = report.bottleneck_shape
    lines = [
        f'"""The `{spec.name}` autoencoder in plain Keras 3 ({report.params:,} parameters)."""',
        "",
        "import keras",
        "from keras import layers",
        "",
        f"# The encoder squeezes a 28x28x1 digit into a {describe_shape(bottleneck)} code "
        f"({report.bottleneck_size:,} values for {math.prod(INPUT_SHAPE):,} pixels).",
        f'image = keras.Input(shape={INPUT_SHAPE}, name="image")',
        "features = image",
    ]
    for index, layer in enumerate(spec.encoder):
        lines.append(
            _layer_line("features", layer, layer_name("encoder", index, layer), next(layer_shapes).output_shape)
        )
    lines += [
        'encoder = keras.Model(image, features, name="encoder")',
        "",
        "# The decoder grows the code back into a 28x28x1 image; the sigmoid keeps pixels in [0, 1].",
        f'code = keras.Input(shape={bottleneck}, name="code")',
        "features = code",
    ]
    for index, layer in enumerate(spec.decoder):
        lines.append(
            _layer_line("features", layer, layer_name("decoder", index, layer), next(layer_shapes).output_shape)
        )
    output_name = layer_name("output", None, spec.output)
    lines += [
        _layer_line("reconstruction", spec.output, output_name, next(layer_shapes).output_shape),
        'decoder = keras.Model(code, reconstruction, name="decoder")',
        "",
        'autoencoder = keras.Model(image, decoder(encoder(image)), name="autoencoder")',
        *_compile_lines(spec),
        "autoencoder.summary()",
        "",
        *_fit_lines(spec),
    ]
    return "\n".join(lines) + "\n"


def _arguments(layer: LayerSpec, name: str) -> list[str]:
    arguments = layer.to_dict()
    del arguments["type"]
    words = []
    if layer.has_weights:
        words += [str(arguments.pop("filters")), str(arguments.pop("kernel_size"))]
    for argument, value in arguments.items():
        if _KERAS_DEFAULTS.get(argument, object()) == value:
            continue
        words.append(f"{argument}={_literal(value)}")
    words.append(f"name={_literal(name)}")
    return words


def _layer_line(target: str, layer: LayerSpec, name: str, output_shape: tuple[int, int, int]) -> str:
    # Wrapped the way ruff format wraps a long call, so the code reads well in a narrow code block.
    comment = f"  # {_batch_shape(output_shape)}"
    line = f"{target} = {layer_call(layer, name)}(features)"
    if len(line) <= _LINE_LENGTH:
        return line + comment
    arguments = _arguments(layer, name)
    inner = f"    {', '.join(arguments)}"
    if len(inner) > _LINE_LENGTH:
        inner = "\n".join(f"    {argument}," for argument in arguments)
    return f"{target} = layers.{layer.type}(\n{inner}\n)(features)" + comment


def _compile_lines(spec: ExperimentSpec) -> list[str]:
    training = spec.training
    optimizer = OPTIMIZER_NAMES[training.optimizer]
    lines = []
    learning_rate = _literal(training.learning_rate)
    if training.learning_rate_schedule == "cosine":
        images, steps = training.train_images(), training.total_steps()
        lines += [
            f"# Cosine decay to zero over all {steps:,} training steps "
            f"({training.epochs} epochs of {images:,} images in batches of {training.batch_size}).",
            f"learning_rate = keras.optimizers.schedules.CosineDecay({learning_rate}, decay_steps={steps})",
        ]
        learning_rate = "learning_rate"
    arguments = f"optimizer=keras.optimizers.{optimizer}(learning_rate={learning_rate}), loss={_literal(training.loss)}"
    line = f"autoencoder.compile({arguments})"
    lines += [line] if len(line) <= _LINE_LENGTH else ["autoencoder.compile(", f"    {arguments}", ")"]
    return lines


def _fit_lines(spec: ExperimentSpec) -> list[str]:
    training = spec.training
    noise = training.noise
    lines = [
        "# To train it on MNIST (Keras downloads the 11 MB dataset on first use):",
        "# import numpy as np",
        "# (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()",
        '# x_train = x_train.astype("float32")[..., np.newaxis] / 255.0  # (60000, 28, 28, 1) in [0, 1]',
        '# x_test = x_test.astype("float32")[..., np.newaxis] / 255.0',
    ]
    inputs = "x_train"
    if noise.kind == "gaussian":
        lines += [
            "# A denoiser sees noisy inputs and learns to output the clean digits:",
            f"# noisy_train = np.clip(x_train + {noise.amount} * np.random.normal(size=x_train.shape), 0, 1)",
        ]
        inputs = "noisy_train"
    elif noise.kind == "salt_pepper":
        lines += [
            "# A denoiser sees noisy inputs and learns to output the clean digits:",
            f"# hit = np.random.random(x_train.shape) < {noise.amount}",
            '# noisy_train = np.where(hit, np.random.random(x_train.shape) < 0.5, x_train).astype("float32")',
        ]
        inputs = "noisy_train"
    lines += [
        f"# autoencoder.fit({inputs}, x_train, batch_size={training.batch_size}, epochs={training.epochs}, "
        f"validation_split={training.validation_split})",
        "# autoencoder.evaluate(x_test, x_test)",
    ]
    return lines


def _literal(value: object) -> str:
    # Double quotes, as keras-io and ruff format write strings.
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _batch_shape(shape: tuple[int, int, int]) -> str:
    return f"(None, {shape[0]}, {shape[1]}, {shape[2]})"
