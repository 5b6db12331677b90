"""Tests for core.model and core.inference: the Keras model a spec builds, checked against our shape inference,
and what a model is used for afterwards (reconstructions, per-image errors, rankings, feature maps).

No test here trains: every model is freshly built with a fixed seed, which is all these checks need.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from core import inference, losses
from core.mnist import load_mnist, scale
from core.model import OPTIMIZER_CLASSES, build_model, feature_model
from core.presets import PRESETS, preset
from core.shapes import infer_shapes
from core.spec import (
    ExperimentSpec,
    SpecError,
    conv2d,
    conv2d_transpose,
    layer_name,
    max_pooling2d,
)

SEED_PARAMS = 12_785

# Layer types and arguments the presets do not use, so that every Keras layer we build is checked somewhere.
POOLING_SPEC = ExperimentSpec(
    name="pooling",
    encoder=(conv2d(16, padding="same"), max_pooling2d(2), conv2d(8, dilation_rate=2, padding="same")),  # -> 14x14x8
    decoder=(conv2d_transpose(8, strides=2, padding="same", output_padding=1),),  # (14 - 1) * 2 + 1 + 1 = 28
    output=conv2d(1, 5, activation="sigmoid", padding="same", kernel_initializer="glorot_normal"),
)
VALID_TRANSPOSE_SPEC = ExperimentSpec(
    name="valid-transpose",
    encoder=(conv2d(8, 4, strides=2), max_pooling2d(3, strides=1, padding="same")),  # 28 -> 13 -> 13
    decoder=(conv2d_transpose(8, 4, strides=2),),  # (13 - 1) * 2 + 4 = 28
    output=conv2d_transpose(1, 1, activation="sigmoid"),
)
SPECS = {**PRESETS, "pooling": POOLING_SPEC, "valid-transpose": VALID_TRANSPOSE_SPEC}


def sublayers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers in order, without the sub-models' input layers: what `infer_shapes` walks."""
    return [*model.get_layer("encoder").layers[1:], *model.get_layer("decoder").layers[1:]]


@pytest.fixture(scope="module")
def strided_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_model(preset("strided"))


@pytest.fixture(scope="module")
def test_images() -> np.ndarray:
    return scale(load_mnist().x_test[:6])


# --- Building ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SPECS))
def test_model_matches_shape_inference(name: str) -> None:
    spec = SPECS[name]
    model = build_model(spec, compile=False)
    report = infer_shapes(spec)
    assert model.count_params() == report.params
    assert tuple(model.input.shape) == (None, 28, 28, 1)
    assert tuple(model.output.shape) == (None, 28, 28, 1)
    layers = sublayers(model)
    assert len(layers) == len(report.layers)
    for layer, shape, (part, index, layer_spec) in zip(layers, report.layers, spec.layers(), strict=True):
        assert layer.name == layer_name(part, index, layer_spec)
        assert type(layer).__name__ == shape.type
        assert tuple(layer.output.shape[1:]) == shape.output_shape, layer.name
        assert layer.count_params() == shape.params, layer.name
    assert tuple(model.get_layer("encoder").output.shape[1:]) == report.bottleneck_shape


def test_seed_model_is_the_reference() -> None:
    model = build_model(preset("seed"))
    assert model.name == "autoencoder"
    assert [layer.name for layer in model.layers] == ["image", "encoder", "decoder"]
    assert model.count_params() == SEED_PARAMS
    assert [layer.name for layer in sublayers(model)] == [
        "encoder_1_conv2d",
        "encoder_2_conv2d",
        "encoder_3_conv2d",
        "decoder_1_conv2d_transpose",
        "decoder_2_conv2d_transpose",
        "decoder_3_conv2d_transpose",
        "output_conv2d",
    ]
    assert [layer.output.shape[1] for layer in sublayers(model)] == [26, 24, 22, 24, 26, 28, 28]
    output = model.get_layer("decoder").get_layer("output_conv2d")
    assert output.get_config()["activation"] == "sigmoid"
    assert output.get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"
    first = model.get_layer("encoder").get_layer("encoder_1_conv2d")
    assert first.get_config()["kernel_initializer"]["class_name"] == "HeNormal"


def test_layers_take_the_spec_arguments() -> None:
    model = build_model(POOLING_SPEC, compile=False)
    transpose = model.get_layer("decoder").get_layer("decoder_1_conv2d_transpose").get_config()
    assert transpose["kernel_size"] == (3, 3)
    assert transpose["strides"] == (2, 2)
    assert transpose["padding"] == "same"
    assert transpose["output_padding"] == (1, 1)
    dilated = model.get_layer("encoder").get_layer("encoder_3_conv2d").get_config()
    assert dilated["dilation_rate"] == (2, 2)
    pooling = model.get_layer("encoder").get_layer("encoder_2_max_pooling2d").get_config()
    assert pooling["pool_size"] == (2, 2)
    assert pooling["strides"] == (2, 2)


def test_invalid_spec_raises_before_keras() -> None:
    spec = preset("seed")
    broken = ExperimentSpec(encoder=(conv2d(0),), decoder=spec.decoder, output=spec.output)
    with pytest.raises(SpecError, match=re.escape("Received filters=0.")):
        build_model(broken)


@pytest.mark.parametrize(
    ("optimizer", "learning_rate", "loss"),
    [
        ("adam", 0.001, "binary_crossentropy"),
        ("adamw", 0.002, "mse"),
        ("nadam", 0.0005, "binary_crossentropy"),
        ("rmsprop", 0.01, "mse"),
        ("sgd", 0.1, "mse"),
    ],
)
def test_compile_takes_optimizer_learning_rate_and_loss_from_spec(
    optimizer: str, learning_rate: float, loss: str
) -> None:
    spec = preset("strided").with_training(optimizer=optimizer, learning_rate=learning_rate, loss=loss)
    model = build_model(spec)
    assert isinstance(model.optimizer, OPTIMIZER_CLASSES[optimizer])
    assert float(model.optimizer.learning_rate) == pytest.approx(learning_rate)
    assert model.loss == loss


def test_build_without_compile_leaves_model_uncompiled() -> None:
    model = build_model(preset("strided"), compile=False)
    assert not model.compiled


@pytest.mark.parametrize(
    ("steps_per_epoch", "decay_steps"),
    [
        (7, 7 * 3),
        (None, 192 * 3),  # 48,000 of the 60,000 images after the 0.2 split, in batches of 250.
    ],
)
def test_cosine_schedule_decays_over_all_steps(steps_per_epoch: int | None, decay_steps: int) -> None:
    spec = preset("strided").with_training(learning_rate_schedule="cosine", epochs=3)
    model = build_model(spec, steps_per_epoch=steps_per_epoch)
    schedule = model.optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["initial_learning_rate"] == pytest.approx(0.002)
    assert schedule["config"]["decay_steps"] == decay_steps
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002)  # No step taken yet.


def test_models_with_the_same_seed_start_the_same() -> None:
    spec = preset("strided")
    keras.utils.set_random_seed(7)
    first = build_model(spec)
    keras.utils.set_random_seed(7)
    second = build_model(spec)
    for one, other in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(one, other)


# --- Feature maps ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["seed", "upsampling", "pooling"])
def test_feature_model_outputs_every_layer(name: str, test_images: np.ndarray) -> None:
    spec = SPECS[name]
    keras.utils.set_random_seed(0)
    model = build_model(spec, compile=False)
    features = feature_model(model)
    layers = sublayers(model)
    assert features.output_names == [layer.name for layer in layers]
    outputs = features(test_images[:2], training=False)
    assert len(outputs) == len(infer_shapes(spec).layers)
    for output, shape in zip(outputs, infer_shapes(spec).layers, strict=True):
        assert tuple(output.shape) == (2, *shape.output_shape)
    # Each output is that layer applied to the one before it, and the last is the model's own output.
    previous = test_images[:2]
    as_array = keras.ops.convert_to_numpy  # Not np.asarray: PyTorch's tensors that require grad refuse it.
    for layer, output in zip(layers, outputs, strict=True):
        np.testing.assert_allclose(as_array(output), as_array(layer(previous)), atol=1e-6)
        previous = as_array(output)
    np.testing.assert_allclose(as_array(outputs[-1]), as_array(model(test_images[:2])), atol=1e-6)


def test_feature_maps_name_and_shape_every_layer(strided_model: keras.Model, test_images: np.ndarray) -> None:
    maps = inference.feature_maps(strided_model, test_images[0])
    report = infer_shapes(preset("strided"))
    assert [name for name, _ in maps] == [layer.name for layer in sublayers(strided_model)]
    assert [array.shape for _, array in maps] == [shape.output_shape for shape in report.layers]
    np.testing.assert_allclose(maps[-1][1], inference.reconstruct(strided_model, test_images[:1])[0], atol=1e-6)


def test_feature_maps_accept_a_plain_28x28_image(strided_model: keras.Model, test_images: np.ndarray) -> None:
    with_channel = inference.feature_maps(strided_model, test_images[0])
    plain = inference.feature_maps(strided_model, test_images[0, :, :, 0])
    for (name, array), (other_name, other) in zip(with_channel, plain, strict=True):
        assert name == other_name
        np.testing.assert_array_equal(array, other)


# --- Reconstructions and errors ----------------------------------------------------------------------------


def test_reconstruct_shapes_and_range(strided_model: keras.Model, test_images: np.ndarray) -> None:
    reconstructions = inference.reconstruct(strided_model, test_images)
    assert reconstructions.shape == (6, 28, 28, 1)
    assert reconstructions.dtype == np.float32
    assert reconstructions.min() >= 0 and reconstructions.max() <= 1
    np.testing.assert_allclose(reconstructions, keras.ops.convert_to_numpy(strided_model(test_images)), atol=1e-6)


def test_reconstruct_in_chunks_equals_one_call(strided_model: keras.Model, test_images: np.ndarray) -> None:
    whole = inference.reconstruct(strided_model, test_images)
    chunked = inference.reconstruct(strided_model, test_images, batch_size=4)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_reconstruct_takes_images_without_a_channel_axis(strided_model: keras.Model, test_images: np.ndarray) -> None:
    plain = inference.reconstruct(strided_model, test_images[..., 0])
    assert plain.shape == (6, 28, 28, 1)
    np.testing.assert_allclose(plain, inference.reconstruct(strided_model, test_images), atol=1e-6)


def test_reconstruct_of_no_images_is_empty(strided_model: keras.Model) -> None:
    assert inference.reconstruct(strided_model, np.zeros((0, 28, 28, 1), np.float32)).shape == (0, 28, 28, 1)


def test_per_image_errors_match_keras_losses(test_images: np.ndarray) -> None:
    generator = np.random.default_rng(0)
    predictions = generator.uniform(0.001, 0.999, size=test_images.shape).astype(np.float32)
    errors = inference.per_image_errors(test_images, predictions)
    keras_bce = np.asarray(keras.losses.binary_crossentropy(test_images, predictions)).mean(axis=(1, 2))
    keras_mse = np.asarray(keras.losses.mean_squared_error(test_images, predictions)).mean(axis=(1, 2))
    assert errors["bce"].shape == errors["mse"].shape == (6,)
    np.testing.assert_allclose(errors["bce"], keras_bce, rtol=1e-5)
    np.testing.assert_allclose(errors["mse"], keras_mse, rtol=1e-5)
    # Each image's error is its own: computing one image alone gives the same number.
    for index in range(len(test_images)):
        alone = inference.per_image_errors(test_images[index : index + 1], predictions[index : index + 1])
        assert alone["bce"][0] == pytest.approx(errors["bce"][index])


def test_per_image_errors_match_keras_on_model_output(strided_model: keras.Model, test_images: np.ndarray) -> None:
    reconstructions = inference.reconstruct(strided_model, test_images)
    errors = inference.per_image_errors(test_images, reconstructions)
    keras_bce = keras.losses.BinaryCrossentropy()(test_images, reconstructions)
    np.testing.assert_allclose(errors["bce"].mean(), float(keras_bce), rtol=1e-5)


def test_per_image_errors_clip_certain_predictions() -> None:
    # A confidently wrong pixel costs -log(1e-7), not infinity; a confidently right one costs about nothing.
    targets = np.array([[1.0, 0.0, 1.0, 0.0]])
    predictions = np.array([[0.0, 1.0, 1.0, 0.0]])
    errors = inference.per_image_errors(targets, predictions)
    assert errors["bce"][0] == pytest.approx(-2 * np.log(1e-7) / 4, rel=1e-6)
    assert errors["mse"][0] == pytest.approx(0.5)


def test_perfect_reconstruction_scores_the_floor(test_images: np.ndarray) -> None:
    errors = inference.per_image_errors(test_images, test_images)
    assert errors["mse"].max() == 0
    assert errors["bce"].mean() == pytest.approx(losses.reconstruction_floor("binary_crossentropy", test_images))


# --- Ranking -----------------------------------------------------------------------------------------------

ERRORS = np.array([0.3, 0.1, 0.5, 0.2, 0.4, 0.05])
LABELS = np.array([7, 2, 7, 1, 2, 7])


@pytest.mark.parametrize(
    ("order", "digit", "expected"),
    [
        ("worst", None, [2, 4, 0, 3, 1, 5]),
        ("best", None, [5, 1, 3, 0, 4, 2]),
        ("index", None, [0, 1, 2, 3, 4, 5]),
        ("worst", 7, [2, 0, 5]),
        ("best", 7, [5, 0, 2]),
        ("index", 2, [1, 4]),
        ("worst", 9, []),
    ],
)
def test_rank_images(order: str, digit: int | None, expected: list[int]) -> None:
    assert inference.rank_images(ERRORS, LABELS, order, digit).tolist() == expected


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"order": "random"},
            "Invalid value for argument `order`. Expected one of ['worst', 'best', 'index']. Received order='random'.",
        ),
        ({"digit": 10}, "Invalid value for argument `digit`. Expected an integer from 0 to 9. Received digit=10."),
        ({"digit": -1}, "Invalid value for argument `digit`. Expected an integer from 0 to 9. Received digit=-1."),
    ],
)
def test_rank_images_rejects_bad_arguments(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        inference.rank_images(ERRORS, LABELS, **arguments)
