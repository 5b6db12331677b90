"""Architecture edits as pure functions, and the fixes real validation errors carry, applied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from core.edits import (
    DEFAULT_FILTERS,
    add_layer,
    apply_fix,
    change_type,
    duplicate_layer,
    move_layer,
    new_layer,
    remove_layer,
    same_architecture,
    set_argument,
)
from core.presets import preset
from core.shapes import infer_shapes
from core.spec import (
    MAX_LAYERS_PER_PART,
    ExperimentSpec,
    Fix,
    LayerSpec,
    SpecError,
    conv2d,
    conv2d_transpose,
    max_pooling2d,
    up_sampling2d,
)
from core.validation import validate

SEED = preset("seed")


def filters(layers: tuple[LayerSpec, ...]) -> list[int | None]:
    return [layer.filters for layer in layers]


# --- New layers and type changes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer_type", "expected"),
    [
        ("Conv2D", conv2d(8, padding="same")),
        ("Conv2DTranspose", conv2d_transpose(8, padding="same")),
        ("MaxPooling2D", max_pooling2d(2)),
        ("UpSampling2D", up_sampling2d(2)),
    ],
)
def test_new_layer(layer_type: str, expected: LayerSpec) -> None:
    assert new_layer(layer_type, channels=8) == expected


@pytest.mark.parametrize("part", ["encoder", "decoder"])
@pytest.mark.parametrize("layer_type", ["Conv2D", "Conv2DTranspose"])
def test_adding_a_convolution_keeps_a_valid_architecture_valid(part: str, layer_type: str) -> None:
    spec = add_layer(SEED, part, layer_type)
    validate(spec)
    assert infer_shapes(spec).bottleneck_shape == (22, 22, 8)
    added = getattr(spec, part)[-1]
    # The channels arriving at the end of the encoder (8) or decoder (32) pass through unchanged.
    assert added.filters == {"encoder": 8, "decoder": 32}[part]


def test_first_layer_gets_the_default_filters() -> None:
    spec = replace(SEED, encoder=(max_pooling2d(2),))
    assert add_layer(spec, "encoder", "Conv2D").encoder[-1].filters == DEFAULT_FILTERS


@pytest.mark.parametrize(
    ("layer", "layer_type", "expected"),
    [
        (conv2d(8), "Conv2DTranspose", conv2d_transpose(8)),
        (conv2d_transpose(8, strides=2, output_padding=1), "Conv2D", conv2d(8, strides=2)),
        (conv2d(8, strides=1), "MaxPooling2D", replace(conv2d(8), type="MaxPooling2D", strides=2)),
        (max_pooling2d(2), "Conv2D", replace(max_pooling2d(2), type="Conv2D", filters=DEFAULT_FILTERS, strides=1)),
        (up_sampling2d(2), "Conv2DTranspose", replace(up_sampling2d(2), type="Conv2DTranspose", filters=16)),
        (conv2d(8), "Conv2D", conv2d(8)),
    ],
)
def test_change_type_keeps_shared_arguments(layer: LayerSpec, layer_type: str, expected: LayerSpec) -> None:
    changed = change_type(layer, layer_type)
    assert changed == expected
    assert changed.to_dict()["type"] == layer_type


def test_unknown_type_is_refused_in_keras_voice() -> None:
    with pytest.raises(SpecError) as caught:
        new_layer("Dense")
    assert str(caught.value) == (
        "Invalid value for argument `type` of a layer. Expected one of "
        "['Conv2D', 'Conv2DTranspose', 'MaxPooling2D', 'UpSampling2D']. Received type='Dense'."
    )


# --- Adding, removing, moving ------------------------------------------------------------------------------


def test_remove_move_and_duplicate() -> None:
    assert filters(remove_layer(SEED, "decoder", 1).decoder) == [8, 32]
    assert filters(move_layer(SEED, "encoder", 0, 1).encoder) == [16, 32, 8]
    assert filters(move_layer(SEED, "encoder", 2, -1).encoder) == [32, 8, 16]
    assert filters(duplicate_layer(SEED, "decoder", 0).decoder) == [8, 8, 16, 32]
    assert SEED.encoder == preset("seed").encoder  # Specs are frozen: edits return new ones.


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda: remove_layer(replace(SEED, encoder=(conv2d(8),)), "encoder", 0),
            "Invalid encoder. Expected at least one layer. Removing encoder layer 1 would empty it.",
        ),
        (
            lambda: move_layer(SEED, "encoder", 0, -1),
            "Invalid move of encoder layer 1 by -1. Expected a place from 1 to 3 in the encoder. Received place 0.",
        ),
        (
            lambda: add_layer(
                replace(SEED, encoder=(conv2d(8, padding="same"),) * MAX_LAYERS_PER_PART), "encoder", "Conv2D"
            ),
            "Invalid encoder. Expected at most 12 layers. Received 13.",
        ),
        (
            lambda: duplicate_layer(
                replace(SEED, decoder=(conv2d(8, padding="same"),) * MAX_LAYERS_PER_PART), "decoder", 0
            ),
            "Invalid decoder. Expected at most 12 layers. Received 13.",
        ),
        (
            lambda: add_layer(SEED, "output", "Conv2D"),
            "Invalid part. Expected one of ['encoder', 'decoder']. Received part='output'.",
        ),
        (
            lambda: set_argument(SEED, "encoder", 0, "pool_size", 3),
            "Unrecognized argument `pool_size` for encoder layer 1 (Conv2D). Expected only: filters, kernel_size, "
            "strides, padding, dilation_rate, activation, kernel_initializer.",
        ),
        (
            lambda: set_argument(SEED, "output", None, "type", "MaxPooling2D"),
            "Invalid value for argument `type` of output layer. Expected one of ['Conv2D', 'Conv2DTranspose']. "
            "Received type='MaxPooling2D'.",
        ),
    ],
)
def test_impossible_edits_are_refused(edit: Callable[[], object], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        edit()
    assert str(caught.value) == message


def test_set_argument_changes_one_layer_only() -> None:
    spec = set_argument(SEED, "decoder", 2, "kernel_size", 4)
    assert spec.decoder[2].kernel_size == 4
    assert spec.decoder[:2] == SEED.decoder[:2] and spec.encoder == SEED.encoder and spec.output == SEED.output
    assert set_argument(SEED, "output", None, "type", "Conv2DTranspose").output.type == "Conv2DTranspose"


def test_same_architecture_ignores_name_and_training() -> None:
    assert same_architecture(SEED, preset("seed-fast"))
    assert same_architecture(preset("strided"), replace(preset("strided"), name="mine").with_training(epochs=3))
    assert not same_architecture(preset("strided"), preset("denoising"))  # The same strides, other widths.
    assert not same_architecture(SEED, preset("strided"))


# --- Suggested fixes ----------------------------------------------------------------------------------------


def validation_error(spec: ExperimentSpec) -> SpecError:
    with pytest.raises(SpecError) as caught:
        validate(spec)
    return caught.value


@pytest.mark.parametrize(
    ("spec", "change"),
    [
        (set_argument(SEED, "decoder", 2, "kernel_size", 4), Fix("decoder", 2, "kernel_size", 3)),
        (remove_layer(SEED, "decoder", 2), Fix("encoder", 2, "padding", "same")),
        (
            set_argument(preset("strided"), "decoder", 0, "padding", "valid"),
            Fix("decoder", 0, "padding", "same"),
        ),
        (
            set_argument(SEED, "output", None, "activation", "relu"),
            Fix("output", None, "activation", "sigmoid"),
        ),
        (set_argument(SEED, "output", None, "filters", 3), Fix("output", None, "filters", 1)),
        (
            set_argument(preset("strided"), "encoder", 0, "dilation_rate", 2),
            Fix("encoder", 0, "strides", 1),
        ),
    ],
)
def test_validation_errors_carry_their_fix(spec: ExperimentSpec, change: Fix) -> None:
    error = validation_error(spec)
    assert error.fix == change
    assert error.suggestion.startswith(change.describe())


@pytest.mark.parametrize(
    "spec",
    [
        set_argument(SEED, "decoder", 2, "kernel_size", 4),
        remove_layer(SEED, "decoder", 2),
        set_argument(SEED, "output", None, "activation", "relu"),
        set_argument(preset("strided"), "decoder", 1, "output_padding", 0),
    ],
)
def test_applying_a_shape_or_argument_fix_makes_the_spec_valid(spec: ExperimentSpec) -> None:
    fixed = apply_fix(spec, validation_error(spec).fix)
    validate(fixed)


@pytest.mark.parametrize(
    "spec",
    [
        set_argument(preset("strided"), "decoder", 0, "output_padding", 3),  # "raise strides or lower output_padding"
        add_layer(SEED, "encoder", "MaxPooling2D"),  # No single change brings 17x17 back to 28x28.
    ],
)
def test_advice_that_is_not_one_change_gives_none(spec: ExperimentSpec) -> None:
    assert validation_error(spec).fix is None
