"""Edits to an architecture as pure functions: add, remove, move, duplicate and change layers; apply a fix.

Every function takes an `ExperimentSpec` and returns a new one (specs are frozen), so the Build page's buttons
are one call each and the same edits can be tested, scripted or undone by keeping the old spec. Places are
named as in `SpecError`: part "encoder", "decoder" or "output", and a zero-based index (None for the output).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.spec import (
    LAYER_ARGUMENTS,
    LAYER_TYPES,
    MAX_LAYERS_PER_PART,
    ExperimentSpec,
    Fix,
    LayerSpec,
    SpecError,
    describe_location,
)

PARTS = ("encoder", "decoder")
OUTPUT_TYPES = ("Conv2D", "Conv2DTranspose")
DEFAULT_FILTERS = 16


def new_layer(layer_type: str, channels: int = DEFAULT_FILTERS) -> LayerSpec:
    """A layer to add, chosen to keep the shape flow intact where it can.

    Convolutions get `padding="same"` and stride 1, which keeps the spatial size, so adding one never breaks
    a valid architecture. Pooling and upsampling change the size by their nature (halve and double it).

    Args:
        layer_type: one of `LAYER_TYPES`.
        channels: the filters for a convolution, usually the channel count where it is inserted.

    Returns:
        The new layer.

    Raises:
        SpecError: for an unknown `layer_type`.
    """
    _check_type(layer_type, LAYER_TYPES)
    if layer_type in ("Conv2D", "Conv2DTranspose"):
        return LayerSpec(type=layer_type, filters=channels, kernel_size=3, padding="same")
    if layer_type == "MaxPooling2D":
        return LayerSpec(type="MaxPooling2D", pool_size=2, strides=2)
    return LayerSpec(type="UpSampling2D", size=2)


def change_type(layer: LayerSpec, layer_type: str) -> LayerSpec:
    """The layer as another type, keeping every argument the two types share.

    Args:
        layer: the layer to change.
        layer_type: one of `LAYER_TYPES`.

    Returns:
        The changed layer. A new convolution keeps the kernel, strides and padding and gets `DEFAULT_FILTERS`
        filters if the old layer had none; a new MaxPooling2D pools with strides equal to its pool size, as
        Keras' default does; a Conv2D drops any `output_padding`, which only Conv2DTranspose takes.

    Raises:
        SpecError: for an unknown `layer_type`.
    """
    _check_type(layer_type, LAYER_TYPES)
    if layer_type == layer.type:
        return layer
    changes: dict[str, Any] = {"type": layer_type}
    if layer_type in ("Conv2D", "Conv2DTranspose") and layer.filters is None:
        changes["filters"] = DEFAULT_FILTERS
    if layer_type != "Conv2DTranspose":
        changes["output_padding"] = None
    if layer_type == "MaxPooling2D":
        changes["strides"] = layer.pool_size
    if layer.type == "MaxPooling2D" and layer_type != "MaxPooling2D":
        changes["strides"] = 1  # A pooling stride would silently shrink the new convolution's output.
    return replace(layer, **changes)


def set_argument(spec: ExperimentSpec, part: str, index: int | None, argument: str, value: Any) -> ExperimentSpec:
    """The spec with one argument of one layer changed; `argument="type"` changes the layer's type.

    Values are not checked here: `core.validation.validate` reports a bad value at its layer and argument, which
    is how the Build page shows it.

    Raises:
        SpecError: if there is no such place, or the layer's type does not take `argument`.
    """
    layer = spec.layer_at(part, index)
    if argument == "type":
        if part == "output":
            _check_type(value, OUTPUT_TYPES, "output layer")
        return spec.with_layer(part, index, change_type(layer, value))
    if argument not in LAYER_ARGUMENTS[layer.type]:
        raise SpecError(
            f"Unrecognized argument `{argument}` for {describe_location(part, index)} ({layer.type}). "
            f"Expected only: {', '.join(LAYER_ARGUMENTS[layer.type])}.",
            part=part,
            index=index,
            argument=argument,
        )
    return spec.with_layer(part, index, replace(layer, **{argument: value}))


def add_layer(spec: ExperimentSpec, part: str, layer_type: str) -> ExperimentSpec:
    """The spec with a new layer (see `new_layer`) at the end of the encoder or decoder.

    A new convolution takes as many filters as the channels arriving where it is added, so it changes neither
    the shape nor, much, the model's size.

    Raises:
        SpecError: for an unknown part or type, or when the part already holds `MAX_LAYERS_PER_PART` layers.
    """
    layers = _layers(spec, part)
    if len(layers) >= MAX_LAYERS_PER_PART:
        raise SpecError(
            f"Invalid {part}. Expected at most {MAX_LAYERS_PER_PART} layers. Received {len(layers) + 1}.",
            part=part,
        )
    layer = new_layer(layer_type, _channels_before(spec, part, len(layers)))
    return replace(spec, **{part: (*layers, layer)})


def duplicate_layer(spec: ExperimentSpec, part: str, index: int) -> ExperimentSpec:
    """The spec with a copy of one layer inserted right after it.

    Raises:
        SpecError: for no such layer, or when the part is full.
    """
    layers = list(_layers(spec, part))
    layer = spec.layer_at(part, index)
    if len(layers) >= MAX_LAYERS_PER_PART:
        raise SpecError(
            f"Invalid {part}. Expected at most {MAX_LAYERS_PER_PART} layers. Received {len(layers) + 1}.",
            part=part,
        )
    layers.insert(index + 1, layer)
    return replace(spec, **{part: tuple(layers)})


def remove_layer(spec: ExperimentSpec, part: str, index: int) -> ExperimentSpec:
    """The spec without one layer of the encoder or decoder.

    Raises:
        SpecError: for no such layer, or if it is the part's only layer (each part needs one).
    """
    layers = list(_layers(spec, part))
    spec.layer_at(part, index)
    if len(layers) == 1:
        raise SpecError(
            f"Invalid {part}. Expected at least one layer. Removing {describe_location(part, index)} would empty it.",
            part=part,
            index=index,
            hint=f"add another layer to the {part} first",
        )
    del layers[index]
    return replace(spec, **{part: tuple(layers)})


def move_layer(spec: ExperimentSpec, part: str, index: int, offset: int) -> ExperimentSpec:
    """The spec with one layer moved `offset` places within its part (-1: up, 1: down).

    Raises:
        SpecError: for no such layer, or a move past either end of the part.
    """
    layers = list(_layers(spec, part))
    layer = spec.layer_at(part, index)
    target = index + offset
    if not 0 <= target < len(layers):
        raise SpecError(
            f"Invalid move of {describe_location(part, index)} by {offset}. Expected a place from 1 to "
            f"{len(layers)} in the {part}. Received place {target + 1}.",
            part=part,
            index=index,
        )
    del layers[index]
    layers.insert(target, layer)
    return replace(spec, **{part: tuple(layers)})


def same_architecture(first: ExperimentSpec, second: ExperimentSpec) -> bool:
    """Whether two specs have the same layers, whatever their names and training settings."""
    return (first.encoder, first.decoder, first.output) == (second.encoder, second.decoder, second.output)


def apply_fix(spec: ExperimentSpec, fix: Fix) -> ExperimentSpec:
    """The spec with the argument change of `fix` (a `SpecError.fix`) made.

    Raises:
        SpecError: if the fix names no layer of the spec or an argument its type does not take.
    """
    return set_argument(spec, fix.part, fix.index, fix.argument, fix.value)


def _check_type(layer_type: Any, allowed: tuple[str, ...], where: str = "a layer") -> None:
    if layer_type not in allowed:
        raise SpecError(
            f"Invalid value for argument `type` of {where}. Expected one of {list(allowed)}. "
            f"Received type={layer_type!r}.",
            argument="type",
        )


def _layers(spec: ExperimentSpec, part: str) -> tuple[LayerSpec, ...]:
    if part not in PARTS:
        raise SpecError(f"Invalid part. Expected one of {list(PARTS)}. Received part={part!r}.", part=part)
    return getattr(spec, part)


def _channels_before(spec: ExperimentSpec, part: str, index: int) -> int:
    # The last convolution before the place decides the channels there; pooling and upsampling keep them. At
    # the very start the input has one channel, too few for a useful first layer, so take the default.
    previous = spec.encoder[:index] if part == "encoder" else (*spec.encoder, *spec.decoder[:index])
    for layer in reversed(previous):
        if layer.has_weights:
            return layer.filters
    return DEFAULT_FILTERS
