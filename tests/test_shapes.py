"""Our pure-Python shape inference against Keras itself, and the errors of layers it cannot build, word for word.

Every single-layer case below builds the real Keras layer and calls it on a zero tensor, so what we match is what
TensorFlow's ops actually do, not only Keras' `compute_output_shape`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from core.presets import PRESETS, preset
from core.shapes import (
    Shape,
    conv_output_length,
    conv_transpose_output_length,
    infer_shapes,
    layer_output_shape,
    layer_params,
    walk_shapes,
)
from core.spec import (
    ACTIVATIONS,
    INPUT_SHAPE,
    INTERPOLATIONS,
    KERNEL_INITIALIZERS,
    PADDINGS,
    ExperimentSpec,
    LayerSpec,
    SpecError,
    conv2d,
    conv2d_transpose,
    max_pooling2d,
    up_sampling2d,
    validate_layer,
)
from core.validation import check_layer_on_backend


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    # Imported here, once, so that collecting the other test modules never pays for TensorFlow.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def keras_layer(keras: ModuleType, layer: LayerSpec) -> Any:
    """The Keras layer for a spec, built from `to_dict`, which must therefore use Keras' argument names."""
    arguments = layer.to_dict()
    return getattr(keras.layers, arguments.pop("type"))(**arguments)


def run_keras(keras: ModuleType, layer: LayerSpec, input_shape: Shape) -> tuple[Shape, int]:
    """The output shape of the real op on a zero batch of one, and Keras' parameter count."""
    built = keras_layer(keras, layer)
    output = built(np.zeros((1, *input_shape), dtype="float32"))
    return tuple(output.shape[1:]), built.count_params()


# --- Single layers against Keras ---------------------------------------------------------------------------
# A systematic grid: every layer type, padding, stride, kernel, dilation, output padding and pooling/upsampling
# size on inputs of odd and even, square and non-square sizes with several channel counts.

INPUT_SHAPES: tuple[Shape, ...] = ((5, 5, 1), (7, 7, 3), (14, 14, 8), (22, 22, 8), (28, 28, 1), (9, 14, 2), (3, 2, 4))
FILTERS = (1, 4, 16)


@dataclass(frozen=True)
class LayerCase:
    layer: LayerSpec
    input_shape: Shape

    @property
    def id(self) -> str:
        shown = [name for name in self.layer.to_dict() if name not in ("type", "activation", "kernel_initializer")]
        arguments = ",".join(f"{name}={getattr(self.layer, name)}" for name in shown)
        return f"{self.layer.type}({arguments})@{'x'.join(map(str, self.input_shape))}"

    @property
    def window_fits(self) -> bool:
        """Whether a "valid" window fits the input, worked out here independently of `core.shapes`."""
        if self.layer.padding == "same" or self.layer.type in ("Conv2DTranspose", "UpSampling2D"):
            return True
        window = self.layer.pool_size if self.layer.type == "MaxPooling2D" else self.layer.kernel_size
        effective_window = (window - 1) * self.layer.dilation_rate + 1
        return effective_window <= min(self.input_shape[:2])

    @property
    def accepted(self) -> bool:
        """Whether our validation accepts the layer, on the backend Keras runs on here."""
        try:
            validate_layer(self.layer)
            check_layer_on_backend(self.layer, os.environ.get("KERAS_BACKEND", "tensorflow"))
        except SpecError:
            return False
        return True


def _grid() -> list[LayerCase]:
    cases = []
    for shape_number, input_shape in enumerate(INPUT_SHAPES):
        for padding in PADDINGS:
            for strides in (1, 2, 3):
                # Keras rejects strides > 1 together with dilation_rate > 1 when the layer is made.
                for dilation_rate in (1, 2, 3) if strides == 1 else (1,):
                    for kernel_size in range(1, 6):
                        filters = FILTERS[(shape_number + kernel_size + strides) % len(FILTERS)]
                        arguments = {"strides": strides, "padding": padding, "dilation_rate": dilation_rate}
                        cases.append(LayerCase(conv2d(filters, kernel_size, **arguments), input_shape))
                        for output_padding in (None, *range(strides)):
                            layer = conv2d_transpose(filters, kernel_size, output_padding=output_padding, **arguments)
                            cases.append(LayerCase(layer, input_shape))
                for pool_size in (1, 2, 3):
                    cases.append(LayerCase(max_pooling2d(pool_size, strides, padding), input_shape))
        for size in (1, 2, 3):
            for interpolation in INTERPOLATIONS:
                cases.append(LayerCase(up_sampling2d(size, interpolation), input_shape))
    return cases


GRID = _grid()
# Cases Keras runs: what both sides must agree on.
RUNNABLE = [case for case in GRID if case.window_fits and case.accepted]
# Cases our validation rejects: Keras must fail on each of them too.
REJECTED = [case for case in GRID if case.window_fits and not case.accepted]
# Cases whose output would be empty. Keras raises for the convolutions; the pooling ones are never run, because
# TensorFlow's CPU pooling op kills the whole process with SIGFPE on an empty output.
EMPTY_CONVOLUTIONS = [case for case in GRID if not case.window_fits and case.layer.type == "Conv2D"]
EMPTY_POOLINGS = [case for case in GRID if not case.window_fits and case.layer.type == "MaxPooling2D"]


def test_grid_is_large_and_covers_every_layer_type() -> None:
    assert len(RUNNABLE) >= 200
    assert {case.layer.type for case in RUNNABLE} == {"Conv2D", "Conv2DTranspose", "MaxPooling2D", "UpSampling2D"}
    transposes = [case.layer for case in RUNNABLE if case.layer.type == "Conv2DTranspose"]
    assert {layer.output_padding for layer in transposes} == {None, 0, 1, 2}
    assert {layer.dilation_rate for layer in transposes} == {1, 2, 3}
    assert EMPTY_CONVOLUTIONS and EMPTY_POOLINGS
    # Our rules that only TensorFlow needs (core.validation) reject layers there only.
    assert bool(REJECTED) == (os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow")


@pytest.mark.slow  # Builds 1,179 real Keras layers: the reference check, not the fast loop.
@pytest.mark.parametrize("case", RUNNABLE, ids=lambda case: case.id)
def test_layer_shape_and_params_match_keras(keras: ModuleType, case: LayerCase) -> None:
    output_shape, params = run_keras(keras, case.layer, case.input_shape)
    assert layer_output_shape(case.layer, case.input_shape) == output_shape
    assert layer_params(case.layer, case.input_shape[2]) == params


@pytest.mark.parametrize("case", REJECTED, ids=lambda case: case.id)
def test_layers_we_reject_fail_in_keras(keras: ModuleType, case: LayerCase) -> None:
    # The only such case in the grid: padding="same", an even effective kernel and output_padding=0. TensorFlow
    # raises AbortedError from its oneDNN kernel and InvalidArgumentError from its plain one.
    layer = case.layer
    assert (layer.padding, layer.output_padding, (layer.kernel_size - 1) * layer.dilation_rate % 2) == ("same", 0, 1)
    with pytest.raises(Exception, match="Conv2DBackpropInput"):
        run_keras(keras, case.layer, case.input_shape)


@pytest.mark.parametrize("case", EMPTY_CONVOLUTIONS, ids=lambda case: case.id)
def test_empty_convolution_outputs_fail_in_keras(keras: ModuleType, case: LayerCase) -> None:
    assert min(layer_output_shape(case.layer, case.input_shape)[:2]) < 1
    with pytest.raises(ValueError, match="Computed output size would be zero or negative"):
        run_keras(keras, case.layer, case.input_shape)


@pytest.mark.parametrize("case", EMPTY_POOLINGS, ids=lambda case: case.id)
def test_empty_pooling_outputs_are_predicted_empty(case: LayerCase) -> None:
    assert min(layer_output_shape(case.layer, case.input_shape)[:2]) < 1


@pytest.mark.parametrize(
    ("module", "names"),
    [("activations", ACTIVATIONS), ("initializers", KERNEL_INITIALIZERS)],
)
def test_keras_knows_every_name_we_offer(keras: ModuleType, module: str, names: tuple[str, ...]) -> None:
    for name in names:
        assert getattr(keras, module).get(name) is not None, name


# --- Whole presets against Keras --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_shapes_match_keras_model(keras: ModuleType, name: str) -> None:
    spec = preset(name)
    report = infer_shapes(spec)
    model = keras.Sequential([keras.Input(INPUT_SHAPE), *(keras_layer(keras, layer) for _, _, layer in spec.layers())])
    assert model.count_params() == report.params
    values = np.zeros((1, *INPUT_SHAPE), dtype="float32")
    for layer, ours in zip(model.layers, report.layers, strict=True):
        values = layer(values)
        assert (tuple(values.shape[1:]), layer.count_params()) == (ours.output_shape, ours.params), ours.location
    assert tuple(model(np.zeros((2, *INPUT_SHAPE), dtype="float32")).shape) == (2, *INPUT_SHAPE)


def test_seed_preset_is_the_reference_model() -> None:
    report = infer_shapes(preset("seed"))
    assert report.params == 12_785
    assert [layer.params for layer in report.layers] == [320, 4_624, 1_160, 584, 1_168, 4_640, 289]
    assert [layer.output_shape[0] for layer in report.layers] == [26, 24, 22, 24, 26, 28, 28]
    assert [layer.output_shape[2] for layer in report.layers] == [32, 16, 8, 8, 16, 32, 1]
    assert report.bottleneck_shape == (22, 22, 8)
    assert report.bottleneck_size == 3_872
    assert report.compression_ratio == 784 / 3_872
    assert [layer.location for layer in report.layers] == [
        "encoder layer 1",
        "encoder layer 2",
        "encoder layer 3",
        "decoder layer 1",
        "decoder layer 2",
        "decoder layer 3",
        "output layer",
    ]


@pytest.mark.parametrize(
    ("name", "params", "bottleneck_shape", "compression_ratio"),
    [
        ("seed-fast", 12_785, (22, 22, 8), 784 / 3_872),
        ("strided", 12_201, (7, 7, 8), 2.0),
        ("upsampling", 12_201, (7, 7, 8), 2.0),
        ("denoising", 51_297, (7, 7, 32), 0.5),
    ],
)
def test_other_presets(name: str, params: int, bottleneck_shape: Shape, compression_ratio: float) -> None:
    report = infer_shapes(preset(name))
    assert (report.params, report.bottleneck_shape, report.compression_ratio) == (
        params,
        bottleneck_shape,
        compression_ratio,
    )
    assert report.layers[-1].output_shape == INPUT_SHAPE


# --- Layers that cannot be built ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message", "part", "index", "argument"),
    [
        (
            ExperimentSpec(
                encoder=(max_pooling2d(2),) * 5,  # 28 -> 14 -> 7 -> 3 -> 1 -> 0
                decoder=(up_sampling2d(28),),
                output=conv2d(1, padding="same", activation="sigmoid"),
            ),
            "Invalid encoder layer 5 (MaxPooling2D): its input is 1x1x1 and its output would be 0x0, which is "
            "empty. Received pool_size=2, strides=2, padding='valid'.",
            "encoder",
            4,
            "pool_size",
        ),
        (
            ExperimentSpec(
                encoder=(conv2d(8, 5, strides=3),),  # 28 -> 8
                decoder=(conv2d(8, 3, dilation_rate=4),),  # 8 - 9 + 1 = 0
                output=conv2d(1, padding="same", activation="sigmoid"),
            ),
            "Invalid decoder layer 1 (Conv2D): its input is 8x8x8 and its output would be 0x0, which is empty. "
            "Received filters=8, kernel_size=3, strides=1, padding='valid', dilation_rate=4, activation='relu', "
            "kernel_initializer='he_normal'.",
            "decoder",
            0,
            "kernel_size",
        ),
        (
            ExperimentSpec(
                encoder=(conv2d(8, 3, strides=2, padding="same"),) * 4,
                decoder=(conv2d_transpose(8, 3, strides=14, padding="same"),),
                output=conv2d(1, 28, dilation_rate=2, activation="sigmoid"),  # 28 - 55 + 1 < 1
            ),
            "Invalid output layer (Conv2D): its input is 28x28x8 and its output would be -26x-26, which is empty. "
            "Received filters=1, kernel_size=28, strides=1, padding='valid', dilation_rate=2, activation='sigmoid', "
            "kernel_initializer='he_normal'.",
            "output",
            None,
            "kernel_size",
        ),
    ],
    ids=["pooled-away", "dilated-kernel-too-large", "output-kernel-too-large"],
)
def test_empty_layer_output_names_the_layer(
    spec: ExperimentSpec, message: str, part: str, index: int | None, argument: str | None
) -> None:
    with pytest.raises(SpecError) as error:
        infer_shapes(spec)
    assert str(error.value) == message
    assert (error.value.part, error.value.index, error.value.argument) == (part, index, argument)


def test_infer_shapes_reports_an_output_of_any_size() -> None:
    # Whether the output is 28x28x1 again is for `core.validation` to judge; the shapes are simply what they are.
    spec = preset("seed")
    spec = spec.with_layer("decoder", 2, replace(spec.decoder[2], kernel_size=4))
    assert infer_shapes(spec).layers[-1].output_shape == (29, 29, 1)


def test_walk_shapes_yields_the_layers_before_the_one_at_fault() -> None:
    spec = preset("seed")
    spec = spec.with_layer("decoder", 1, replace(spec.decoder[1], filters=0))
    walked = []
    with pytest.raises(SpecError) as error:
        for layer_shape in walk_shapes(spec):
            walked.append(layer_shape)
    assert [layer.location for layer in walked] == [
        "encoder layer 1",
        "encoder layer 2",
        "encoder layer 3",
        "decoder layer 1",
    ]
    assert (error.value.part, error.value.index, error.value.argument) == ("decoder", 1, "filters")


# --- Length formulas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "kernel_size", "strides", "padding", "dilation_rate", "expected"),
    [
        (28, 3, 1, "valid", 1, 26),
        (28, 28, 1, "valid", 1, 1),  # The kernel just fits.
        (27, 28, 1, "valid", 1, 0),  # One short: empty.
        (5, 3, 1, "valid", 3, -1),  # An effective kernel of 7 on 5: negative, for the caller to reject.
        (7, 3, 2, "valid", 1, 3),
        (8, 3, 2, "valid", 1, 3),  # The last row is dropped when the stride does not divide evenly.
        (9, 3, 2, "valid", 1, 4),
        (28, 3, 1, "valid", 2, 24),
        (28, 1, 3, "valid", 1, 10),
        (7, 1, 2, "same", 1, 4),  # "same" rounds up and ignores the kernel.
        (28, 5, 3, "same", 1, 10),
        (1, 5, 1, "same", 1, 1),
        (1, 3, 28, "same", 1, 1),
        (28, 3, 1, "same", 3, 28),
    ],
)
def test_conv_output_length(
    length: int, kernel_size: int, strides: int, padding: str, dilation_rate: int, expected: int
) -> None:
    assert conv_output_length(length, kernel_size, strides, padding, dilation_rate) == expected


@pytest.mark.parametrize(
    ("length", "kernel_size", "strides", "padding", "output_padding", "dilation_rate", "expected"),
    [
        (22, 3, 1, "valid", None, 1, 24),
        (22, 3, 1, "valid", 0, 1, 24),
        (7, 3, 2, "valid", None, 1, 15),
        (7, 3, 2, "valid", 1, 1, 16),
        (7, 1, 3, "valid", None, 1, 21),  # Stride above kernel: the gap is padded up to length * strides.
        (7, 1, 3, "valid", 0, 1, 19),  # An explicit 0 keeps only the kernel: two rows fewer.
        (7, 2, 3, "valid", 2, 1, 22),
        (1, 1, 1, "valid", None, 1, 1),
        (7, 3, 1, "valid", None, 2, 11),
        (7, 3, 2, "same", None, 1, 14),  # "same" without output padding: exactly length * strides.
        (7, 4, 2, "same", None, 1, 14),
        (7, 3, 2, "same", 1, 1, 14),
        (7, 3, 2, "same", 0, 1, 13),
        (7, 4, 2, "same", 1, 1, 13),  # An even kernel loses one more.
        (7, 4, 3, "same", 2, 1, 20),
        (7, 2, 1, "same", None, 3, 7),
        (7, 3, 1, "same", 0, 3, 7),
    ],
)
def test_conv_transpose_output_length(
    length: int,
    kernel_size: int,
    strides: int,
    padding: str,
    output_padding: int | None,
    dilation_rate: int,
    expected: int,
) -> None:
    actual = conv_transpose_output_length(length, kernel_size, strides, padding, output_padding, dilation_rate)
    assert actual == expected


@pytest.mark.parametrize(
    ("layer", "input_channels", "expected"),
    [
        (conv2d(32, 3), 1, 320),
        (conv2d_transpose(16, 5, strides=2), 8, 5 * 5 * 8 * 16 + 16),
        (conv2d(4, 3, dilation_rate=3), 2, 3 * 3 * 2 * 4 + 4),  # Dilation spreads the kernel, adds no weights.
        (max_pooling2d(2), 32, 0),
        (up_sampling2d(2, "bilinear"), 32, 0),
    ],
    ids=["conv2d", "conv2d_transpose", "dilated", "pooling", "upsampling"],
)
def test_layer_params(layer: LayerSpec, input_channels: int, expected: int) -> None:
    assert layer_params(layer, input_channels) == expected
