"""A spec as plain Keras 3 code that a reader can copy, run and change without the studio.

The code follows keras-io's autoencoder example: the Functional API, named `encoder` and `decoder` sub-models, the
autoencoder as `decoder(encoder(image))`, compiled with the spec's optimizer, learning rate and loss, and a `fit`
line (commented out, as it needs MNIST) with the spec's batch size, epochs and validation split. Layer names match
the ones `core.model` gives, so summaries read the same. Generating the code does not import Keras.
"""

from __future__ import annotations

import json
import math
from typing import Any

from core.backends import AUTO_PRECISION
from core.shapes import describe_shape, infer_shapes
from core.spec import INPUT_SHAPE, ExperimentSpec, LayerSpec, layer_name
from core.validation import validate

OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "nadam": "Nadam", "rmsprop": "RMSprop", "sgd": "SGD"}
# Keras' constructor defaults per layer type, as the spec writes them (one integer for both axes); an argument equal
# to its type's default is left out of the code. They differ by type: MaxPooling2D's `strides` defaults to None
# (the pool size), not to a convolution's 1, so pooling strides are always written. Unlisted arguments are always
# written (`padding` decides the shapes here). tests/test_keras_code.py checks each entry against Keras' signatures.
KERAS_DEFAULTS: dict[str, dict[str, Any]] = {
    "Conv2D": {"strides": 1, "dilation_rate": 1, "kernel_initializer": "glorot_uniform"},
    "Conv2DTranspose": {
        "strides": 1,
        "output_padding": None,
        "dilation_rate": 1,
        "kernel_initializer": "glorot_uniform",
    },
    "MaxPooling2D": {"strides": None},
    "UpSampling2D": {},
}
_LINE_LENGTH = 100  # What fits a code block on a laptop screen without scrolling sideways.


def layer_call(layer: LayerSpec, name: str) -> str:
    """One layer as a Keras constructor call: `layers.Conv2D(32, 3, padding="valid", activation="relu", ...)`.

    Filters and kernel size are positional, as keras-io writes them; other arguments are named, and those equal to
    Keras' default for the layer's type (`KERAS_DEFAULTS`) are left out.
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
    lines = [
        f'"""The `{_in_string(spec.name)}` autoencoder in plain Keras 3 ({report.params:,} parameters)."""',
        "",
        "import keras",
        "from keras import layers",
        "",
        *_model_lines(spec),
        *_compile_lines(spec),
        "autoencoder.summary()",
        "",
        *_fit_lines(spec),
    ]
    return "\n".join(lines) + "\n"


def training_script(spec: ExperimentSpec) -> str:
    """A standalone Python script that rebuilds the autoencoder of `spec` with plain Keras 3 and trains it.

    The script loads MNIST with `keras.datasets.mnist.load_data()` (or a local `mnist.npz` given by `--mnist`),
    scales it to [0, 1], builds and compiles the model as `keras_code` does, prints its parameter count and output
    shape, trains it with the spec's batch size, epochs, validation split and noise (a denoiser gets new noise every
    epoch, as in the studio), evaluates it on the test set and can save it (`--save model.keras`). `--epochs` and
    `--limit` make a quick check. It needs only Keras, a backend and NumPy, and holds no path of this machine.

    Args:
        spec: a valid experiment spec.

    Returns:
        Python source text, ending with a newline.

    Raises:
        SpecError: if the spec is invalid.
    """
    validate(spec)
    report = infer_shapes(spec)
    training = spec.training
    name = _in_string(spec.name)
    lines = [
        f'"""Trains the `{name}` autoencoder ({report.params:,} parameters) on MNIST with plain Keras 3.',
        "",
        "Written by the Conv2DTranspose Autoencoder Studio from the experiment's spec. Run it with:",
        "",
        "    python train.py                            # MNIST from Keras (downloaded once, 11 MB)",
        "    python train.py --mnist mnist.npz          # a local copy of Keras' mnist.npz",
        "    python train.py --epochs 1 --limit 1000    # a quick check",
        "    python train.py --save model.keras         # keep the trained model",
        '"""',
        "",
        "import argparse",
        "import math",
        "",
        "import keras",
        "import numpy as np",
        "from keras import layers",
        "",
        "parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])",
        'parser.add_argument("--mnist", help="a local mnist.npz (x_train, x_test, ...) instead of Keras\' download")',
        f'parser.add_argument("--epochs", type=int, default={training.epochs}, help="epochs to train")',
        'parser.add_argument("--limit", type=int, help="use only the first LIMIT training and test images")',
        'parser.add_argument("--save", help="where to save the trained model, e.g. model.keras")',
        "arguments = parser.parse_args()",
        f"keras.utils.set_random_seed({training.seed})",
        "",
        "# MNIST as float32 images (n, 28, 28, 1) in [0, 1]; the autoencoder learns to output its input.",
        "if arguments.mnist:",
        "    with np.load(arguments.mnist) as data:",
        '        x_train, x_test = data["x_train"], data["x_test"]',
        "else:",
        "    (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()",
        'x_train = x_train[: arguments.limit].astype("float32")[..., np.newaxis] / 255.0',
        'x_test = x_test[: arguments.limit].astype("float32")[..., np.newaxis] / 255.0',
        f"# The last {training.validation_split:.0%} of the training images validate, as in the studio.",
        f"split_at = int(len(x_train) * (1 - {training.validation_split}))",
        f"steps_per_epoch = math.ceil(split_at / {training.batch_size})",
        "",
        *_dtype_policy_lines(training.dtype_policy),
        "",
        *_model_lines(spec),
        *_compile_lines(spec, steps_per_epoch="steps_per_epoch"),
        'print(f"Parameters: {autoencoder.count_params()}")',
        'print(f"Output shape: {tuple(autoencoder.output.shape)}")',
        "",
        *_script_fit_lines(spec),
        "",
        "if arguments.save:",
        "    autoencoder.save(arguments.save)",
        '    print(f"Saved the model to {arguments.save}")',
    ]
    return "\n".join(lines) + "\n"


def _model_lines(spec: ExperimentSpec) -> list[str]:
    report = infer_shapes(spec)
    layer_shapes = iter(report.layers)
    bottleneck = report.bottleneck_shape
    lines = [
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
    ]
    return lines


def _arguments(layer: LayerSpec, name: str) -> list[str]:
    arguments = layer.to_dict()
    del arguments["type"]
    words = []
    if layer.has_weights:
        words += [str(arguments.pop("filters")), str(arguments.pop("kernel_size"))]
    defaults = KERAS_DEFAULTS[layer.type]
    for argument, value in arguments.items():
        if argument in defaults and defaults[argument] == value:
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


def _compile_lines(spec: ExperimentSpec, steps_per_epoch: str | None = None) -> list[str]:
    # With `steps_per_epoch`, the name of a variable, the schedule counts the steps of the data the script loads.
    training = spec.training
    optimizer = OPTIMIZER_NAMES[training.optimizer]
    lines = []
    learning_rate = _literal(training.learning_rate)
    if training.learning_rate_schedule == "cosine" and steps_per_epoch:
        lines += [
            "# Cosine decay to zero over all training steps.",
            f"learning_rate = keras.optimizers.schedules.CosineDecay({learning_rate}, "
            f"decay_steps={steps_per_epoch} * arguments.epochs)",
        ]
        learning_rate = "learning_rate"
    elif training.learning_rate_schedule == "cosine":
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


def _dtype_policy_lines(dtype_policy: str) -> list[str]:
    if dtype_policy == "float32":
        return ["# The studio computed in float32."]
    if dtype_policy == "auto":
        return [
            f"# The studio's precision `auto`: {AUTO_PRECISION}. Where that is mixed_bfloat16:",
            '# keras.config.set_dtype_policy("mixed_bfloat16")',
        ]
    return [
        f"# Mixed precision, as the studio trained it: {dtype_policy} computes in 16 bits, keeps weights in 32.",
        f"keras.config.set_dtype_policy({_literal(dtype_policy)})",
    ]


def _script_fit_lines(spec: ExperimentSpec) -> list[str]:
    training = spec.training
    noise = training.noise
    split, batch_size = training.validation_split, training.batch_size
    if noise.kind == "none":
        return [
            "autoencoder.fit(",
            f"    x_train, x_train, batch_size={batch_size}, epochs=arguments.epochs, validation_split={split}",
            ")",
            'print(f"Test loss: {autoencoder.evaluate(x_test, x_test, batch_size=1000, verbose=0):.4f}")',
        ]
    if noise.kind == "gaussian":
        description = f"Gaussian noise of standard deviation {noise.amount}, clipped to [0, 1]"
        corrupt = [f"    noisy = np.clip(images + {noise.amount} * generator.standard_normal(images.shape), 0, 1)"]
    else:
        description = f"salt-and-pepper noise: {noise.amount:.0%} of the pixels set to black or white"
        corrupt = [
            f"    hit = generator.random(images.shape) < {noise.amount}",
            "    noisy = np.where(hit, generator.random(images.shape) < 0.5, images)",
        ]
    return [
        "",
        f"# A denoiser: its inputs get {description}; its targets stay clean.",
        "def add_noise(images, generator):",
        *corrupt,
        '    return noisy.astype("float32")',
        "",
        "",
        "class NoisyDigits(keras.utils.PyDataset):",
        '    """(noisy, clean) batches; new noise every epoch for training, the same every epoch for validation."""',
        "",
        "    def __init__(self, images, fresh_noise, seed):",
        "        super().__init__()",
        "        self.images, self.fresh_noise, self.seed, self.epoch = images, fresh_noise, seed, 0",
        "        self.order = self._order()",
        "",
        "    def __len__(self):",
        f"        return math.ceil(len(self.images) / {batch_size})",
        "",
        "    def __getitem__(self, index):",
        f"        clean = self.images[self.order[index * {batch_size} : (index + 1) * {batch_size}]]",
        "        generator = np.random.default_rng([self.seed, self.epoch if self.fresh_noise else 0, index])",
        "        return add_noise(clean, generator), clean",
        "",
        "    def on_epoch_end(self):",
        "        self.epoch += 1",
        "        self.order = self._order()",
        "",
        "    def _order(self):",
        "        # Training reshuffles the images every epoch, as fit(shuffle=True) does with arrays; validation keeps",
        "        # their order.",
        "        if not self.fresh_noise:",
        "            return np.arange(len(self.images))",
        "        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))",
        "",
        "",
        f"training_data = NoisyDigits(x_train[:split_at], fresh_noise=True, seed={training.seed})",
        "validation_data = None",
        "if split_at < len(x_train):",
        f"    validation_data = NoisyDigits(x_train[split_at:], fresh_noise=False, seed={training.seed + 1})",
        "# The batches are shuffled already: fit takes them in order, so only an epoch's last batch is short.",
        "autoencoder.fit(training_data, epochs=arguments.epochs, validation_data=validation_data, shuffle=False)",
        f"noisy_test = add_noise(x_test, np.random.default_rng({training.seed + 2}))",
        'print(f"Test loss: {autoencoder.evaluate(x_test, x_test, batch_size=1000, verbose=0):.4f}")',
        'print(f"Noisy test loss: {autoencoder.evaluate(noisy_test, x_test, batch_size=1000, verbose=0):.4f}")',
    ]


def _in_string(text: str) -> str:
    # A name typed by a user (or in a spec someone sent) goes into a string literal escaped, so it cannot end
    # the string and become code.
    return json.dumps(text)[1:-1]


def _literal(value: object) -> str:
    # Double quotes, as keras-io and ruff format write strings.
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _batch_shape(shape: tuple[int, int, int]) -> str:
    return f"(None, {shape[0]}, {shape[1]}, {shape[2]})"
