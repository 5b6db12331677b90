"""Shape inference in plain Python, exactly as Keras computes it, for instant feedback without TensorFlow.

`infer_shapes` walks a spec layer by layer and returns every output shape and parameter count. When the
model cannot be built, or its output is not 28x28x1, it raises `SpecError` naming the layer at fault and,
where one exists, a concrete one-argument fix found by trying the nearby alternatives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.spec import INPUT_SHAPE, ExperimentSpec, LayerSpec, SpecError, describe_location, validate_layer

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class LayerShape:
    """One layer's place in the shape flow."""

    part: str  # "encoder", "decoder" or "output".
    index: int | None
    type: str
    input_shape: Shape
    output_shape: Shape
    params: int

    @property
    def location(self) -> str:
        return describe_location(self.part, self.index)


@dataclass(frozen=True)
class ShapeReport:
    """The whole shape flow of a valid spec."""

    layers: tuple[LayerShape, ...]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def bottleneck_shape(self) -> Shape:
        """The encoder's output: the code the decoder rebuilds the image from."""
        return [layer for layer in self.layers if layer.part == "encoder"][-1].output_shape

    @property
    def bottleneck_size(self) -> int:
        height, width, channels = self.bottleneck_shape
        return height * width * channels

    @property
    def compression_ratio(self) -> float:
        """Input values per bottleneck value: above 1 compresses, below 1 the code is larger than the image."""
        height, width, channels = INPUT_SHAPE
        return height * width * channels / self.bottleneck_size


def conv_output_length(length: int, kernel_size: int, strides: int, padding: str, dilation_rate: int = 1) -> int:
    """Output length of Conv2D (and MaxPooling2D with dilation_rate=1) along one axis."""
    effective_kernel = (kernel_size - 1) * dilation_rate + 1
    if padding == "same":
        return (length + strides - 1) // strides
    return (length - effective_kernel) // strides + 1


def conv_transpose_output_length(
    length: int,
    kernel_size: int,
    strides: int,
    padding: str,
    output_padding: int | None = None,
    dilation_rate: int = 1,
) -> int:
    """Output length of Conv2DTranspose along one axis (Keras' `compute_conv_transpose_output_shape`)."""
    effective_kernel = (kernel_size - 1) * dilation_rate + 1
    if padding == "valid":
        extra = max(effective_kernel, strides) - effective_kernel if output_padding is None else output_padding
        return (length - 1) * strides + effective_kernel + extra
    if output_padding is None:
        return length * strides
    return (length - 1) * strides + effective_kernel % 2 + output_padding


def layer_output_shape(layer: LayerSpec, input_shape: Shape) -> Shape:
    """The output (height, width, channels) of one layer; sizes below 1 are returned as they are."""
    height, width, channels = input_shape
    if layer.type == "Conv2D":

        def length(size: int) -> int:
            return conv_output_length(size, layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)

        return length(height), length(width), layer.filters
    if layer.type == "Conv2DTranspose":

        def length(size: int) -> int:
            return conv_transpose_output_length(
                size, layer.kernel_size, layer.strides, layer.padding, layer.output_padding, layer.dilation_rate
            )

        return length(height), length(width), layer.filters
    if layer.type == "MaxPooling2D":

        def length(size: int) -> int:
            return conv_output_length(size, layer.pool_size, layer.strides, layer.padding)

        return length(height), length(width), channels
    return height * layer.size, width * layer.size, channels  # UpSampling2D


def layer_params(layer: LayerSpec, input_channels: int) -> int:
    """Trainable parameters: kernel weights plus one bias per filter, for both convolution types."""
    if not layer.has_weights:
        return 0
    return layer.kernel_size * layer.kernel_size * input_channels * layer.filters + layer.filters


def _walk(spec: ExperimentSpec) -> ShapeReport:
    shapes = []
    current: Shape = INPUT_SHAPE
    for part, index, layer in spec.layers():
        output = layer_output_shape(layer, current)
        if min(output[:2]) < 1:
            raise SpecError(
                f"Invalid {describe_location(part, index)} ({layer.type}): its input is "
                f"{_format(current)} and its output would be {output[0]}x{output[1]}, which is empty. "
                f"Received {_describe_arguments(layer)}.",
                part=part,
                index=index,
                argument="kernel_size" if layer.type != "MaxPooling2D" else "pool_size",
            )
        shapes.append(LayerShape(part, index, layer.type, current, output, layer_params(layer, current[2])))
        current = output
    return ShapeReport(tuple(shapes))


def infer_shapes(spec: ExperimentSpec) -> ShapeReport:
    """Every layer's output shape and parameters, checking that the model maps 28x28x1 back to 28x28x1.

    Arguments are assumed valid (see `core.spec.validate_layer`); this checks only the flow of shapes.

    Returns:
        A `ShapeReport` with one `LayerShape` per layer: encoder, decoder, then output.

    Raises:
        SpecError: if a layer's output would be empty, or the model's output is not 28x28x1. The error names
            where the decoder ends and, where a single argument change fixes it, that change.
    """
    report = _walk(spec)
    output_shape = report.layers[-1].output_shape
    if output_shape != INPUT_SHAPE:
        decoder_end = [layer for layer in report.layers if layer.part == "decoder"][-1].output_shape
        fix = suggest_fix(spec)
        message = (
            f"Invalid architecture: the output is {_format(output_shape)} but must match the input, "
            f"{_format(INPUT_SHAPE)}. The encoder ends at {_format(report.bottleneck_shape)}, the decoder at "
            f"{_format(decoder_end)}."
        )
        message += f" Fix: {fix}." if fix else " Change the decoder so that it grows back to 28x28."
        raise SpecError(message, part="output", fix=fix)
    return report


def suggest_fix(spec: ExperimentSpec) -> str | None:
    """One argument change, in words, that makes the output 28x28x1, or None if no single change does.

    Tries the changes users most often need, in order: `output_padding` on a strided transpose, `padding`,
    then `kernel_size` (nearest the current size first), first in the decoder (last layers first), then the output
    layer, then the encoder. Changes that `validate_layer` rejects are never suggested.
    """
    candidates: list[tuple[str, int | None, str, object]] = []
    places = [*reversed([("decoder", index) for index in range(len(spec.decoder))]), ("output", None)]
    places += [("encoder", index) for index in reversed(range(len(spec.encoder)))]
    for part, index in places:
        layer = spec.layer_at(part, index)
        if layer.type == "Conv2DTranspose" and layer.strides > 1:
            candidates += [(part, index, "output_padding", value) for value in range(layer.strides)]
    for part, index in places:
        layer = spec.layer_at(part, index)
        if layer.type != "UpSampling2D":
            candidates += [(part, index, "padding", value) for value in ("same", "valid")]
    for part, index in places:
        layer = spec.layer_at(part, index)
        if layer.has_weights:
            nearest_first = sorted(range(1, 8), key=lambda size: abs(size - layer.kernel_size))
            candidates += [(part, index, "kernel_size", value) for value in nearest_first]
    for part, index, argument, value in candidates:
        layer = spec.layer_at(part, index)
        if getattr(layer, argument) == value:
            continue
        changed_layer = replace(layer, **{argument: value})
        try:
            validate_layer(changed_layer, part, index)  # A change Keras would reject is no fix.
            report = _walk(spec.with_layer(part, index, changed_layer))
        except SpecError:
            continue
        if report.layers[-1].output_shape == INPUT_SHAPE:
            return f"set {argument}={value!r} on {describe_location(part, index)}"
    return None


def _format(shape: Shape) -> str:
    return "x".join(str(size) for size in shape)


def _describe_arguments(layer: LayerSpec) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in layer.to_dict().items() if name != "type")
