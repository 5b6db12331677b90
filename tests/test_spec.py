"""The spec as plain data: its JSON round trip and every validation error, word for word."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest

from core.presets import PRESETS, preset
from core.spec import (
    LAYER_ARGUMENTS,
    ExperimentSpec,
    Fix,
    LayerSpec,
    NoiseSpec,
    SpecError,
    TrainingSpec,
    conv2d,
    conv2d_transpose,
    max_pooling2d,
    up_sampling2d,
    validate_layer,
    validate_training,
)

# --- Round trip ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_round_trips_through_json(name: str) -> None:
    spec = preset(name)
    for indent in (2, None):
        restored = ExperimentSpec.from_json(spec.to_json(indent=indent))
        assert restored == spec
        assert hash(restored) == hash(spec)  # The spec keys Streamlit's caches.
    assert json.loads(spec.to_json()) == spec.to_dict()


@pytest.mark.parametrize(
    ("layer", "keys"),
    [
        (
            conv2d(8),
            [
                "type",
                "filters",
                "kernel_size",
                "strides",
                "padding",
                "dilation_rate",
                "activation",
                "kernel_initializer",
            ],
        ),
        (
            conv2d_transpose(8, strides=2, output_padding=1),
            [
                "type",
                "filters",
                "kernel_size",
                "strides",
                "padding",
                "output_padding",
                "dilation_rate",
                "activation",
                "kernel_initializer",
            ],
        ),
        (max_pooling2d(2), ["type", "pool_size", "strides", "padding"]),
        (up_sampling2d(2), ["type", "size", "interpolation"]),
    ],
    ids=lambda value: value.type if isinstance(value, LayerSpec) else None,
)
def test_layer_dict_uses_keras_argument_names_in_order(layer: LayerSpec, keys: list[str]) -> None:
    data = layer.to_dict()
    assert list(data) == keys
    assert list(data)[1:] == list(LAYER_ARGUMENTS[layer.type])
    assert LayerSpec.from_dict(data) == layer


def test_spec_dict_layout() -> None:
    data = preset("seed").to_dict()
    assert list(data) == ["name", "encoder", "decoder", "output", "training"]
    assert data["decoder"][0] == {
        "type": "Conv2DTranspose",
        "filters": 8,
        "kernel_size": 3,
        "strides": 1,
        "padding": "valid",
        "output_padding": None,
        "dilation_rate": 1,
        "activation": "relu",
        "kernel_initializer": "he_normal",
    }
    assert data["training"] == {
        "optimizer": "adam",
        "learning_rate": 0.001,
        "learning_rate_schedule": "constant",
        "loss": "binary_crossentropy",
        "batch_size": 1000,
        "epochs": 25,
        "validation_split": 0.2,
        "noise": {"kind": "none", "amount": 0.0},
        "seed": 0,
        "dtype_policy": "auto",
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "MaxPooling2D"}, max_pooling2d(2, strides=2)),
        ({"type": "MaxPooling2D", "pool_size": 3}, max_pooling2d(3, strides=3)),
        ({"type": "MaxPooling2D", "pool_size": 3, "strides": 1}, max_pooling2d(3, strides=1)),
        ({"type": "Conv2D", "filters": 4}, LayerSpec(type="Conv2D", filters=4)),
        ({"type": "UpSampling2D"}, up_sampling2d(2)),
    ],
)
def test_layer_from_dict_defaults(data: dict[str, Any], expected: LayerSpec) -> None:
    assert LayerSpec.from_dict(data) == expected


def test_max_pooling2d_helper_defaults_strides_to_pool_size() -> None:
    assert max_pooling2d(3).strides == 3
    assert max_pooling2d(3, strides=1).strides == 1


def test_missing_training_takes_defaults() -> None:
    data = preset("seed").to_dict()
    del data["training"], data["name"]
    spec = ExperimentSpec.from_dict(data)
    assert spec.training == TrainingSpec()
    assert spec.name == "custom"


# --- Helpers -----------------------------------------------------------------------------------------------


def test_with_training_changes_only_the_named_settings() -> None:
    spec = preset("seed")
    changed = spec.with_training(epochs=3, noise=NoiseSpec(kind="gaussian", amount=0.2))
    assert changed.training.epochs == 3
    assert changed.training.noise == NoiseSpec(kind="gaussian", amount=0.2)
    assert changed.training.batch_size == spec.training.batch_size
    assert (changed.encoder, changed.decoder, changed.output, changed.name) == (
        spec.encoder,
        spec.decoder,
        spec.output,
        spec.name,
    )
    assert spec.training.epochs == 25  # The original is frozen and unchanged.
    with pytest.raises(TypeError):
        spec.with_training(momentum=0.9)


def test_layers_lists_encoder_decoder_then_output() -> None:
    spec = preset("upsampling")
    places = [(part, index, layer.type) for part, index, layer in spec.layers()]
    assert places == [
        ("encoder", 0, "Conv2D"),
        ("encoder", 1, "Conv2D"),
        ("encoder", 2, "Conv2D"),
        ("decoder", 0, "UpSampling2D"),
        ("decoder", 1, "Conv2D"),
        ("decoder", 2, "UpSampling2D"),
        ("decoder", 3, "Conv2D"),
        ("output", None, "Conv2D"),
    ]
    assert spec.layers()[-1][2] is spec.output


def test_layer_at_finds_a_layer_by_its_place() -> None:
    spec = preset("seed")
    assert spec.layer_at("encoder", 0) is spec.encoder[0]
    assert spec.layer_at("decoder", 2) is spec.decoder[2]
    assert spec.layer_at("output", None) is spec.output


@pytest.mark.parametrize(
    ("part", "index", "message"),
    [
        ("decoder", 3, "Invalid layer index for the decoder. Expected 0 to 2. Received index=3."),
        ("encoder", -1, "Invalid layer index for the encoder. Expected 0 to 2. Received index=-1."),
        ("encoder", None, "Invalid layer index for the encoder. Expected 0 to 2. Received index=None."),
        ("middle", 0, "Invalid part. Expected one of ['encoder', 'decoder', 'output']. Received part='middle'."),
    ],
)
def test_layer_at_refuses_a_place_that_is_not_there(part: str, index: int | None, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        preset("seed").layer_at(part, index)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("changes", "train_images", "total_steps"),
    [
        ({}, 48_000, 48 * 25),  # The seed's settings: batches of 1,000 over 25 epochs.
        ({"batch_size": 128, "epochs": 2}, 48_000, 375 * 2),
        ({"batch_size": 250, "validation_split": 0.0, "epochs": 3}, 60_000, 240 * 3),
        ({"batch_size": 7_000, "validation_split": 0.5, "epochs": 1}, 30_000, 5),  # The last batch is smaller.
    ],
)
def test_training_steps(changes: dict[str, Any], train_images: int, total_steps: int) -> None:
    training = preset("seed").with_training(**changes).training
    assert training.train_images() == train_images
    assert training.total_steps() == total_steps
    assert training.total_steps(steps_per_epoch=7) == 7 * training.epochs


def test_unknown_preset() -> None:
    with pytest.raises(SpecError) as error:
        preset("vae")
    assert str(error.value) == (
        "Invalid value for argument `preset`. Expected one of ['seed', 'seed-fast', 'strided', 'upsampling', "
        "'denoising']. Received preset='vae'."
    )


# --- Validation errors -------------------------------------------------------------------------------------
# Each case changes the JSON of the `strided` preset and expects one exact message. Layers replace encoder
# layer 2, which the messages call "encoder layer 2" (index 1).

CONV2D_KEYS = "filters, kernel_size, strides, padding, dilation_rate, activation, kernel_initializer"
LAYER_TYPES_TEXT = "['Conv2D', 'Conv2DTranspose', 'MaxPooling2D', 'UpSampling2D']"
TRAINING_KEYS = (
    "optimizer, learning_rate, learning_rate_schedule, loss, batch_size, epochs, validation_split, noise, seed, "
    "dtype_policy"
)


def _base() -> dict[str, Any]:
    return copy.deepcopy(preset("strided").to_dict())


def _with_layer(layer: Any, part: str = "encoder", index: int = 1) -> dict[str, Any]:
    data = _base()
    if part == "output":
        data["output"] = layer
    else:
        data[part][index] = layer
    return data


def _with_training(**changes: Any) -> dict[str, Any]:
    data = _base()
    data["training"].update(changes)
    return data


def _with_noise(**changes: Any) -> dict[str, Any]:
    data = _base()
    data["training"]["noise"].update(changes)
    return data


def _with_spec(**changes: Any) -> dict[str, Any]:
    data = _base()
    data.update(changes)
    return data


def _without(key: str) -> dict[str, Any]:
    data = _base()
    del data[key]
    return data


@dataclass(frozen=True)
class Case:
    """One invalid spec and the exact error it must raise."""

    id: str
    data: Any
    message: str
    part: str = "encoder"
    index: int | None = 1
    argument: str | None = None
    fix: Fix | None = None
    hint: str | None = None


# Every integer argument of every layer type, with its upper bound.
INTEGER_ARGUMENTS = [
    ("Conv2D", "filters", 1024),
    ("Conv2D", "kernel_size", 28),
    ("Conv2D", "strides", 28),
    ("Conv2D", "dilation_rate", 28),
    ("Conv2DTranspose", "filters", 1024),
    ("Conv2DTranspose", "kernel_size", 28),
    ("Conv2DTranspose", "strides", 28),
    ("Conv2DTranspose", "dilation_rate", 28),
    ("MaxPooling2D", "pool_size", 28),
    ("MaxPooling2D", "strides", 28),
    ("UpSampling2D", "size", 28),
]


def _integer_cases() -> list[Case]:
    cases = []
    for layer_type, argument, high in INTEGER_ARGUMENTS:
        base = (
            {"type": layer_type, "filters": 16} if layer_type in ("Conv2D", "Conv2DTranspose") else {"type": layer_type}
        )
        for value, expected in [
            (0, "a strictly positive integer"),
            (-2, "a strictly positive integer"),
            (high + 1, f"an integer from 1 to {high}"),
            (10**9, f"an integer from 1 to {high}"),
            (True, "a strictly positive integer"),
            (2.0, "a strictly positive integer"),
            ("3", "a strictly positive integer"),
            (None, "a strictly positive integer"),
        ]:
            cases.append(
                Case(
                    f"{layer_type}-{argument}={value!r}",
                    _with_layer({**base, argument: value}),
                    f"Invalid value for argument `{argument}` of encoder layer 2. Expected {expected}. "
                    f"Received {argument}={value!r}.",
                    argument=argument,
                )
            )
    return cases


def _choice_cases() -> list[Case]:
    conv = {"type": "Conv2D", "filters": 16}
    choices = [
        (conv, "padding", "full", "['valid', 'same']"),
        (conv, "padding", "SAME", "['valid', 'same']"),
        (
            conv,
            "activation",
            "softmax",
            "['relu', 'sigmoid', 'tanh', 'linear', 'elu', 'selu', 'leaky_relu', 'gelu', 'silu']",
        ),
        (
            {"type": "Conv2DTranspose", "filters": 16},
            "kernel_initializer",
            "zeros",
            "['he_normal', 'he_uniform', 'glorot_uniform', 'glorot_normal', 'lecun_normal', 'lecun_uniform']",
        ),
        ({"type": "MaxPooling2D"}, "padding", "causal", "['valid', 'same']"),
        ({"type": "UpSampling2D"}, "interpolation", "bicubic", "['nearest', 'bilinear']"),
    ]
    return [
        Case(
            f"{layer['type']}-{argument}={value}",
            _with_layer({**layer, argument: value}),
            f"Invalid value for argument `{argument}` of encoder layer 2. Expected one of {expected}. "
            f"Received {argument}={value!r}.",
            argument=argument,
        )
        for layer, argument, value, expected in choices
    ]


TRANSPOSE = {"type": "Conv2DTranspose", "filters": 16}

LAYER_CASES = [
    *_integer_cases(),
    *_choice_cases(),
    Case(
        "filters=0-in-decoder",
        _with_layer({**TRANSPOSE, "filters": 0}, "decoder", 0),
        "Invalid value for argument `filters` of decoder layer 1. Expected a strictly positive integer. "
        "Received filters=0.",
        part="decoder",
        index=0,
        argument="filters",
    ),
    Case(
        "unknown-type",
        _with_layer({"type": "Dense", "units": 8}),
        f"Invalid value for argument `type` of encoder layer 2. Expected one of {LAYER_TYPES_TEXT}. "
        "Received type='Dense'.",
        argument="type",
    ),
    Case(
        "missing-type",
        _with_layer({"filters": 8}),
        f"Invalid value for argument `type` of encoder layer 2. Expected one of {LAYER_TYPES_TEXT}. "
        "Received type=None.",
        argument="type",
    ),
    Case(
        "output_padding=strides",
        _with_layer({**TRANSPOSE, "strides": 2, "output_padding": 2}),
        "Invalid value for argument `output_padding` of encoder layer 2. Expected an integer smaller than "
        "strides=2 (Keras requires strides > output_padding). Received output_padding=2.",
        argument="output_padding",
        hint="raise strides or lower output_padding",
    ),
    Case(
        "output_padding>strides",
        _with_layer({**TRANSPOSE, "output_padding": 3}),
        "Invalid value for argument `output_padding` of encoder layer 2. Expected an integer smaller than "
        "strides=1 (Keras requires strides > output_padding). Received output_padding=3.",
        argument="output_padding",
        hint="raise strides or lower output_padding",
    ),
    *[
        Case(
            f"output_padding={value!r}",
            _with_layer({**TRANSPOSE, "strides": 3, "output_padding": value}),
            "Invalid value for argument `output_padding` of encoder layer 2. Expected a non-negative integer or "
            f"null. Received output_padding={value!r}.",
            argument="output_padding",
        )
        for value in (-1, True, 1.0, "1")
    ],
    *[
        Case(
            f"{layer_type}-strides-and-dilation",
            _with_layer({"type": layer_type, "filters": 16, "strides": 2, "dilation_rate": 3}),
            "Invalid arguments `strides` and `dilation_rate` of encoder layer 2. Keras does not support strides > 1 "
            "together with dilation_rate > 1. Received strides=2, dilation_rate=3.",
            argument="dilation_rate",
            fix=Fix("encoder", 1, "strides", 1),
            hint="set dilation_rate=1",
        )
        for layer_type in ("Conv2D", "Conv2DTranspose")
    ],
    Case(
        "Conv2D-output_padding",
        _with_layer({"type": "Conv2D", "filters": 16, "output_padding": 1}),
        f"Unrecognized argument `output_padding` for encoder layer 2 (Conv2D). Expected only: {CONV2D_KEYS}.",
        argument="output_padding",
    ),
    Case(
        "MaxPooling2D-filters",
        _with_layer({"type": "MaxPooling2D", "filters": 16}),
        "Unrecognized argument `filters` for encoder layer 2 (MaxPooling2D). Expected only: pool_size, strides, "
        "padding.",
        argument="filters",
    ),
    Case(
        "UpSampling2D-kernel_size",
        _with_layer({"type": "UpSampling2D", "kernel_size": 3}),
        "Unrecognized argument `kernel_size` for encoder layer 2 (UpSampling2D). Expected only: size, interpolation.",
        argument="kernel_size",
    ),
    Case(
        "missing-filters",
        _with_layer({"type": "Conv2DTranspose", "kernel_size": 3}),
        "Missing argument `filters` for encoder layer 2 (Conv2DTranspose).",
        argument="filters",
    ),
    *[
        Case(
            f"layer-not-an-object-{value!r}",
            _with_layer(value),
            f"Invalid encoder layer 2. Expected a JSON object with a `type`. Received: {value!r}.",
        )
        for value in (3, "Conv2D", ["Conv2D", 8], None)
    ],
    Case(
        "output-not-an-object",
        _with_layer("Conv2D", "output"),
        "Invalid output layer. Expected a JSON object with a `type`. Received: 'Conv2D'.",
        part="output",
        index=None,
    ),
]


SPEC_CASES = [
    Case(
        "unknown-spec-key",
        _with_spec(optimizer="adam"),
        "Unrecognized key `optimizer` in spec. Expected only: name, encoder, decoder, output, training.",
        part="spec",
        index=None,
        argument="optimizer",
    ),
    *[
        Case(
            f"missing-{key}",
            _without(key),
            f"Missing key `{key}` in spec.",
            part=key,
            index=None,
        )
        for key in ("encoder", "decoder", "output")
    ],
    Case(
        "spec-not-an-object",
        [1, 2],
        "Invalid spec. Expected a JSON object. Received: [1, 2].",
        part="spec",
        index=None,
    ),
    Case(
        "encoder-not-a-list",
        _with_spec(encoder={"type": "Conv2D", "filters": 8}),
        "Invalid value for `encoder`. Expected a list of layers. Received: {'type': 'Conv2D', 'filters': 8}.",
        index=None,
    ),
    *[
        Case(
            f"empty-{part}",
            _with_spec(**{part: []}),
            f"Invalid {part}. Expected at least one layer. Received an empty {part}.",
            part=part,
            index=None,
            hint=f"add a layer to the {part}",
        )
        for part in ("encoder", "decoder")
    ],
    *[
        Case(
            f"too-many-{part}-layers",
            _with_spec(**{part: [{"type": "Conv2D", "filters": 8, "padding": "same"}] * 13}),
            f"Invalid {part}. Expected at most 12 layers. Received 13.",
            part=part,
            index=None,
        )
        for part in ("encoder", "decoder")
    ],
    Case(
        "output-filters",
        _with_layer({**_base()["output"], "filters": 3}, "output"),
        "Invalid value for argument `filters` of output layer. Expected 1, one channel like the grayscale input. "
        "Received filters=3.",
        part="output",
        index=None,
        argument="filters",
        fix=Fix("output", None, "filters", 1),
    ),
    Case(
        "output-filters=0",
        _with_layer({**_base()["output"], "filters": 0}, "output"),
        "Invalid value for argument `filters` of output layer. Expected a strictly positive integer. "
        "Received filters=0.",
        part="output",
        index=None,
        argument="filters",
    ),
    Case(
        "output-type",
        _with_layer({"type": "UpSampling2D", "size": 1}, "output"),
        "Invalid value for argument `type` of output layer. Expected 'Conv2D' or 'Conv2DTranspose'. "
        "Received type='UpSampling2D'.",
        part="output",
        index=None,
        argument="type",
    ),
    Case(
        "bce-without-sigmoid",
        _with_layer({**_base()["output"], "activation": "relu"}, "output"),
        "Invalid value for argument `activation` of output layer. Expected 'sigmoid' with "
        "loss='binary_crossentropy', which needs outputs in [0, 1]. Received activation='relu'.",
        part="output",
        index=None,
        argument="activation",
        fix=Fix("output", None, "activation", "sigmoid"),
        hint="use loss='mse'",
    ),
    *[
        Case(
            f"name={value!r}",
            _with_spec(name=value),
            f"Invalid value for `name`. Expected a string of 1 to 64 characters. Received name={value!r}.",
            part="spec",
            index=None,
            argument="name",
        )
        for value in ("", "x" * 65, 7, None)
    ],
]


def _training_case(argument: str, value: Any, expected: str, data: dict[str, Any] | None = None) -> Case:
    return Case(
        f"{argument}={value!r}",
        _with_training(**{argument: value}) if data is None else data,
        f"Invalid value for argument `{argument}` of training settings. Expected {expected}. "
        f"Received {argument}={value!r}.",
        part="training",
        index=None,
        argument=argument,
    )


TRAINING_CASES = [
    _training_case("optimizer", "adagrad", "one of ['adam', 'adamw', 'nadam', 'rmsprop', 'sgd']"),
    _training_case("optimizer", None, "one of ['adam', 'adamw', 'nadam', 'rmsprop', 'sgd']"),
    *[
        _training_case("learning_rate", value, "a number in (0, 1]")
        for value in (0, 0.0, -0.001, 1.5, float("nan"), float("inf"), "0.001", True, None)
    ],
    _training_case("learning_rate_schedule", "step", "one of ['constant', 'cosine']"),
    _training_case("learning_rate_schedule", None, "one of ['constant', 'cosine']"),
    _training_case("loss", "mae", "one of ['binary_crossentropy', 'mse']"),
    *[
        _training_case("batch_size", value, "an integer from 1 to 60000")
        for value in (0, -1, 60_001, 10**12, True, 32.0, "32")
    ],
    *[_training_case("epochs", value, "an integer from 1 to 1000") for value in (0, -3, 1001, True, 2.5, "5")],
    *[_training_case("validation_split", value, "a number in [0, 1)") for value in (1.0, 1, -0.1, 2, "0.2", None)],
    *[_training_case("seed", value, "an integer from 0 to 2**31 - 1") for value in (-1, 2**31, True, 1.5, "0")],
    _training_case(
        "noise.kind",
        "poisson",
        "one of ['none', 'gaussian', 'salt_pepper']",
        _with_noise(kind="poisson", amount=0.1),
    ),
    *[
        _training_case("noise.amount", value, "a number in [0, 1]", _with_noise(kind="gaussian", amount=value))
        for value in (-0.1, 1.5, float("nan"), "0.3", True)
    ],
    *[
        _training_case(
            "noise.amount",
            value,
            f"a number in (0, 1] for noise kind {kind!r}",
            _with_noise(kind=kind, amount=value),
        )
        for kind in ("gaussian", "salt_pepper")
        for value in (0, 0.0)
    ],
    Case(
        "unknown-training-key",
        _with_training(momentum=0.9),
        f"Unrecognized key `momentum` in training settings. Expected only: {TRAINING_KEYS}.",
        part="training",
        index=None,
        argument="momentum",
    ),
    Case(
        "unknown-noise-key",
        _with_noise(std=0.1),
        "Unrecognized key `std` in argument `noise` of training settings. Expected only: kind, amount.",
        part="training",
        index=None,
        argument="std",
    ),
    Case(
        "training-not-an-object",
        _with_spec(training=[25]),
        "Invalid training settings. Expected a JSON object. Received: [25].",
        part="training",
        index=None,
    ),
    Case(
        "noise-not-an-object",
        _with_training(noise=0.4),
        "Invalid argument `noise` of training settings. Expected a JSON object. Received: 0.4.",
        part="training",
        index=None,
    ),
]


@pytest.mark.parametrize("case", [*LAYER_CASES, *SPEC_CASES, *TRAINING_CASES], ids=lambda case: case.id)
def test_invalid_spec_raises_exact_error(case: Case) -> None:
    with pytest.raises(SpecError) as error:
        ExperimentSpec.from_dict(case.data)
    assert str(error.value) == case.message
    assert isinstance(error.value, ValueError)
    assert (error.value.part, error.value.index, error.value.argument, error.value.fix, error.value.hint) == (
        case.part,
        case.index,
        case.argument,
        case.fix,
        case.hint,
    )


def test_error_cases_differ_from_valid_base_by_one_change() -> None:
    # The base must be valid, or every case above would pass for the wrong reason.
    assert ExperimentSpec.from_dict(_base()) == preset("strided")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "Invalid JSON in spec: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)."),
        ("", "Invalid JSON in spec: Expecting value: line 1 column 1 (char 0)."),
        ('{"name": "x"', "Invalid JSON in spec: Expecting ',' delimiter: line 1 column 13 (char 12)."),
        ("[]", "Invalid spec. Expected a JSON object. Received: []."),
        ("null", "Invalid spec. Expected a JSON object. Received: None."),
    ],
    ids=["unclosed-object", "empty", "missing-brace", "list", "null"],
)
def test_from_json_rejects_bad_json(text: str, message: str) -> None:
    with pytest.raises(SpecError) as error:
        ExperimentSpec.from_json(text)
    assert str(error.value) == message
    assert (error.value.part, error.value.index, error.value.argument) == ("spec", None, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (" " * 1_000_001, "Invalid spec. Expected at most 1,000,000 characters of JSON. Received 1,000,001."),
        (
            "[" * 100_000 + "]" * 100_000,
            "Invalid JSON in spec: it is nested too deeply. A spec nests at most 3 levels.",
        ),
        ('{"encoder": ' + "[" * 5_000, "Invalid JSON in spec: it is nested too deeply. A spec nests at most 3 levels."),
    ],
    ids=["over-1-MB", "nested-100000-deep", "nested-5000-deep-unclosed"],
)
def test_from_json_refuses_texts_too_long_or_too_deep_before_reading_them(text: str, message: str) -> None:
    with pytest.raises(SpecError) as error:
        ExperimentSpec.from_json(text)
    assert str(error.value) == message


def test_from_json_refuses_a_long_text_without_parsing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parsing(text: str) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr("core.spec.json.loads", no_parsing)
    with pytest.raises(SpecError, match=r"^Invalid spec\. Expected at most 1,000,000 characters"):
        ExperimentSpec.from_json("{" * 100_000_000)


def test_nan_in_json_text_is_rejected() -> None:
    # Python's json reads the non-standard NaN; validation must still refuse it.
    text = preset("seed").to_json().replace('"learning_rate": 0.001', '"learning_rate": NaN')
    with pytest.raises(
        SpecError, match=r"^Invalid value for argument `learning_rate` .* Received learning_rate=nan\.$"
    ):
        ExperimentSpec.from_json(text)


def test_validate_layer_without_a_place_names_the_spec() -> None:
    with pytest.raises(SpecError) as error:
        validate_layer(conv2d(0))
    assert str(error.value) == (
        "Invalid value for argument `filters` of spec. Expected a strictly positive integer. Received filters=0."
    )


def test_a_layer_without_a_place_gets_advice_but_no_fix() -> None:
    # A fix names the layer it changes, which a layer checked on its own does not have.
    with pytest.raises(SpecError) as error:
        validate_layer(conv2d(8, strides=2, dilation_rate=2))
    assert (error.value.fix, error.value.suggestion) == (None, "set dilation_rate=1")


@pytest.mark.parametrize(
    ("error", "suggestion"),
    [
        (SpecError("x", fix=Fix("decoder", 1, "output_padding", 1)), "set output_padding=1 on decoder layer 2"),
        (
            SpecError("x", fix=Fix("output", None, "activation", "sigmoid"), hint="use loss='mse'"),
            "set activation='sigmoid' on output layer, or use loss='mse'",
        ),
        (SpecError("x", hint="raise strides or lower output_padding"), "raise strides or lower output_padding"),
        (SpecError("x"), None),
    ],
    ids=["fix", "fix-and-hint", "hint", "neither"],
)
def test_suggestion_puts_fix_and_hint_in_words(error: SpecError, suggestion: str | None) -> None:
    assert error.suggestion == suggestion
    assert str(error) == "x"  # The message is never changed by a fix.


@pytest.mark.parametrize(
    "layer",
    [
        conv2d(1, 1),
        conv2d(1024, 28, strides=28, dilation_rate=1, padding="same", activation="gelu"),
        conv2d(8, 3, dilation_rate=28),
        conv2d_transpose(8, 4, strides=2, padding="same", output_padding=1),
        conv2d_transpose(8, 4, strides=2, padding="same"),
        conv2d_transpose(8, 4, strides=2, padding="valid", output_padding=0),
        conv2d_transpose(8, 3, strides=2, padding="same", output_padding=0),
        conv2d_transpose(8, 3, dilation_rate=2, padding="same", output_padding=0),
        max_pooling2d(28, strides=28, padding="same"),
        up_sampling2d(28, interpolation="bilinear"),
    ],
    ids=lambda layer: ",".join(f"{value}" for value in layer.to_dict().values()),
)
def test_valid_layers_pass(layer: LayerSpec) -> None:
    validate_layer(layer, "encoder", 0)


def test_an_unknown_dtype_policy_is_refused_in_kerass_words() -> None:
    with pytest.raises(SpecError) as raised:
        validate_training(TrainingSpec(dtype_policy="float8"))
    assert str(raised.value).startswith("Invalid value for argument `dtype_policy` of training settings. Expected one "
                                        "of ['auto', 'float32', 'mixed_bfloat16', 'mixed_float16'].")  # fmt: skip
    assert TrainingSpec.from_dict({"epochs": 2}).dtype_policy == "auto"  # Specs saved before the setting load.
