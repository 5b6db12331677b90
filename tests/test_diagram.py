"""The Build page's shape flow: partial flows of invalid specs, the table, the picture and the bottleneck in words."""

from __future__ import annotations

from dataclasses import replace

import plotly.graph_objects as go
import pytest

from core.diagram import (
    BOTTLENECK_OUTLINE,
    FAULT_COLOUR,
    PART_COLOURS,
    ShapeFlow,
    compression_summary,
    describe_layer,
    flow_figure,
    flow_rows,
    format_ratio,
    format_shape,
    location_label,
    shape_flow,
)
from core.edits import remove_layer, set_argument
from core.presets import PRESETS, preset
from core.shapes import infer_shapes
from core.spec import LayerSpec, conv2d, conv2d_transpose, max_pooling2d, up_sampling2d

SEED = preset("seed")
SEED_SHAPES = ["28×28×1", "26×26×32", "24×24×16", "22×22×8", "24×24×8", "26×26×16", "28×28×32", "28×28×1"]


def column(rows: list[dict], name: str) -> list:
    return [row[name] for row in rows]


# --- The flow ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_valid_flow_matches_infer_shapes(name: str) -> None:
    spec = preset(name)
    flow = shape_flow(spec)
    report = infer_shapes(spec)
    assert flow.is_valid and flow.is_complete
    assert flow.layers == report.layers
    assert flow.params == report.params
    assert flow.bottleneck_shape == report.bottleneck_shape
    assert flow.bottleneck_size == report.bottleneck_size


def test_seed_table() -> None:
    rows = flow_rows(shape_flow(SEED))
    assert column(rows, "Layer") == [
        "Input", "Encoder 1", "Encoder 2", "Encoder 3", "Decoder 1", "Decoder 2", "Decoder 3", "Output",
    ]  # fmt: skip
    assert column(rows, "Output shape") == SEED_SHAPES
    assert column(rows, "Params") == [0, 320, 4_624, 1_160, 584, 1_168, 4_640, 289]
    assert sum(column(rows, "Params")) == 12_785
    assert column(rows, "Note") == ["", "", "", "bottleneck", "", "", "", ""]


def test_output_mismatch_marks_the_output_and_the_fix() -> None:
    flow = shape_flow(set_argument(SEED, "decoder", 2, "kernel_size", 4))
    assert flow.is_complete and not flow.is_valid
    assert flow.problem.part == "output"
    assert "Fix: set kernel_size=3 on decoder layer 3." in str(flow.problem)
    rows = flow_rows(flow)
    assert column(rows, "Output shape")[-2:] == ["29×29×32", "29×29×1"]
    assert column(rows, "Note")[-2:] == ["fix: kernel_size", "⚠ not 28×28×1"]


def test_flow_stops_before_a_layer_with_invalid_arguments() -> None:
    # Keras refuses strides > 1 together with dilation_rate > 1: the flow stops at encoder layer 1.
    spec = set_argument(preset("strided"), "encoder", 0, "dilation_rate", 2)
    flow = shape_flow(spec)
    assert flow.layers == () and not flow.is_complete
    assert (flow.problem.part, flow.problem.index, flow.problem.argument) == ("encoder", 0, "dilation_rate")
    assert flow.bottleneck_shape is None and flow.bottleneck_size is None
    rows = flow_rows(flow)
    assert column(rows, "Output shape") == ["28×28×1", *["?"] * 6]
    assert rows[1]["Note"] == "⚠ dilation_rate · fix: strides"
    assert rows[2]["Params"] is None


def test_flow_stops_at_an_empty_output_and_keeps_the_shapes_before_it() -> None:
    spec = set_argument(SEED, "encoder", 2, "kernel_size", 25)  # 24x24 input, 25x25 kernel: nothing left.
    flow = shape_flow(spec)
    assert [format_shape(layer.output_shape) for layer in flow.layers] == ["26×26×32", "24×24×16"]
    assert (flow.problem.part, flow.problem.index) == ("encoder", 2)
    assert flow.shape_at("encoder", 1).params == 4_624
    assert flow.shape_at("encoder", 2) is None
    assert flow_rows(flow)[3]["Note"].startswith("⚠ kernel_size")


def test_training_problems_mark_no_layer() -> None:
    spec = SEED.with_training(loss="mse", learning_rate=2.0)
    flow = shape_flow(spec)
    assert flow.problem.part == "training" and flow.is_complete
    assert column(flow_rows(flow), "Note") == ["", "", "", "bottleneck", "", "", "", ""]


# --- Words -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (
            (22, 22, 8),
            "The bottleneck, 22×22×8 = 3,872 values, is larger than the 784-pixel input: the code is 4.9× larger "
            "than the image. This autoencoder does not compress; it learns a smooth overcomplete map from image to "
            "image.",
        ),
        (
            (7, 7, 8),
            "The bottleneck, 7×7×8 = 392 values, for 784 input pixels: 2.0× compression. The decoder must rebuild "
            "each digit from this smaller code.",
        ),
        (
            (14, 14, 4),
            "The bottleneck, 14×14×4 = 784 values, holds exactly as many values as the 784-pixel input: "
            "no compression.",
        ),
    ],
)
def test_compression_summary(shape: tuple[int, int, int], expected: str) -> None:
    assert compression_summary(shape) == expected


@pytest.mark.parametrize(("ratio", "text"), [(2.0, "2.0×"), (784 / 3872, "0.20×"), (1.0, "1.0×"), (16.0, "16.0×")])
def test_format_ratio(ratio: float, text: str) -> None:
    assert format_ratio(ratio) == text


@pytest.mark.parametrize(
    ("layer", "text"),
    [
        (conv2d(32), "32 filters · 3×3 · valid · relu"),
        (conv2d(1, activation="sigmoid", padding="same"), "1 filter · 3×3 · same · sigmoid"),
        (
            conv2d_transpose(16, strides=2, padding="same", output_padding=1),
            "16 filters · 3×3 · stride 2 · same · output padding 1 · relu",
        ),
        (conv2d(8, dilation_rate=2), "8 filters · 3×3 · dilation 2 · valid · relu"),
        (max_pooling2d(2), "2×2 · stride 2 · valid"),
        (up_sampling2d(2, interpolation="bilinear"), "×2 · bilinear"),
    ],
)
def test_describe_layer(layer: LayerSpec, text: str) -> None:
    assert describe_layer(layer) == text


def test_location_label() -> None:
    assert [location_label(part, index) for part, index, _ in SEED.layers()] == [
        "Encoder 1", "Encoder 2", "Encoder 3", "Decoder 1", "Decoder 2", "Decoder 3", "Output",
    ]  # fmt: skip


# --- The picture -------------------------------------------------------------------------------------------


def blocks(figure: go.Figure) -> list[go.Scatter]:
    return [trace for trace in figure.data if trace.fill == "toself"]


def annotation_texts(figure: go.Figure) -> list[str]:
    return [annotation.text for annotation in figure.layout.annotations]


def test_seed_picture() -> None:
    figure = flow_figure(shape_flow(SEED))
    traces = blocks(figure)
    assert len(traces) == 8  # The input and seven layers.
    texts = annotation_texts(figure)
    for shape in SEED_SHAPES:
        assert f"<b>{shape}</b>" in texts
    assert "bottleneck" in texts and "<b>Encoder</b>" in texts and "<b>Decoder</b>" in texts
    colours = [trace.fillcolor for trace in traces]
    assert colours == [PART_COLOURS[part] for part in ("input", *["encoder"] * 3, *["decoder"] * 3, "output")]
    assert traces[3].line.color == BOTTLENECK_OUTLINE
    assert "1,160 parameters" in traces[3].text
    # Height follows the spatial size: the 28x28 input is taller than the 22x22 bottleneck.
    heights = [max(trace.y) - min(trace.y) for trace in traces]
    assert heights[0] == pytest.approx(1.0) and heights[3] == pytest.approx(22 / 28)
    # Width grows with the channels: 32 channels are wider than 8, and 8 wider than 1.
    widths = [max(trace.x) - min(trace.x) for trace in traces]
    assert widths[1] > widths[3] > widths[0]


def test_picture_marks_the_fault_and_the_unknown_shapes() -> None:
    figure = flow_figure(shape_flow(set_argument(preset("strided"), "encoder", 1, "dilation_rate", 2)))
    traces = blocks(figure)
    assert traces[1].fillcolor == PART_COLOURS["encoder"]
    assert traces[2].line.color == FAULT_COLOUR and traces[2].line.dash == "dot"
    assert all(trace.line.dash == "dot" for trace in traces[2:])
    assert annotation_texts(figure).count("<b>?</b>") == 5


def test_picture_of_a_wrong_output_shape_is_red_at_the_output() -> None:
    figure = flow_figure(shape_flow(remove_layer(SEED, "decoder", 2)))
    traces = blocks(figure)
    assert traces[-1].fillcolor == FAULT_COLOUR
    assert "<b>26×26×1</b>" in annotation_texts(figure)
    assert all(trace.fillcolor != FAULT_COLOUR for trace in traces[:-1])


def test_flow_of_a_spec_with_a_pooling_encoder() -> None:
    spec = replace(
        SEED,
        encoder=(conv2d(16, padding="same"), max_pooling2d(2)),
        decoder=(up_sampling2d(2), conv2d(16, padding="same")),
    )
    flow = shape_flow(spec)
    assert isinstance(flow, ShapeFlow) and flow.is_valid
    assert column(flow_rows(flow), "Output shape") == ["28×28×1", "28×28×16", "14×14×16", "28×28×16", "28×28×16",
                                                        "28×28×1"]  # fmt: skip
    assert flow.bottleneck_size == 14 * 14 * 16
