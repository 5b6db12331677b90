"""The Layer explorer's widget groups: the input digit, every layer's maps, the layer and channel picked up close.

The pictures and numbers come from `core.explorer`; the maps and weights from the inference worker (through
`core.inference`), never from Keras in this process.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import explorer
from core.inference import LayerWeights
from core.mnist import scale
from core.pixels import enlarge
from ui import canvas, state
from ui.resources import get_mnist

SOURCES = ("Test digit", "Your drawing")
SOURCE_KEY = "explorer_source"
LAYER_KEY = "explorer_layer"
CHANNEL_KEY = "explorer_channel"
PART_TITLES = {"encoder": "Encoder", "decoder": "Decoder: growing back to 28x28", "output": "Output"}


def input_ui() -> tuple[np.ndarray | None, str]:
    """The digit to look through the model with: a test digit, or the Draw page's drawing.

    Returns:
        ((28, 28) float32 in [0, 1], its description), or (None, a hint) when there is no drawing yet.
    """
    state.bring_back(SOURCE_KEY, SOURCES[0])  # Kept through a visit to another page, as the picks below.
    source = st.segmented_control("Input", SOURCES, key=SOURCE_KEY)
    state.keep(SOURCE_KEY)
    if source == "Your drawing":
        image = canvas.last_drawing()
        if image is None:
            return None, "Draw a digit on the Draw page first, or pick a test digit."
        return image, "Your drawing from the Draw page"
    index = canvas.test_digit_ui("explorer")
    mnist = get_mnist()
    return scale(mnist.x_test[index])[..., 0], f"Test digit {index}: a {mnist.y_test[index]}"


def layers_ui(image: np.ndarray, description: str, maps: list[tuple[str, np.ndarray]]) -> None:
    """The input, then every layer's channels in order, each captioned with the layer's name and output shape."""
    flow = " → ".join(["28x28x1", *(explorer.format_shape(values.shape) for _, values in maps)])
    input_column, flow_column = st.columns([1, 5], vertical_alignment="center")
    input_column.image(enlarge(image, 4), caption=description, output_format="PNG")
    flow_column.markdown(f"**Shape flow:** {flow}")
    flow_column.caption(
        "Each layer's channels share one colour scale, from the layer's smallest value (dark purple) to its largest "
        "(yellow), so a channel that barely responds stays dark. Up to 16 channels a row."
    )
    part = None
    for name, values in maps:
        if explorer.layer_part(name) != part:
            part = explorer.layer_part(name)
            st.subheader(PART_TITLES[part], divider="gray")
        st.image(explorer.maps_png(values), caption=explorer.layer_caption(name, values.shape), output_format="PNG")


def layer_picker_ui(maps: list[tuple[str, np.ndarray]]) -> tuple[int, int]:
    """A layer and one of its channels; returns (layer index into `maps`, channel counted from 0)."""
    names = [name for name, _ in maps]
    state.bring_back(LAYER_KEY, names[0])
    state.bring_back(CHANNEL_KEY, 1)
    if st.session_state[LAYER_KEY] not in names:  # A layer of another model.
        st.session_state[LAYER_KEY] = names[0]
    layer_column, channel_column = st.columns([3, 1], vertical_alignment="bottom")
    captions = {name: explorer.layer_caption(name, values.shape) for name, values in maps}
    name = layer_column.selectbox("Layer", names, format_func=captions.get, key=LAYER_KEY)
    index = names.index(name)
    channels = maps[index][1].shape[-1]
    # A channel picked on a wider layer is brought into this layer's range before its widget is drawn.
    st.session_state[CHANNEL_KEY] = min(max(int(st.session_state[CHANNEL_KEY]), 1), channels)
    channel = channel_column.number_input(
        f"Channel (1-{channels})", min_value=1, max_value=channels, step=1, key=CHANNEL_KEY
    )
    state.keep(LAYER_KEY, CHANNEL_KEY)
    return index, int(channel) - 1


def weights_ui(weights: LayerWeights) -> None:
    """The layer's kernels as a grid of small squares, or a note that it has none."""
    if not weights.has_weights:
        st.info(
            f"**{weights.layer}** is a {weights.type} layer: it has no weights. It only moves values around "
            "(keeps the largest of each window, or repeats each value), so there are no kernels to show.",
            icon=":material/info:",
        )
        return
    grid = explorer.kernel_grid(weights)
    kernel_size = weights.kernel.shape[0]
    st.image(
        explorer.kernels_png(grid),
        caption=f"{weights.layer}: {kernel_size}x{kernel_size} kernels, {weights.type}",
        output_format="PNG",
    )
    bias = f" Bias: {explorer.format_range(weights.bias)}." if weights.bias is not None else ""
    st.caption(
        f"{grid.note()} Colours run from blue (-{explorer.format_value(grid.scale)}) through white (0) to red "
        f"(+{explorer.format_value(grid.scale)}), the largest weight shown.{bias}"
    )


def channel_ui(name: str, values: np.ndarray, channel: int) -> None:
    """One channel large, with its value range and the layer's."""
    channels = values.shape[-1]
    image_column, range_column = st.columns([2, 3])
    image_column.image(
        explorer.channel_png(values, channel),
        caption=f"{name} · channel {channel + 1} of {channels} · {explorer.format_shape(values.shape[:2])}",
        output_format="PNG",
    )
    low, high = explorer.value_range(values[..., channel])
    range_column.metric("Channel min", explorer.format_value(low))
    range_column.metric("Channel max", explorer.format_value(high))
    range_column.caption(
        f"Coloured from this channel's min (dark purple) to its max (yellow). The whole layer: "
        f"{explorer.format_range(values)}."
    )
