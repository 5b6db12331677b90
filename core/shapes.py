"""Shape inference in plain Python, exactly as Keras computes it, for instant feedback without TensorFlow.

`walk_shapes` goes through a spec layer by layer from the 28x28x1 input, and `infer_shapes` collects every output
shape and parameter count. Both stop with a `SpecError` naming the layer at fault when a layer cannot be built
(an invalid argument, or an output that would be empty). Whether the model's output is 28x28x1 again, and which
change would make it so, is decided by `core.validation`, which imports this module (never the reverse).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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


def walk_shapes(spec: ExperimentSpec) -> Iterator[LayerShape]:
    """Each layer's shapes and parameters in order, from the input on: encoder, decoder, then output.

    A generator, so a caller that draws the flow of an invalid spec keeps the layers before the one at fault.

    Args:
        spec: any spec; each layer's arguments are checked (`core.spec.validate_layer`) before its shapes.

    Yields:
        One `LayerShape` per layer.

    Raises:
        SpecError: at the first layer whose arguments are invalid or whose output would be empty.
    """
    current: Shape = INPUT_SHAPE
    for part, index, layer in spec.layers():
        validate_layer(layer, part, index)  # The formulas below assume valid arguments.
        output = layer_output_shape(layer, current)
        if min(output[:2]) < 1:
            raise SpecError(
                f"Invalid {describe_location(part, index)} ({layer.type}): its input is "
                f"{describe_shape(current)} and its output would be {output[0]}x{output[1]}, which is empty. "
                f"Received {_describe_arguments(layer)}.",
                part=part,
                index=index,
                argument="kernel_size" if layer.type != "MaxPooling2D" else "pool_size",
            )
        yield LayerShape(part, index, layer.type, current, output, layer_params(layer, current[2]))
        current = output


def infer_shapes(spec: ExperimentSpec) -> ShapeReport:
    """Every layer's output shape and parameters, as `walk_shapes` finds them.

    This does not check that the output is 28x28x1: `core.validation.validate` does, and suggests a fix.

    Returns:
        A `ShapeReport` with one `LayerShape` per layer: encoder, decoder, then output.

    Raises:
        SpecError: if a layer's arguments are invalid or its output would be empty, naming the layer.
    """
    return ShapeReport(tuple(walk_shapes(spec)))


def describe_shape(shape: Shape) -> str:
    """A shape as error messages and generated code write it: (22, 22, 8) -> "22x22x8"."""
    return "x".join(str(size) for size in shape)


def _describe_arguments(layer: LayerSpec) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in layer.to_dict().items() if name != "type")
