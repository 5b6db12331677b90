"""Conv2DTranspose by hand, in NumPy: the scatter step by step, the same result as zero insertion plus an ordinary
convolution, and, for contrast, UpSampling2D followed by Conv2D.

One input channel, one output channel and no bias, so every number can be followed. The output size comes from
`core.shapes.conv_transpose_output_length` (the one home of the shape rule) and the arguments are checked by
`core.spec.validate_layer`, so an invalid combination fails here with the message the Build page would show. The
arithmetic is Keras' (TensorFlow's `conv2d_transpose`), which `tests/test_transposed.py` checks number by number:

1. Scatter: input value (i, j) times the kernel (dilated: `dilation_rate - 1` zeros between its taps) is added
   into the window that starts at (i * strides, j * strides) of a "full" grid of `(n - 1) * strides + k_eff`.
2. The output is a window of that full grid: `padding="same"` drops `crop` rows and columns at the top and left
   (and what does not fit at the bottom and right); rows and columns past the full grid, which `output_padding`
   or a stride above the kernel adds, stay zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.shapes import conv_transpose_output_length
from core.spec import LayerSpec, SpecError, conv2d_transpose, validate_layer
from core.validation import check_layer_on_backend

INPUT_SIZES = (2, 3, 4, 5)
KERNEL_SIZES = (2, 3, 4)
STRIDES = (1, 2, 3)
DILATION_RATES = (1, 2)


@dataclass(frozen=True)
class TransposeSettings:
    """The arguments of a one-channel `keras.layers.Conv2DTranspose` besides its kernel, with Keras' names."""

    strides: int = 2
    padding: str = "valid"
    output_padding: int | None = None  # None: Keras infers it, as the output size formula shows.
    dilation_rate: int = 1

    def layer(self, kernel_size: int) -> LayerSpec:
        """The layer spec these settings and a square kernel make: one filter, linear, so no bias shows."""
        return conv2d_transpose(
            1,
            kernel_size,
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            dilation_rate=self.dilation_rate,
            activation="linear",
        )


@dataclass(frozen=True)
class OutputSize:
    """The output length along one axis, and the rule that gives it in symbols and with the numbers filled in."""

    length: int
    formula: str  # E.g. "(n - 1) * strides + max(k_eff, strides)".
    filled: str  # The same with numbers, e.g. "(2 - 1) * 2 + max(3, 2)".
    effective_kernel: int  # k_eff, the side of the window a dilated kernel covers.
    effective_formula: str = "(k - 1) * dilation_rate + 1"
    effective_filled: str = ""  # E.g. "(3 - 1) * 1 + 1".


@dataclass(frozen=True)
class ScatterStep:
    """One input value times the kernel, added into its window of the output.

    Attributes:
        row, column: the input value's place (zero-based).
        value: the input value.
        window: the window on the full grid as (top, left, bottom, right), bottom and right exclusive.
        visible: the part of the window inside the output, in output coordinates, or None when none of it is.
        added: what this step adds to the output (output-sized, zero outside the window).
        partial_sum: the output after this step.
    """

    row: int
    column: int
    value: float
    window: tuple[int, int, int, int]
    visible: tuple[int, int, int, int] | None
    added: np.ndarray
    partial_sum: np.ndarray


@dataclass(frozen=True)
class ZeroInsertion:
    """Conv2DTranspose as an ordinary (stride-1, valid) convolution, with each intermediate.

    Attributes:
        spread: the input with `strides - 1` zeros between neighbouring values.
        padding: zeros added (top, bottom, left, right) to `spread`; a negative number crops instead.
        padded: `spread` after that padding.
        flipped_kernel: the dilated kernel turned by 180 degrees.
        output: the valid convolution (cross-correlation, as Keras' Conv2D) of `padded` with `flipped_kernel`.
    """

    spread: np.ndarray
    padding: tuple[int, int, int, int]
    padded: np.ndarray
    flipped_kernel: np.ndarray
    output: np.ndarray


@dataclass(frozen=True)
class UpsamplingForm:
    """UpSampling2D(size=strides, interpolation="nearest") then Conv2D(padding="same") with the same kernel.

    Attributes:
        upsampled: every input value repeated strides x strides times.
        padded: `upsampled` with the zeros of Conv2D's padding="same".
        output: the valid convolution of `padded` with the (dilated, unflipped) kernel.
    """

    upsampled: np.ndarray
    padded: np.ndarray
    output: np.ndarray


def check_example(inputs: np.ndarray, kernel: np.ndarray, settings: TransposeSettings) -> None:
    """Checks an example the way Keras would check the layer, plus this page's limits on its size.

    Args:
        inputs: the input, a 2-D array of finite numbers.
        kernel: a square 2-D array of finite numbers.
        settings: the other arguments of the layer.

    Raises:
        SpecError: naming the argument, what was expected and what was received.
    """
    for name, grid in (("inputs", inputs), ("kernel", kernel)):
        if grid.ndim != 2 or 0 in grid.shape:
            raise SpecError(
                f"Invalid value for argument `{name}`. Expected a 2-D grid of numbers. Received shape={grid.shape}."
            )
        if not np.all(np.isfinite(grid)):
            raise SpecError(
                f"Invalid value for argument `{name}`. Expected a finite number in every cell. "
                f"Received {name}={np.asarray(grid).tolist()}.",
                argument=name,
            )
    if kernel.shape[0] != kernel.shape[1]:
        raise SpecError(
            f"Invalid value for argument `kernel_size`. Expected a square kernel. Received kernel_size={kernel.shape}.",
            argument="kernel_size",
        )
    _validate(settings, kernel.shape[0])


def effective_kernel_size(kernel_size: int, dilation_rate: int) -> int:
    """The side of the window a dilated kernel covers: (k - 1) * dilation_rate + 1."""
    return (kernel_size - 1) * dilation_rate + 1


def dilate_kernel(kernel: np.ndarray, dilation_rate: int) -> np.ndarray:
    """The kernel with `dilation_rate - 1` zeros between its taps: (k - 1) * dilation_rate + 1 on a side."""
    return _spread(kernel, dilation_rate)


def output_size(length: int, kernel_size: int, settings: TransposeSettings) -> OutputSize:
    """The output length along one axis (`core.shapes.conv_transpose_output_length`) and its formula in words.

    Args:
        length: the input length along the axis.
        kernel_size: the kernel's length along the axis.
        settings: strides, padding, output padding and dilation.

    Returns:
        The length with the formula that gives it, in symbols and with the numbers filled in.

    Raises:
        SpecError: if the settings are invalid (see `check_example`).
    """
    _validate(settings, kernel_size)
    strides, output_padding, dilation = settings.strides, settings.output_padding, settings.dilation_rate
    effective_kernel = effective_kernel_size(kernel_size, dilation)
    if settings.padding == "valid" and output_padding is None:
        formula = "(n - 1) * strides + max(k_eff, strides)"
        filled = f"({length} - 1) * {strides} + max({effective_kernel}, {strides})"
    elif settings.padding == "valid":
        formula = "(n - 1) * strides + k_eff + output_padding"
        filled = f"({length} - 1) * {strides} + {effective_kernel} + {output_padding}"
    elif output_padding is None:
        formula = "n * strides"
        filled = f"{length} * {strides}"
    else:
        formula = "(n - 1) * strides + k_eff % 2 + output_padding"
        filled = f"({length} - 1) * {strides} + {effective_kernel} % 2 + {output_padding}"
    result = conv_transpose_output_length(
        length, kernel_size, strides, settings.padding, output_padding, settings.dilation_rate
    )
    return OutputSize(
        result, formula, filled, effective_kernel, effective_filled=f"({kernel_size} - 1) * {dilation} + 1"
    )


def crop(length: int, kernel_size: int, settings: TransposeSettings) -> int:
    """Rows (or columns) of the full scatter grid that padding="same" drops before the output starts.

    TensorFlow pads the convolution this layer is the transpose of by `max((n - 1) * strides + k_eff - out, 0)`,
    the smaller half before; that half is cut from the top (left) of the full grid. "valid" cuts nothing.
    """
    if settings.padding == "valid":
        return 0
    full = (length - 1) * settings.strides + effective_kernel_size(kernel_size, settings.dilation_rate)
    return max(full - output_size(length, kernel_size, settings).length, 0) // 2


def scatter_steps(inputs: np.ndarray, kernel: np.ndarray, settings: TransposeSettings) -> list[ScatterStep]:
    """Conv2DTranspose one input value at a time, in reading order: the last step's `partial_sum` is the output.

    Args:
        inputs: the input, a 2-D array.
        kernel: a square 2-D array, in the (row, column) order of Keras' kernel[:, :, 0, 0].
        settings: strides, padding, output padding and dilation.

    Returns:
        One `ScatterStep` per input value.

    Raises:
        SpecError: for an invalid example (see `check_example`).
    """
    check_example(inputs, kernel, settings)
    dilated = dilate_kernel(kernel.astype(float), settings.dilation_rate)
    height, width = (output_size(length, kernel.shape[0], settings).length for length in inputs.shape)
    top_crop, left_crop = (crop(length, kernel.shape[0], settings) for length in inputs.shape)
    full_height, full_width = (np.array(inputs.shape) - 1) * settings.strides + dilated.shape
    # Rows and columns past the full grid (output padding) stay zero, hence the larger canvas.
    canvas_height, canvas_width = max(full_height, top_crop + height), max(full_width, left_crop + width)
    total = np.zeros((canvas_height, canvas_width))
    steps = []
    for (row, column), value in np.ndenumerate(inputs.astype(float)):
        top, left = row * settings.strides, column * settings.strides
        window = (top, left, top + dilated.shape[0], left + dilated.shape[1])
        added = np.zeros_like(total)
        added[window[0] : window[2], window[1] : window[3]] = value * dilated
        total = total + added
        visible = _clip(window, top_crop, left_crop, height, width)
        output_window = (slice(top_crop, top_crop + height), slice(left_crop, left_crop + width))
        steps.append(
            ScatterStep(row, column, float(value), window, visible, added[output_window], total[output_window])
        )
    return steps


def conv_transpose(inputs: np.ndarray, kernel: np.ndarray, settings: TransposeSettings) -> np.ndarray:
    """What `keras.layers.Conv2DTranspose(1, ..., use_bias=False)` computes for one channel: the full scatter."""
    return scatter_steps(inputs, kernel, settings)[-1].partial_sum


def zero_insertion(inputs: np.ndarray, kernel: np.ndarray, settings: TransposeSettings) -> ZeroInsertion:
    """The same output as `conv_transpose`, as zero insertion, padding and a stride-1 convolution.

    The padding before is `k_eff - 1 - crop`; the padding after is whatever makes the valid convolution as long
    as the output (for output padding, more zeros; for "same", fewer).

    Raises:
        SpecError: for an invalid example (see `check_example`).
    """
    check_example(inputs, kernel, settings)
    dilated = dilate_kernel(kernel.astype(float), settings.dilation_rate)
    spread = _spread(inputs.astype(float), settings.strides)  # (n, n) -> ((n - 1) * strides + 1, ...)
    amounts = []
    for axis, length in enumerate(inputs.shape):
        before = dilated.shape[axis] - 1 - crop(length, kernel.shape[0], settings)
        output_length = output_size(length, kernel.shape[0], settings).length
        amounts.append((before, output_length + dilated.shape[axis] - 1 - spread.shape[axis] - before))
    padded = _pad(spread, amounts)
    flipped = dilated[::-1, ::-1]
    padding = (amounts[0][0], amounts[0][1], amounts[1][0], amounts[1][1])
    return ZeroInsertion(spread, padding, padded, flipped, _correlate(padded, flipped))


def upsampling_conv(inputs: np.ndarray, kernel: np.ndarray, settings: TransposeSettings) -> UpsamplingForm:
    """UpSampling2D(size=strides) then Conv2D(kernel, padding="same", dilation_rate): another operation.

    It is the usual alternative to a strided Conv2DTranspose in a decoder: the same output size when Conv2DTranspose
    uses padding="same", but its numbers differ, because the kernel slides over copies of each value instead of
    being stamped once per value.

    Raises:
        SpecError: for an invalid example (see `check_example`).
    """
    check_example(inputs, kernel, settings)
    dilated = dilate_kernel(kernel.astype(float), settings.dilation_rate)
    upsampled = np.repeat(np.repeat(inputs.astype(float), settings.strides, axis=0), settings.strides, axis=1)
    total = dilated.shape[0] - 1  # Conv2D's "same" at stride 1: k_eff - 1 zeros in all, the smaller half before.
    padded = _pad(upsampled, [(total // 2, total - total // 2)] * 2)
    return UpsamplingForm(upsampled, padded, _correlate(padded, dilated))


def _validate(settings: TransposeSettings, kernel_size: int) -> None:
    try:
        layer = settings.layer(kernel_size)
        validate_layer(layer)
    except SpecError as error:
        raise _of_the_layer_shown(error, error.hint) from error
    try:
        check_layer_on_backend(layer, "tensorflow")  # The example computes what TensorFlow's Conv2DTranspose does.
    except SpecError as error:  # This page trains nothing, so "train on JAX or PyTorch" is no way out here.
        raise _of_the_layer_shown(error, "use an odd kernel_size") from error


def _of_the_layer_shown(error: SpecError, hint: str | None) -> SpecError:
    # A layer checked outside a spec is "of spec"; here it is the one layer shown.
    message = str(error).replace(" of spec. ", " of Conv2DTranspose. ", 1)
    return SpecError(message, argument=error.argument, hint=hint)


def _spread(grid: np.ndarray, step: int) -> np.ndarray:
    rows, columns = grid.shape
    spread = np.zeros(((rows - 1) * step + 1, (columns - 1) * step + 1), dtype=grid.dtype)
    spread[::step, ::step] = grid
    return spread


def _pad(grid: np.ndarray, amounts: list[tuple[int, int]]) -> np.ndarray:
    # Negative amounts crop: padding below zero is cutting.
    grid = np.pad(grid, [(max(before, 0), max(after, 0)) for before, after in amounts])
    (top, bottom), (left, right) = amounts
    return grid[max(-top, 0) : grid.shape[0] - max(-bottom, 0), max(-left, 0) : grid.shape[1] - max(-right, 0)]


def _correlate(grid: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    windows = sliding_window_view(grid, kernel.shape)  # (out_h, out_w, kh, kw)
    return np.einsum("ijkl,kl->ij", windows, kernel)


def _clip(
    window: tuple[int, int, int, int], top_crop: int, left_crop: int, height: int, width: int
) -> tuple[int, int, int, int] | None:
    top, left = max(window[0] - top_crop, 0), max(window[1] - left_crop, 0)
    bottom, right = min(window[2] - top_crop, height), min(window[3] - left_crop, width)
    return (top, left, bottom, right) if top < bottom and left < right else None
