"""The shape flow of an architecture as the Build page shows it: a table, a picture and the bottleneck in words.

`shape_flow` walks a spec as far as it can, so an invalid architecture still shows every shape up to the layer at
fault. The picture is a Plotly figure: one block per layer, its height the spatial size and its width the channel
count, encoder and decoder in their own colours. Nothing here imports TensorFlow or Streamlit.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from core.backends import DEFAULT_BACKEND
from core.shapes import LayerShape, Shape, walk_shapes
from core.spec import INPUT_SHAPE, ExperimentSpec, LayerSpec, SpecError
from core.validation import spec_problem

INPUT_VALUES = math.prod(INPUT_SHAPE)
PART_COLOURS = {"input": "#8a96a8", "encoder": "#4c78a8", "decoder": "#f58518", "output": "#8a96a8"}
FAULT_COLOUR = "#e45756"
BOTTLENECK_OUTLINE = "#b8860b"


@dataclass(frozen=True)
class ShapeFlow:
    """Every layer of a spec with the shapes known so far, and the spec's first problem, if any."""

    places: tuple[tuple[str, int | None, LayerSpec], ...]  # Every layer as (part, index, layer), in order.
    layers: tuple[LayerShape, ...]  # The shapes of the first layers, up to the one that cannot be computed.
    problem: SpecError | None

    @property
    def is_valid(self) -> bool:
        return self.problem is None

    @property
    def params(self) -> int:
        """Parameters of the layers whose shapes are known (all of them when the flow is complete)."""
        return sum(layer.params for layer in self.layers)

    @property
    def is_complete(self) -> bool:
        return len(self.layers) == len(self.places)

    @property
    def bottleneck_shape(self) -> Shape | None:
        """The encoder's output, or None if the flow stops inside the encoder."""
        encoder = [layer for layer in self.layers if layer.part == "encoder"]
        encoder_size = sum(1 for part, _, _ in self.places if part == "encoder")
        return encoder[-1].output_shape if encoder and len(encoder) == encoder_size else None

    @property
    def bottleneck_size(self) -> int | None:
        """Values in the code (height × width × channels of the bottleneck), or None if the flow stops before it."""
        shape = self.bottleneck_shape
        return math.prod(shape) if shape else None

    def shape_at(self, part: str, index: int | None) -> LayerShape | None:
        """The shapes of the layer at a place, if the flow reached it."""
        for layer in self.layers:
            if (layer.part, layer.index) == (part, index):
                return layer
        return None


def shape_flow(spec: ExperimentSpec, backend: str = DEFAULT_BACKEND) -> ShapeFlow:
    """Validates `spec` and computes the shapes of as many layers as can be computed, from the input on.

    Args:
        spec: any spec, valid or not.
        backend: the Keras backend it would train on, whose own rules apply (`core.validation`).

    Returns:
        A `ShapeFlow`. For a valid spec every layer has its shapes; otherwise the flow stops before the first
        layer whose arguments are invalid or whose output would be empty, and `problem` holds the error that
        `core.validation.validate` raises.
    """
    shapes: list[LayerShape] = []
    # The walk stops with an error at the first layer it cannot compute; `problem` already says what is wrong.
    with contextlib.suppress(SpecError):
        for layer_shape in walk_shapes(spec):
            shapes.append(layer_shape)
    return ShapeFlow(tuple(spec.layers()), tuple(shapes), spec_problem(spec, backend))


def format_shape(shape: Shape) -> str:
    """A shape as people write it: (26, 26, 32) -> "26×26×32"."""
    return "×".join(str(size) for size in shape)


def format_ratio(ratio: float) -> str:
    """A compression ratio to two significant digits: 2.0 -> "2.0×", 0.2025 -> "0.20×"."""
    return f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2f}×"


def compression_summary(bottleneck_shape: Shape) -> str:
    """The bottleneck in plain words: how many values the code holds against the 784 input pixels.

    Args:
        bottleneck_shape: the encoder's output shape.

    Returns:
        One or two sentences; when the code is larger than the image they say that the model does not compress.
    """
    values = math.prod(bottleneck_shape)
    code = f"{format_shape(bottleneck_shape)} = {values:,} values"
    if values > INPUT_VALUES:
        return (
            f"The bottleneck, {code}, is larger than the {INPUT_VALUES}-pixel input: the code is "
            f"{values / INPUT_VALUES:.1f}× larger than the image. This autoencoder does not compress; it learns a "
            "smooth overcomplete map from image to image."
        )
    if values == INPUT_VALUES:
        return (
            f"The bottleneck, {code}, holds exactly as many values as the {INPUT_VALUES}-pixel input: no compression."
        )
    return (
        f"The bottleneck, {code}, for {INPUT_VALUES} input pixels: {INPUT_VALUES / values:.1f}× compression. "
        "The decoder must rebuild each digit from this smaller code."
    )


def location_label(part: str, index: int | None) -> str:
    """A layer's short name in tables and pictures: "Encoder 1", "Decoder 3", "Output"."""
    return "Output" if index is None else f"{part.capitalize()} {index + 1}"


def describe_layer(layer: LayerSpec) -> str:
    """A layer's arguments in a few words: "32 filters · 3×3 · stride 2 · same · relu"."""
    if layer.type == "UpSampling2D":
        return f"×{layer.size} · {layer.interpolation}"
    if layer.type == "MaxPooling2D":
        return f"{layer.pool_size}×{layer.pool_size} · stride {layer.strides} · {layer.padding}"
    words = [f"{layer.filters} filter{'s' if layer.filters != 1 else ''}", f"{layer.kernel_size}×{layer.kernel_size}"]
    if layer.strides != 1:
        words.append(f"stride {layer.strides}")
    if layer.dilation_rate != 1:
        words.append(f"dilation {layer.dilation_rate}")
    words.append(layer.padding)
    if layer.type == "Conv2DTranspose" and layer.output_padding is not None:
        words.append(f"output padding {layer.output_padding}")
    words.append(layer.activation)
    return " · ".join(words)


def flow_rows(flow: ShapeFlow) -> list[dict[str, Any]]:
    """The shape table: the input, then one row per layer with its output shape, values, parameters and a note.

    The note marks the bottleneck, the layer at fault ("⚠ kernel_size", or "⚠ not 28×28×1" at the output) and the
    layer a suggested fix changes ("fix: output_padding"). Layers the flow did not reach show "?" for their shape.
    """
    problem = flow.problem
    fix = problem.fix if problem is not None else None
    bottleneck = flow.bottleneck_shape
    last_encoder = max((index for part, index, _ in flow.places if part == "encoder"), default=None)
    rows = [_row("Input", "image", INPUT_SHAPE, 0, "")]
    for part, index, layer in flow.places:
        shapes = flow.shape_at(part, index)
        notes = []
        if part == "encoder" and index == last_encoder and bottleneck is not None:
            notes.append("bottleneck")
        if problem is not None and (problem.part, problem.index) == (part, index):
            if problem.argument is not None:
                notes.append(f"⚠ {problem.argument}")
            elif shapes is not None and shapes.output_shape != INPUT_SHAPE:
                notes.append(f"⚠ not {format_shape(INPUT_SHAPE)}")
            else:
                notes.append("⚠")
        if fix is not None and (fix.part, fix.index) == (part, index):
            notes.append(f"fix: {fix.argument}")
        rows.append(
            _row(
                location_label(part, index),
                layer.type,
                shapes.output_shape if shapes else None,
                shapes.params if shapes else None,
                " · ".join(notes),
            )
        )
    return rows


def flow_figure(flow: ShapeFlow) -> go.Figure:
    """The shape flow as blocks from left to right: the input, each layer, the output.

    A block's height is its spatial size and its width grows with the logarithm of its channels. The encoder is
    blue, the decoder orange, the input and output grey; the bottleneck has a gold outline, the layer at fault is
    red, and layers after it, whose shapes are unknown, are dotted outlines.

    Args:
        flow: from `shape_flow`.

    Returns:
        A Plotly figure with hover text on every block.
    """
    known = [INPUT_SHAPE, *(layer.output_shape for layer in flow.layers)]
    tallest = max(max(shape[0] for shape in known), INPUT_SHAPE[0])
    widest = max(max(shape[2] for shape in known), 2)
    problem = flow.problem
    bottleneck_index = max(
        (position for position, (part, _, _) in enumerate(flow.places) if part == "encoder"), default=-1
    )
    # Built as plain lists and handed to the figure once: each `add_annotation` re-validates every annotation
    # before it, which made drawing this figure half of the Build page's time.
    traces: list[go.Scatter] = []
    annotations: list[dict[str, Any]] = []
    bands: list[dict[str, Any]] = []
    nodes: list[tuple[str, str, Shape | None, str]] = [("input", "Input", INPUT_SHAPE, "The input: a 28×28 digit.")]
    for part, index, layer in flow.places:
        shapes = flow.shape_at(part, index)
        hover = f"<b>{location_label(part, index)}</b> · {layer.type}<br>{describe_layer(layer)}"
        if shapes is not None:
            hover += (
                f"<br>{format_shape(shapes.input_shape)} → {format_shape(shapes.output_shape)}"
                f"<br>{shapes.params:,} parameters"
            )
        nodes.append((part, location_label(part, index), shapes.output_shape if shapes else None, hover))

    for position, (part, label, shape, hover) in enumerate(nodes):
        at_fault = problem is not None and position > 0 and _is_fault(flow, position - 1)
        if shape is None:
            height, width = 0.35, 0.3
            fill, line, dash = "rgba(0,0,0,0)", FAULT_COLOUR if at_fault else "#9aa5b1", "dot"
            caption = "?"
        else:
            height = max(shape[0] / tallest, 0.05)
            width = 0.16 + 0.5 * math.log2(max(shape[2], 1)) / math.log2(widest)
            fill = FAULT_COLOUR if at_fault else PART_COLOURS[part]
            line, dash = fill, "solid"
            caption = format_shape(shape)
        is_bottleneck = position - 1 == bottleneck_index and shape is not None
        if is_bottleneck and not at_fault:
            line = BOTTLENECK_OUTLINE
        left, right, bottom, top = position - width / 2, position + width / 2, -height / 2, height / 2
        traces.append(
            go.Scatter(
                x=[left, right, right, left, left],
                y=[bottom, bottom, top, top, bottom],
                fill="toself",
                fillcolor=fill,
                line={"color": line, "width": 3 if is_bottleneck else 1.5, "dash": dash},
                mode="lines",
                hoveron="fills",
                hoverinfo="text",
                text=hover,
                showlegend=False,
            )
        )
        annotations.append(dict(x=position, y=top + 0.04, text=f"<b>{caption}</b>", showarrow=False,
                                yanchor="bottom", font={"size": 11}))  # fmt: skip
        annotations.append(dict(x=position, y=-0.6, text=label, showarrow=False, yanchor="top", font={"size": 11}))
        if is_bottleneck:
            annotations.append(dict(
                x=position, y=bottom - 0.03, text="bottleneck", showarrow=False, yanchor="top",
                font={"color": BOTTLENECK_OUTLINE, "size": 11},
            ))  # fmt: skip
        if position > 0:
            annotations.append(dict(
                x=position - 0.5 + 0.08, y=0, ax=position - 1 + 0.5 - 0.08, ay=0, xref="x", yref="y", axref="x",
                ayref="y", showarrow=True, arrowhead=2, arrowsize=1, arrowwidth=1, arrowcolor="#9aa5b1", text="",
            ))  # fmt: skip

    for part, label in (("encoder", "Encoder"), ("decoder", "Decoder")):
        shaded = _part_shading(flow, part, label)
        if shaded is not None:
            bands.append(shaded[0])
            annotations.append(shaded[1])
    figure = go.Figure(data=traces, layout={"annotations": annotations, "shapes": bands})
    figure.update_xaxes(visible=False, range=[-0.6, len(nodes) - 0.4], fixedrange=True)
    figure.update_yaxes(visible=False, range=[-0.95, 0.85], fixedrange=True)
    figure.update_layout(height=330, margin={"l": 0, "r": 0, "t": 10, "b": 0}, hovermode="closest")
    return figure


def _row(layer: str, layer_type: str, shape: Shape | None, params: int | None, note: str) -> dict[str, Any]:
    return {
        "Layer": layer,
        "Type": layer_type,
        "Output shape": format_shape(shape) if shape else "?",
        "Params": params,
        "Note": note,
    }


def _is_fault(flow: ShapeFlow, position: int) -> bool:
    part, index, _ = flow.places[position]
    problem = flow.problem
    if problem is None or (problem.part, problem.index) != (part, index):
        return False
    if part == "output" and problem.argument is None:
        # A shape mismatch is reported at the output, whose shape shows it; a fix elsewhere may cure it.
        shapes = flow.shape_at(part, index)
        return shapes is None or shapes.output_shape != INPUT_SHAPE
    return True


def _part_shading(flow: ShapeFlow, part: str, label: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The shaded band behind a part's blocks and its title, or None for a part with no layers."""
    # The output layer belongs to the decoder sub-model, as in the generated Keras code.
    members = [part] if part == "encoder" else ["decoder", "output"]
    positions = [position + 1 for position, (name, _, _) in enumerate(flow.places) if name in members]
    if not positions:
        return None
    colour = PART_COLOURS[part]
    band = dict(type="rect", x0=min(positions) - 0.48, x1=max(positions) + 0.48, y0=-0.92, y1=0.82,
                line={"width": 0}, fillcolor=colour, opacity=0.08, layer="below")  # fmt: skip
    title = dict(x=(min(positions) + max(positions)) / 2, y=0.8, text=f"<b>{label}</b>", showarrow=False,
                 yanchor="top", font={"color": colour, "size": 13})  # fmt: skip
    return band, title
