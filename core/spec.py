"""The experiment as plain data: layers, training settings and the checks of their arguments.

An `ExperimentSpec` is a frozen dataclass with a JSON round trip that uses Keras' own argument names, so the
same object names a run, keys Streamlit's caches and rebuilds a model. Nothing here imports TensorFlow.
Checks raise `SpecError` (a `ValueError`) in Keras' voice: which layer, which argument, what was expected
and what was received. They are cheap and need no shapes: whether the layers fit together, and the fix when they
do not, is `core.validation`'s job, which builds on `core.shapes`; neither is imported here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

LAYER_TYPES = ("Conv2D", "Conv2DTranspose", "MaxPooling2D", "UpSampling2D")
PADDINGS = ("valid", "same")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear", "elu", "selu", "leaky_relu", "gelu", "silu")
KERNEL_INITIALIZERS = (
    "he_normal",
    "he_uniform",
    "glorot_uniform",
    "glorot_normal",
    "lecun_normal",
    "lecun_uniform",
)
INTERPOLATIONS = ("nearest", "bilinear")
LEARNING_RATE_SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd")
LOSSES = ("binary_crossentropy", "mse")
# Keras' dtype policies a run may train with; "auto" is resolved on the worker's device (`core.backends`).
DTYPE_POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# Noise a training run may add to its inputs. `core.noise.NOISE_KINDS` has one more, for the Draw page only.
TRAINING_NOISE_KINDS = ("none", "gaussian", "salt_pepper")

INPUT_SHAPE = (28, 28, 1)
MAX_SPEC_BYTES = 1_000_000  # A spec is a few kilobytes: a longer text is refused before it is parsed.
TRAIN_IMAGES = 60_000
MAX_LAYERS_PER_PART = 12
MAX_FILTERS = 1024  # Per convolution; the Build page's filters boxes refuse more.

# The JSON keys of each layer type, in Keras' argument order. Only these are written and accepted.
LAYER_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "Conv2D": (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "dilation_rate",
        "activation",
        "kernel_initializer",
    ),
    "Conv2DTranspose": (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "output_padding",
        "dilation_rate",
        "activation",
        "kernel_initializer",
    ),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "UpSampling2D": ("size", "interpolation"),
}


@dataclass(frozen=True)
class Fix:
    """A change that cures a `SpecError`: one argument of one layer set to one value.

    Attributes:
        part: "encoder", "decoder" or "output".
        index: zero-based layer index within `part`; None for the output layer.
        argument: the Keras argument to change, e.g. "output_padding".
        value: its new value.
    """

    part: str
    index: int | None
    argument: str
    value: Any

    def describe(self) -> str:
        """The change in words: "set output_padding=1 on decoder layer 2"."""
        return f"set {self.argument}={self.value!r} on {describe_location(self.part, self.index)}"


class SpecError(ValueError):
    """An invalid experiment spec, with where the fault is and, when one is known, what cures it.

    Attributes:
        part: "encoder", "decoder", "output", "training" or "spec".
        index: zero-based layer index within `part`, or None.
        argument: the argument at fault, or None.
        fix: the one argument change that cures the fault, or None when no single change is known.
        hint: advice in words, for another way out beside `fix` ("use loss='mse'") or when there is no `fix`
            ("raise strides or lower output_padding"), or None.
    """

    def __init__(
        self,
        message: str,
        *,
        part: str = "spec",
        index: int | None = None,
        argument: str | None = None,
        fix: Fix | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.part = part
        self.index = index
        self.argument = argument
        self.fix = fix
        self.hint = hint

    @property
    def suggestion(self) -> str | None:
        """The fix and the hint in words, e.g. "set activation='sigmoid' on output layer, or use loss='mse'"."""
        words = []
        if self.fix is not None:
            words.append(self.fix.describe())
        if self.hint:
            words.append(self.hint)
        return ", or ".join(words) or None


_SNAKE_NAMES = {
    "Conv2D": "conv2d",
    "Conv2DTranspose": "conv2d_transpose",
    "MaxPooling2D": "max_pooling2d",
    "UpSampling2D": "up_sampling2d",
}


def layer_name(part: str, index: int | None, layer: LayerSpec) -> str:
    """The Keras layer name for a place in the spec: "encoder_1_conv2d", "decoder_3_conv2d_transpose", ..."""
    prefix = part if index is None else f"{part}_{index + 1}"
    return f"{prefix}_{_SNAKE_NAMES[layer.type]}"


def describe_location(part: str, index: int | None) -> str:
    """Human name of a place in the spec: "encoder layer 2", "output layer", "training settings"."""
    if part in ("encoder", "decoder") and index is not None:
        return f"{part} layer {index + 1}"
    if part == "output":
        return "output layer"
    if part == "training":
        return "training settings"
    return "spec"


@dataclass(frozen=True)
class LayerSpec:
    """One layer, named by its Keras class and described by Keras' own argument names.

    Kernel sizes, strides, dilation and pooling sizes are square (one integer for both axes). Arguments that a
    layer type does not take keep their defaults and are left out of its JSON.
    """

    type: str
    filters: int | None = None
    kernel_size: int = 3
    strides: int = 1
    padding: str = "valid"
    output_padding: int | None = None
    dilation_rate: int = 1
    activation: str = "relu"
    kernel_initializer: str = "he_normal"
    pool_size: int = 2
    size: int = 2
    interpolation: str = "nearest"

    @property
    def has_weights(self) -> bool:
        return self.type in ("Conv2D", "Conv2DTranspose")

    def to_dict(self) -> dict[str, Any]:
        """The layer as JSON-ready data with `type` first, then its Keras arguments."""
        return {"type": self.type, **{name: getattr(self, name) for name in LAYER_ARGUMENTS[self.type]}}

    @classmethod
    def from_dict(cls, data: Any, *, part: str = "spec", index: int | None = None) -> LayerSpec:
        """Reads a layer written by `to_dict`; missing arguments take their defaults.

        Raises:
            SpecError: if `data` is not an object, names an unknown type or has an argument the type
                does not take. Values are checked by `validate_layer`.
        """
        where = describe_location(part, index)
        if not isinstance(data, dict):
            raise SpecError(
                f"Invalid {where}. Expected a JSON object with a `type`. Received: {data!r}.",
                part=part,
                index=index,
            )
        layer_type = data.get("type")
        if layer_type not in LAYER_TYPES:
            raise SpecError(
                f"Invalid value for argument `type` of {where}. Expected one of {list(LAYER_TYPES)}. "
                f"Received type={layer_type!r}.",
                part=part,
                index=index,
                argument="type",
            )
        allowed = LAYER_ARGUMENTS[layer_type]
        for name in data:
            if name != "type" and name not in allowed:
                raise SpecError(
                    f"Unrecognized argument `{name}` for {where} ({layer_type}). Expected only: {', '.join(allowed)}.",
                    part=part,
                    index=index,
                    argument=name,
                )
        arguments = {name: data[name] for name in allowed if name in data}
        if layer_type in ("Conv2D", "Conv2DTranspose") and "filters" not in arguments:
            raise SpecError(
                f"Missing argument `filters` for {where} ({layer_type}).",
                part=part,
                index=index,
                argument="filters",
            )
        if layer_type == "MaxPooling2D" and "strides" not in arguments:
            # Keras' MaxPooling2D defaults `strides` to `pool_size`.
            arguments["strides"] = arguments.get("pool_size", 2)
        return cls(type=layer_type, **arguments)


def conv2d(filters: int, kernel_size: int = 3, **arguments: Any) -> LayerSpec:
    """A Conv2D layer spec; remaining arguments as in `keras.layers.Conv2D`."""
    return LayerSpec(type="Conv2D", filters=filters, kernel_size=kernel_size, **arguments)


def conv2d_transpose(filters: int, kernel_size: int = 3, **arguments: Any) -> LayerSpec:
    """A Conv2DTranspose layer spec; remaining arguments as in `keras.layers.Conv2DTranspose`."""
    return LayerSpec(type="Conv2DTranspose", filters=filters, kernel_size=kernel_size, **arguments)


def max_pooling2d(pool_size: int = 2, strides: int | None = None, padding: str = "valid") -> LayerSpec:
    """A MaxPooling2D layer spec; `strides` defaults to `pool_size` as in Keras."""
    return LayerSpec(
        type="MaxPooling2D",
        pool_size=pool_size,
        strides=pool_size if strides is None else strides,
        padding=padding,
    )


def up_sampling2d(size: int = 2, interpolation: str = "nearest") -> LayerSpec:
    """An UpSampling2D layer spec."""
    return LayerSpec(type="UpSampling2D", size=size, interpolation=interpolation)


@dataclass(frozen=True)
class NoiseSpec:
    """Noise added to training inputs (targets stay clean), which makes the autoencoder a denoiser.

    `amount` is the standard deviation for "gaussian" and the fraction of pixels flipped to black or white for
    "salt_pepper"; it is ignored for "none".
    """

    kind: str = "none"
    amount: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "amount": self.amount}


@dataclass(frozen=True)
class TrainingSpec:
    """How to train: Keras' `compile` and `fit` arguments, plus noise and a seed."""

    optimizer: str = "adam"
    learning_rate: float = 0.001
    learning_rate_schedule: str = "constant"  # "cosine" decays to zero over all steps (Keras' CosineDecay).
    loss: str = "binary_crossentropy"
    batch_size: int = 1000
    epochs: int = 25
    validation_split: float = 0.2
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    seed: int = 0
    dtype_policy: str = "auto"  # Keras' dtype policy: mixed precision computes in 16 bits, keeps weights in 32.

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "learning_rate_schedule": self.learning_rate_schedule,
            "loss": self.loss,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "validation_split": self.validation_split,
            "noise": self.noise.to_dict(),
            "seed": self.seed,
            "dtype_policy": self.dtype_policy,
        }

    def train_images(self, images: int = TRAIN_IMAGES) -> int:
        """How many of `images` are left for training once `validation_split` holds out the last fraction.

        Args:
            images: the images given to `fit`; by default all 60,000 MNIST training images.

        Returns:
            The size of the training part, rounded down as Keras' `fit(validation_split=...)` rounds it.
        """
        return int(images * (1 - self.validation_split))

    def total_steps(self, steps_per_epoch: int | None = None) -> int:
        """Batches over all epochs: the steps over which a "cosine" schedule decays the learning rate to zero.

        Args:
            steps_per_epoch: batches per epoch; by default, those of all 60,000 training images less the
                validation split.

        Returns:
            `steps_per_epoch` times `epochs`.
        """
        if not steps_per_epoch:
            steps_per_epoch = -(-self.train_images() // self.batch_size)  # Rounded up: the last batch is smaller.
        return steps_per_epoch * self.epochs

    @classmethod
    def from_dict(cls, data: Any) -> TrainingSpec:
        """Reads settings written by `to_dict`; missing settings take their defaults."""
        _require_object(data, "training settings", "training")
        _reject_unknown(data, [*cls().to_dict()], "training settings", "training")
        arguments = dict(data)
        if "noise" in arguments:
            noise = arguments["noise"]
            _require_object(noise, "argument `noise` of training settings", "training")
            _reject_unknown(noise, ["kind", "amount"], "argument `noise` of training settings", "training")
            arguments["noise"] = NoiseSpec(**noise)
        return cls(**arguments)


@dataclass(frozen=True)
class ExperimentSpec:
    """A whole experiment: the encoder, the decoder, the output layer and the training settings.

    The model maps a 28x28x1 image through `encoder` (ending at the bottleneck), `decoder`, then `output`,
    which must bring it back to 28x28x1.
    """

    encoder: tuple[LayerSpec, ...]
    decoder: tuple[LayerSpec, ...]
    output: LayerSpec
    training: TrainingSpec = field(default_factory=TrainingSpec)
    name: str = "custom"

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data, in exactly the form `from_dict` reads."""
        return {
            "name": self.name,
            "encoder": [layer.to_dict() for layer in self.encoder],
            "decoder": [layer.to_dict() for layer in self.decoder],
            "output": self.output.to_dict(),
            "training": self.training.to_dict(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> ExperimentSpec:
        """Reads a spec written by `to_dict` and checks its arguments with `validate_arguments`.

        Whether the layers fit together is not checked here (a run listing reads every stored spec, and shapes
        cost more): `core.validation.validate` checks the whole spec.

        Raises:
            SpecError: for any unknown key, wrong type or invalid value, naming where it is.
        """
        _require_object(data, "spec", "spec")
        _reject_unknown(data, ["name", "encoder", "decoder", "output", "training"], "spec", "spec")
        for part in ("encoder", "decoder", "output"):
            if part not in data:
                raise SpecError(f"Missing key `{part}` in spec.", part=part)
        layers: dict[str, tuple[LayerSpec, ...]] = {}
        for part in ("encoder", "decoder"):
            if not isinstance(data[part], list):
                raise SpecError(
                    f"Invalid value for `{part}`. Expected a list of layers. Received: {data[part]!r}.",
                    part=part,
                )
            layers[part] = tuple(
                LayerSpec.from_dict(item, part=part, index=index) for index, item in enumerate(data[part])
            )
        try:
            spec = cls(
                encoder=layers["encoder"],
                decoder=layers["decoder"],
                output=LayerSpec.from_dict(data["output"], part="output"),
                training=TrainingSpec.from_dict(data.get("training", {})),
                name=data.get("name", "custom"),
            )
        except TypeError as error:  # A wrongly nested value, e.g. noise given as a number.
            raise SpecError(f"Invalid spec: {error}.") from error
        validate_arguments(spec)
        return spec

    @classmethod
    def from_json(cls, text: str) -> ExperimentSpec:
        """Parses JSON text and reads it with `from_dict`.

        Raises:
            SpecError: for text that is not JSON, longer than `MAX_SPEC_BYTES` or nested too deeply to parse, and as
                `from_dict` does.
        """
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(
                f"Invalid spec. Expected at most {MAX_SPEC_BYTES:,} characters of JSON. Received {len(text):,}."
            )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpecError(f"Invalid JSON in spec: {error}.") from error
        except RecursionError as error:  # Python's parser recurses once per level of nesting.
            raise SpecError("Invalid JSON in spec: it is nested too deeply. A spec nests at most 3 levels.") from error
        try:
            return cls.from_dict(data)
        except RecursionError as error:  # Parsed, but too deep to describe in an error message.
            raise SpecError("Invalid spec: a value is nested too deeply. A spec nests at most 3 levels.") from error

    def with_training(self, **changes: Any) -> ExperimentSpec:
        """A copy with some training settings changed, e.g. `spec.with_training(epochs=3)`."""
        return replace(self, training=replace(self.training, **changes))

    def layer_at(self, part: str, index: int | None) -> LayerSpec:
        """The layer at a place: ("decoder", 1) is decoder layer 2, ("output", None) the output layer.

        Raises:
            SpecError: if there is no such place.
        """
        if part == "output":
            return self.output
        if part not in ("encoder", "decoder"):
            raise SpecError(
                f"Invalid part. Expected one of ['encoder', 'decoder', 'output']. Received part={part!r}.", part=part
            )
        layers = getattr(self, part)
        if index is None or not 0 <= index < len(layers):
            raise SpecError(
                f"Invalid layer index for the {part}. Expected 0 to {len(layers) - 1}. Received index={index!r}.",
                part=part,
                index=index,
            )
        return layers[index]

    def with_layer(self, part: str, index: int | None, layer: LayerSpec) -> ExperimentSpec:
        """A copy with the layer at (part, index) replaced by `layer`."""
        if part == "output":
            return replace(self, output=layer)
        layers = list(getattr(self, part))
        layers[index] = layer
        return replace(self, **{part: tuple(layers)})

    def layers(self) -> list[tuple[str, int | None, LayerSpec]]:
        """Every layer in order as (part, index, layer): encoder, decoder, then the output layer."""
        return [
            *(("encoder", index, layer) for index, layer in enumerate(self.encoder)),
            *(("decoder", index, layer) for index, layer in enumerate(self.decoder)),
            ("output", None, self.output),
        ]


def _require_object(data: Any, what: str, part: str) -> None:
    if not isinstance(data, dict):
        raise SpecError(f"Invalid {what}. Expected a JSON object. Received: {data!r}.", part=part)


def _reject_unknown(data: dict[str, Any], known: list[str], what: str, part: str) -> None:
    for key in data:
        if key not in known:
            raise SpecError(
                f"Unrecognized key `{key}` in {what}. Expected only: {', '.join(known)}.",
                part=part,
                argument=key,
            )


# --- Argument checks --------------------------------------------------------------------------------------


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fix(part: str, index: int | None, argument: str, value: Any) -> Fix | None:
    # A layer checked without a place in a spec (part "spec") has no place to apply a change to.
    return Fix(part, index, argument, value) if part in ("encoder", "decoder", "output") else None


def _fail(argument: str, where: str, expected: str, value: Any, part: str, index: int | None) -> SpecError:
    return SpecError(
        f"Invalid value for argument `{argument}` of {where}. Expected {expected}. Received {argument}={value!r}.",
        part=part,
        index=index,
        argument=argument,
    )


def _check_integer(layer: LayerSpec, argument: str, low: int, high: int, part: str, index: int | None) -> None:
    value = getattr(layer, argument)
    if not _is_integer(value) or value < low:
        expected = "a strictly positive integer" if low == 1 else f"an integer of at least {low}"
        raise _fail(argument, describe_location(part, index), expected, value, part, index)
    if value > high:
        expected = f"an integer from {low} to {high}"
        raise _fail(argument, describe_location(part, index), expected, value, part, index)


def _check_choice(layer: LayerSpec, argument: str, choices: tuple[str, ...], part: str, index: int | None) -> None:
    value = getattr(layer, argument)
    if value not in choices:
        raise _fail(argument, describe_location(part, index), f"one of {list(choices)}", value, part, index)


def validate_layer(layer: LayerSpec, part: str = "spec", index: int | None = None) -> None:
    """Checks one layer's arguments the way Keras would, before any TensorFlow is imported.

    Raises:
        SpecError: naming the layer, the argument, what was expected and what was received.
    """
    where = describe_location(part, index)
    if layer.type not in LAYER_TYPES:
        raise _fail("type", where, f"one of {list(LAYER_TYPES)}", layer.type, part, index)
    if layer.type in ("Conv2D", "Conv2DTranspose"):
        _check_integer(layer, "filters", 1, MAX_FILTERS, part, index)
        _check_integer(layer, "kernel_size", 1, 28, part, index)
        _check_integer(layer, "strides", 1, 28, part, index)
        _check_choice(layer, "padding", PADDINGS, part, index)
        _check_integer(layer, "dilation_rate", 1, 28, part, index)
        _check_choice(layer, "activation", ACTIVATIONS, part, index)
        _check_choice(layer, "kernel_initializer", KERNEL_INITIALIZERS, part, index)
        if layer.strides > 1 and layer.dilation_rate > 1:
            raise SpecError(
                f"Invalid arguments `strides` and `dilation_rate` of {where}. Keras does not support "
                f"strides > 1 together with dilation_rate > 1. "
                f"Received strides={layer.strides}, dilation_rate={layer.dilation_rate}.",
                part=part,
                index=index,
                argument="dilation_rate",
                fix=_fix(part, index, "strides", 1),
                hint="set dilation_rate=1",
            )
    if layer.type == "Conv2DTranspose" and layer.output_padding is not None:
        value = layer.output_padding
        if not _is_integer(value) or value < 0:
            raise _fail("output_padding", where, "a non-negative integer or null", value, part, index)
        if value >= layer.strides:
            raise SpecError(
                f"Invalid value for argument `output_padding` of {where}. Expected an integer smaller than "
                f"strides={layer.strides} (Keras requires strides > output_padding). "
                f"Received output_padding={value}.",
                part=part,
                index=index,
                argument="output_padding",
                hint="raise strides or lower output_padding",
            )
    if layer.type == "MaxPooling2D":
        _check_integer(layer, "pool_size", 1, 28, part, index)
        _check_integer(layer, "strides", 1, 28, part, index)
        _check_choice(layer, "padding", PADDINGS, part, index)
    if layer.type == "UpSampling2D":
        _check_integer(layer, "size", 1, 28, part, index)
        _check_choice(layer, "interpolation", INTERPOLATIONS, part, index)


def validate_training(training: TrainingSpec) -> None:
    """Checks the training settings.

    Raises:
        SpecError: naming the setting, what was expected and what was received.
    """
    where = "training settings"

    def fail(argument: str, expected: str, value: Any) -> SpecError:
        return _fail(argument, where, expected, value, "training", None)

    if training.optimizer not in OPTIMIZERS:
        raise fail("optimizer", f"one of {list(OPTIMIZERS)}", training.optimizer)
    if not _is_number(training.learning_rate) or not 0 < training.learning_rate <= 1:
        raise fail("learning_rate", "a number in (0, 1]", training.learning_rate)
    if training.learning_rate_schedule not in LEARNING_RATE_SCHEDULES:
        raise fail("learning_rate_schedule", f"one of {list(LEARNING_RATE_SCHEDULES)}", training.learning_rate_schedule)
    if training.dtype_policy not in DTYPE_POLICIES:
        raise fail("dtype_policy", f"one of {list(DTYPE_POLICIES)}", training.dtype_policy)
    if training.loss not in LOSSES:
        raise fail("loss", f"one of {list(LOSSES)}", training.loss)
    if not _is_integer(training.batch_size) or not 1 <= training.batch_size <= TRAIN_IMAGES:
        raise fail("batch_size", f"an integer from 1 to {TRAIN_IMAGES}", training.batch_size)
    if not _is_integer(training.epochs) or not 1 <= training.epochs <= 1000:
        raise fail("epochs", "an integer from 1 to 1000", training.epochs)
    if not _is_number(training.validation_split) or not 0 <= training.validation_split < 1:
        raise fail("validation_split", "a number in [0, 1)", training.validation_split)
    noise = training.noise
    if noise.kind not in TRAINING_NOISE_KINDS:
        raise fail("noise.kind", f"one of {list(TRAINING_NOISE_KINDS)}", noise.kind)
    if not _is_number(noise.amount) or not 0 <= noise.amount <= 1:
        raise fail("noise.amount", "a number in [0, 1]", noise.amount)
    if noise.kind != "none" and noise.amount == 0:
        raise fail("noise.amount", f"a number in (0, 1] for noise kind {noise.kind!r}", noise.amount)
    if not _is_integer(training.seed) or not 0 <= training.seed < 2**31:
        raise fail("seed", "an integer from 0 to 2**31 - 1", training.seed)


def validate_arguments(spec: ExperimentSpec) -> None:
    """Checks every argument of the spec: its name, each part's length, each layer, the output layer and training.

    Shapes are not checked here; `core.validation.validate` checks them after these.

    Raises:
        SpecError: the first problem found, with where it is and, where one argument change cures it, that fix.
    """
    if not isinstance(spec.name, str) or not 1 <= len(spec.name) <= 64:
        raise SpecError(
            f"Invalid value for `name`. Expected a string of 1 to 64 characters. Received name={spec.name!r}.",
            argument="name",
        )
    for part in ("encoder", "decoder"):
        layers = getattr(spec, part)
        if not layers:
            raise SpecError(
                f"Invalid {part}. Expected at least one layer. Received an empty {part}.",
                part=part,
                hint=f"add a layer to the {part}",
            )
        if len(layers) > MAX_LAYERS_PER_PART:
            raise SpecError(
                f"Invalid {part}. Expected at most {MAX_LAYERS_PER_PART} layers. Received {len(layers)}.",
                part=part,
            )
    for part, index, layer in spec.layers():
        validate_layer(layer, part, index)
    if spec.output.type not in ("Conv2D", "Conv2DTranspose"):
        raise SpecError(
            f"Invalid value for argument `type` of output layer. Expected 'Conv2D' or 'Conv2DTranspose'. "
            f"Received type={spec.output.type!r}.",
            part="output",
            argument="type",
        )
    if spec.output.filters != 1:
        raise SpecError(
            f"Invalid value for argument `filters` of output layer. Expected 1, one channel like the "
            f"grayscale input. Received filters={spec.output.filters!r}.",
            part="output",
            argument="filters",
            fix=Fix("output", None, "filters", 1),
        )
    validate_training(spec.training)
    if spec.training.loss == "binary_crossentropy" and spec.output.activation != "sigmoid":
        raise SpecError(
            f"Invalid value for argument `activation` of output layer. Expected 'sigmoid' with "
            f"loss='binary_crossentropy', which needs outputs in [0, 1]. "
            f"Received activation={spec.output.activation!r}.",
            part="output",
            argument="activation",
            fix=Fix("output", None, "activation", "sigmoid"),
            hint="use loss='mse'",
        )
