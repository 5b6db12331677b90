"""Conv2DTranspose by hand against Keras itself: every number of the scatter, the zero-insertion form and the
UpSampling2D contrast, over a table of settings; the output size formula; the errors of invalid settings, word for
word."""

from __future__ import annotations

import itertools
import os
from types import ModuleType

import numpy as np
import pytest

from core.spec import SpecError
from core.transposed import (
    OutputSize,
    TransposeSettings,
    check_example,
    conv_transpose,
    crop,
    dilate_kernel,
    output_size,
    scatter_steps,
    upsampling_conv,
    zero_insertion,
)

INPUT = np.array([[1.0, 2.0], [3.0, 4.0]])
KERNEL = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])


def _valid_settings() -> list[tuple[int, int, TransposeSettings]]:
    """(input size, kernel size, settings) for every combination Keras accepts, strides 1 to 3 and dilation 1 to 2."""
    cases = []
    for size, kernel_size, strides, padding, output_padding, dilation_rate in itertools.product(
        (2, 3, 5), (2, 3, 4), (1, 2, 3), ("valid", "same"), (None, 0, 1, 2), (1, 2)
    ):
        settings = TransposeSettings(strides, padding, output_padding, dilation_rate)
        try:
            check_example(np.zeros((size, size)), np.zeros((kernel_size, kernel_size)), settings)
        except SpecError:
            continue
        cases.append((size, kernel_size, settings))
    return cases


CASES = _valid_settings()


def case_id(case: tuple[int, int, TransposeSettings]) -> str:
    size, kernel_size, settings = case
    return (
        f"n{size}-k{kernel_size}-s{settings.strides}-{settings.padding}-op{settings.output_padding}"
        f"-d{settings.dilation_rate}"
    )


def example(size: int, kernel_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Small distinct integers, so that a misplaced or flipped value changes the result."""
    rng = np.random.default_rng(size * 10 + kernel_size)
    return rng.integers(-4, 5, (size, size)).astype(float), rng.integers(-3, 4, (kernel_size, kernel_size)).astype(
        float
    )


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    # Imported here, once, so that collecting the other test modules never pays for TensorFlow.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def keras_conv_transpose(keras: ModuleType, inputs: np.ndarray, kernel: np.ndarray, settings: TransposeSettings):
    layer = keras.layers.Conv2DTranspose(
        1,
        kernel.shape[0],
        strides=settings.strides,
        padding=settings.padding,
        output_padding=settings.output_padding,
        dilation_rate=settings.dilation_rate,
        use_bias=False,
    )
    layer.build((1, *inputs.shape, 1))
    layer.set_weights([kernel[:, :, np.newaxis, np.newaxis]])  # Keras' layout: (kh, kw, out, in).
    return np.asarray(layer(inputs[np.newaxis, :, :, np.newaxis]))[0, :, :, 0]


def test_the_table_covers_what_the_page_offers() -> None:
    settings = [case[2] for case in CASES]
    assert {setting.strides for setting in settings} == {1, 2, 3}
    assert {setting.padding for setting in settings} == {"valid", "same"}
    assert {setting.output_padding for setting in settings} == {None, 0, 1, 2}
    assert {setting.dilation_rate for setting in settings} == {1, 2}
    assert len(CASES) > 150


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_scatter_and_zero_insertion_equal_keras(keras: ModuleType, case: tuple[int, int, TransposeSettings]) -> None:
    size, kernel_size, settings = case
    inputs, kernel = example(size, kernel_size)
    expected = keras_conv_transpose(keras, inputs, kernel, settings)
    length = output_size(size, kernel_size, settings).length
    assert expected.shape == (length, length)
    np.testing.assert_allclose(conv_transpose(inputs, kernel, settings), expected, atol=1e-4)
    np.testing.assert_allclose(zero_insertion(inputs, kernel, settings).output, expected, atol=1e-4)


@pytest.mark.parametrize(
    "settings",
    [TransposeSettings(strides, "valid", None, 1) for strides in (1, 2, 3)] + [TransposeSettings(1, "valid", None, 2)],
    ids=["s1", "s2", "s3", "s1-d2"],
)
def test_upsampling_form_equals_keras_upsampling_then_conv2d(keras: ModuleType, settings: TransposeSettings) -> None:
    inputs, kernel = example(3, 3)
    model = keras.Sequential(
        [
            keras.layers.UpSampling2D(settings.strides, interpolation="nearest"),
            keras.layers.Conv2D(1, 3, padding="same", dilation_rate=settings.dilation_rate, use_bias=False),
        ]
    )
    model.build((1, 3, 3, 1))
    model.layers[1].set_weights([kernel[:, :, np.newaxis, np.newaxis]])
    expected = np.asarray(model(inputs[np.newaxis, :, :, np.newaxis]))[0, :, :, 0]
    np.testing.assert_allclose(upsampling_conv(inputs, kernel, settings).output, expected, atol=1e-4)


def test_upsampling_form_is_a_different_operation() -> None:
    settings = TransposeSettings(strides=2, padding="same")
    transposed = conv_transpose(INPUT, KERNEL, settings)
    upsampled = upsampling_conv(INPUT, KERNEL, settings)
    assert upsampled.output.shape == transposed.shape == (4, 4)
    assert not np.allclose(upsampled.output, transposed)
    np.testing.assert_array_equal(upsampled.upsampled, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_filled_formula_gives_the_shape_rules_length(case: tuple[int, int, TransposeSettings]) -> None:
    size, kernel_size, settings = case
    size_rule = output_size(size, kernel_size, settings)
    k_eff = (kernel_size - 1) * settings.dilation_rate + 1
    assert eval(size_rule.filled, {"__builtins__": {}, "max": max}) == size_rule.length
    symbols = {"n": size, "k_eff": k_eff, "strides": settings.strides, "output_padding": settings.output_padding}
    assert eval(size_rule.formula, {"__builtins__": {}, "max": max}, symbols) == size_rule.length
    assert size_rule.effective_kernel == eval(size_rule.effective_filled, {"__builtins__": {}}) == k_eff


def test_default_example_step_by_step() -> None:
    settings = TransposeSettings(strides=2, padding="valid")
    assert output_size(2, 3, settings) == OutputSize(
        5,
        "(n - 1) * strides + max(k_eff, strides)",
        "(2 - 1) * 2 + max(3, 2)",
        3,
        "(k - 1) * dilation_rate + 1",
        "(3 - 1) * 1 + 1",
    )
    steps = scatter_steps(INPUT, KERNEL, settings)
    assert [(step.row, step.column, step.value) for step in steps] == [(0, 0, 1), (0, 1, 2), (1, 0, 3), (1, 1, 4)]
    assert [step.window for step in steps] == [(0, 0, 3, 3), (0, 2, 3, 5), (2, 0, 5, 3), (2, 2, 5, 5)]
    assert [step.visible for step in steps] == [step.window for step in steps]
    np.testing.assert_array_equal(steps[1].added[0:3, 2:5], 2 * KERNEL)
    np.testing.assert_array_equal(
        steps[1].partial_sum,
        [[1, 0, 4, 0, 4], [0, 1, 0, 2, 0], [1, 0, 3, 0, 2], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
    )
    # Where windows overlap (row 2, column 2), four products add up: 1*1 + 2*1 + 3*2 + 4*1.
    assert steps[-1].partial_sum[2, 2] == 13
    np.testing.assert_array_equal(steps[-1].partial_sum, conv_transpose(INPUT, KERNEL, settings))


def test_same_padding_crops_the_window() -> None:
    settings = TransposeSettings(strides=2, padding="same")  # Full grid 5x5, output 4x4: no crop before, one after.
    assert crop(2, 3, settings) == 0
    steps = scatter_steps(INPUT, KERNEL, settings)
    assert [step.window for step in steps][-1] == (2, 2, 5, 5)
    assert [step.visible for step in steps][-1] == (2, 2, 4, 4)
    settings = TransposeSettings(strides=1, padding="same")  # Full grid 4x4, output 2x2: one row cut before.
    assert crop(2, 3, settings) == 1
    assert scatter_steps(INPUT, KERNEL, settings)[0].visible == (0, 0, 2, 2)


def test_output_padding_adds_zero_rows_past_every_window() -> None:
    settings = TransposeSettings(strides=3, padding="valid", output_padding=2)
    output = conv_transpose(INPUT, KERNEL, settings)
    assert output.shape == (8, 8)  # (2 - 1) * 3 + 3 + 2.
    np.testing.assert_array_equal(output[6:], 0)
    np.testing.assert_array_equal(output[:, 6:], 0)


def test_zero_insertion_intermediates() -> None:
    form = zero_insertion(INPUT, KERNEL, TransposeSettings(strides=2, padding="valid"))
    np.testing.assert_array_equal(form.spread, [[1, 0, 2], [0, 0, 0], [3, 0, 4]])
    assert form.padding == (2, 2, 2, 2)  # k_eff - 1 on every side.
    assert form.padded.shape == (7, 7)
    np.testing.assert_array_equal(form.flipped_kernel, [[1, 0, 1], [0, 1, 0], [2, 0, 1]])
    form = zero_insertion(INPUT, KERNEL, TransposeSettings(strides=1, padding="same"))
    assert form.padding == (1, 1, 1, 1)


def test_dilation_spreads_the_kernel() -> None:
    np.testing.assert_array_equal(dilate_kernel(np.array([[1, 2], [3, 4]]), 2), [[1, 0, 2], [0, 0, 0], [3, 0, 4]])


@pytest.mark.parametrize(
    ("inputs", "kernel", "settings", "message"),
    [
        (
            INPUT,
            KERNEL,
            TransposeSettings(strides=2, output_padding=2),
            "Invalid value for argument `output_padding` of Conv2DTranspose. Expected an integer smaller than "
            "strides=2 (Keras requires strides > output_padding). Received output_padding=2.",
        ),
        (
            INPUT,
            KERNEL,
            TransposeSettings(strides=2, dilation_rate=2),
            "Invalid arguments `strides` and `dilation_rate` of Conv2DTranspose. Keras does not support strides > 1 "
            "together with dilation_rate > 1. Received strides=2, dilation_rate=2.",
        ),
        (
            INPUT,
            np.ones((2, 2)),
            TransposeSettings(strides=2, padding="same", output_padding=0),
            "Invalid value for argument `output_padding` of Conv2DTranspose. Expected None or 1: TensorFlow cannot "
            "run padding='same' with an even kernel (effective size 2) and output_padding=0. Received "
            "output_padding=0.",
        ),
        (
            np.array([[1.0, np.nan], [3.0, 4.0]]),
            KERNEL,
            TransposeSettings(),
            "Invalid value for argument `inputs`. Expected a finite number in every cell. "
            "Received inputs=[[1.0, nan], [3.0, 4.0]].",
        ),
        (
            INPUT,
            np.ones((2, 3)),
            TransposeSettings(),
            "Invalid value for argument `kernel_size`. Expected a square kernel. Received kernel_size=(2, 3).",
        ),
    ],
    ids=["output-padding-not-below-strides", "strides-with-dilation", "same-even-kernel", "nan", "not-square"],
)
def test_invalid_examples_are_refused_in_keras_voice(
    inputs: np.ndarray, kernel: np.ndarray, settings: TransposeSettings, message: str
) -> None:
    with pytest.raises(SpecError) as raised:
        scatter_steps(inputs, kernel, settings)
    assert str(raised.value) == message
    with pytest.raises(SpecError):
        zero_insertion(inputs, kernel, settings)


def test_the_tensorflow_rule_offers_no_other_backend_here() -> None:
    # The example computes TensorFlow's result and trains nothing: switching backend is no way out on this page.
    with pytest.raises(SpecError) as raised:
        scatter_steps(INPUT, np.ones((2, 2)), TransposeSettings(strides=2, padding="same", output_padding=0))
    assert raised.value.suggestion == "use an odd kernel_size"
