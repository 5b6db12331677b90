"""Spec -> a compiled Functional `keras.Model` with named `encoder` and `decoder` parts.

The autoencoder is `decoder(encoder(image))`, so codes and every intermediate feature map can be read later
from the two sub-models. Importing this module imports Keras (and TensorFlow): keep it out of start-up paths.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from core.spec import DTYPE_POLICIES, INPUT_SHAPE, ExperimentSpec, LayerSpec, TrainingSpec, layer_name
from core.validation import validate

OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "nadam": keras.optimizers.Nadam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


def make_layer(layer: LayerSpec, name: str, dtype: str | None = None) -> keras.layers.Layer:
    """The Keras layer for one `LayerSpec`, with the spec's arguments passed by Keras' own names."""
    arguments = {key: value for key, value in layer.to_dict().items() if key != "type"}
    return getattr(layers, layer.type)(name=name, dtype=dtype, **arguments)


def build_model(
    spec: ExperimentSpec,
    compile: bool = True,  # noqa: A002
    steps_per_epoch: int | None = None,
    dtype_policy: str = "float32",
) -> keras.Model:
    """Builds the autoencoder described by `spec`.

    Args:
        spec: a valid experiment spec.
        compile: whether to compile with the spec's optimizer, learning rate and loss.
        steps_per_epoch: batches per epoch, which a "cosine" learning-rate schedule needs to know when to end.
        dtype_policy: Keras' dtype policy for every layer but the output layer, which stays float32 so that the
            sigmoid and the loss are computed in full precision. A mixed_float16 model is compiled with Keras'
            loss scaling. The spec's "auto" is resolved by the worker (`core.backends`), not here.

    Returns:
        A Functional model named "autoencoder" whose layers are the sub-models "encoder" and "decoder"; the
        output layer is the decoder's last layer.

    Raises:
        SpecError: if the spec is invalid.
    """
    validate(spec, keras.backend.backend())
    if dtype_policy not in DTYPE_POLICIES or dtype_policy == "auto":
        raise ValueError(
            f"Invalid value for argument `dtype_policy`. Expected one of {list(DTYPE_POLICIES[1:])}. "
            f"Received dtype_policy={dtype_policy!r}."
        )
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy)  # The models and layers built now take it as their default.
    try:
        model = _build(spec)
    finally:
        keras.config.set_dtype_policy(previous)
    if compile:
        compile_model(model, spec.training, steps_per_epoch)
    return model


def _build(spec: ExperimentSpec) -> keras.Model:
    image = keras.Input(shape=INPUT_SHAPE, name="image")
    features = image
    for index, layer in enumerate(spec.encoder):
        features = make_layer(layer, layer_name("encoder", index, layer))(features)
    encoder = keras.Model(image, features, name="encoder")

    code = keras.Input(shape=tuple(encoder.output.shape[1:]), name="code")
    features = code
    for index, layer in enumerate(spec.decoder):
        features = make_layer(layer, layer_name("decoder", index, layer))(features)
    reconstruction = make_layer(spec.output, layer_name("output", None, spec.output), dtype="float32")(features)
    decoder = keras.Model(code, reconstruction, name="decoder")

    return keras.Model(image, decoder(encoder(image)), name="autoencoder")


def compile_model(model: keras.Model, training: TrainingSpec, steps_per_epoch: int | None = None) -> None:
    """Compiles `model` with the optimizer, learning rate (and its schedule) and loss of `training`."""
    learning_rate = training.learning_rate
    if training.learning_rate_schedule == "cosine":
        # Without a step count (a model built only to be inspected) this assumes all 60,000 images, split as set.
        learning_rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=training.total_steps(steps_per_epoch)
        )
    optimizer = OPTIMIZER_CLASSES[training.optimizer](learning_rate=learning_rate)
    model.compile(optimizer=optimizer, loss=training.loss)


def feature_model(model: keras.Model) -> keras.Model:
    """A model from the image to every layer's output, in order: encoder layers, decoder layers, output.

    The outputs are named like the layers ("encoder_1_conv2d", ...), which `model.output_names` lists.
    """
    # Calling the sub-models' own layers on a new input shares their weights and names each output after its
    # layer; outputs taken through nested models would be named after those models instead.
    image = keras.Input(shape=INPUT_SHAPE, name="image")
    features = image
    outputs = []
    for layer in [*model.get_layer("encoder").layers[1:], *model.get_layer("decoder").layers[1:]]:
        features = layer(features)
        outputs.append(features)
    return keras.Model(image, outputs, name="features")


def latent_models(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """The autoencoder cut at its bottleneck: (encoder: image -> code, decoder: code -> image).

    A model built by `build_model` (or by the studio's exported Keras code) has both as its `encoder` and
    `decoder` sub-models. A flat model, a Sequential or Functional chain whose layers are named as `core.spec`
    names them, is cut after its last layer whose name starts with "encoder_": the decoder is rebuilt on a new
    `code` input from the layers after it, sharing their weights. A cut through a model that is not a chain (say
    one with a skip connection around the bottleneck) would not compute the model; one probe image through both
    parts must give the model's own output, or the model is refused.

    Raises:
        ValueError: for a model with no bottleneck to cut at, or one whose cut does not compute the model.
    """
    names = [layer.name for layer in model.layers]
    if "encoder" in names and "decoder" in names:
        return model.get_layer("encoder"), model.get_layer("decoder")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    encoder_positions = [position for position, layer in enumerate(layers) if layer.name.startswith("encoder_")]
    last_encoder = encoder_positions[-1] if encoder_positions else -1
    if last_encoder < 0 or last_encoder == len(layers) - 1:
        raise ValueError(
            "Invalid value for argument `model`. Expected an autoencoder with `encoder` and `decoder` sub-models, "
            "or a chain of layers whose encoder layers are named 'encoder_1_...', 'encoder_2_...' and that has "
            f"layers after them. Received a model with layers {names}."
        )
    try:
        encoder, decoder = _cut(layers, last_encoder)
        probe = keras.random.uniform((1, *INPUT_SHAPE), seed=0)
        expected = keras.ops.convert_to_numpy(model(probe, training=False))
        cut = keras.ops.convert_to_numpy(decoder(encoder(probe, training=False), training=False))
        computes_the_model = expected.shape == cut.shape and np.allclose(expected, cut, atol=1e-5)
    except Exception:  # A layer that takes several inputs (a merge) cannot be called on one: not a chain.
        computes_the_model = False
    if not computes_the_model:
        raise ValueError(
            "Invalid value for argument `model`. Expected a chain of layers, so that the layers up to the bottleneck "
            f"({layers[last_encoder].name}) and those after it compute the model. Received a model whose layers, "
            "called one after the other, give a different output: it branches or skips around them."
        )
    return encoder, decoder


def _cut(layers: list[keras.layers.Layer], last_encoder: int) -> tuple[keras.Model, keras.Model]:
    # The layers up to and including `last_encoder` on a new image input, and the rest on a new code input.
    image = keras.Input(shape=INPUT_SHAPE, name="image")
    features = image
    for layer in layers[: last_encoder + 1]:
        features = layer(features)
    encoder = keras.Model(image, features, name="encoder")
    code = keras.Input(shape=tuple(features.shape[1:]), name="code")
    features = code
    for layer in layers[last_encoder + 1 :]:
        features = layer(features)
    return encoder, keras.Model(code, features, name="decoder")
