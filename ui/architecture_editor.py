"""The Build page's layer editors: one row of widgets per layer, a menu to move, copy or remove it, and Add layer.

The draft spec in session state is the only copy of the architecture. A widget click reruns the script, so every
widget writes its change through a callback (which runs before the rerun) and, before each widget is drawn, its
value is set from the spec. Widgets are keyed by place ("build_decoder_2_kernel_size"), so after a move, a removal
or a preset switch in the sidebar every row simply shows the layer now at its place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import streamlit as st

from core import edits
from core.diagram import ShapeFlow, format_shape, location_label
from core.presets import preset
from core.spec import (
    ACTIVATIONS,
    INTERPOLATIONS,
    KERNEL_INITIALIZERS,
    LAYER_TYPES,
    MAX_FILTERS,
    MAX_LAYERS_PER_PART,
    PADDINGS,
    ExperimentSpec,
    Fix,
    LayerSpec,
    SpecError,
    describe_location,
    validate_layer,
)
from ui import state
from ui.sidebar import PRESET_KEY

AUTO = "auto"
MENU_LABELS = {
    "up": ":material/arrow_upward: Move up",
    "down": ":material/arrow_downward: Move down",
    "duplicate": ":material/content_copy: Duplicate",
    "remove": ":material/delete: Remove",
}
# The editor reads like a table: one header per part, then a row of widgets per layer under it. Pooling and
# upsampling rows reuse the kernel and padding columns for their own arguments. Widths are roughly pixels at the
# wide layout, enough for the longest value of each column ("3 · Conv2DTranspose", "leaky_relu").
COLUMNS: list[tuple[str, float]] = [
    ("Layer", 190),
    ("Filters", 96),  # "1024" beside the clear icon that an emptiable box shows.
    ("Kernel", 88),
    ("Stride", 76),
    ("Padding", 92),
    ("Out. pad.", 92),  # "auto" beside the menu arrow.
    ("Activation", 124),
    ("Output", 100),
    ("", 30),
]
WIDTHS = [width for _, width in COLUMNS]
GLOSSARY = f"""
- **Filters**: output channels, the feature maps a convolution learns (1 to {MAX_FILTERS}). Pooling and upsampling keep
  the channels.
- **Kernel**: the square window each filter sees; with padding *valid* a k×k kernel trims k-1 pixels. For
  MaxPooling2D its pool window, for UpSampling2D how many times it repeats rows and columns.
- **Stride**: the window's step. 2 halves the size in a Conv2D or MaxPooling2D and doubles it in a Conv2DTranspose.
- **Padding**: *valid* pads nothing, so the kernel shrinks the size; with *same* only the stride changes it. For
  UpSampling2D this column is its interpolation, *nearest* (copies) or *bilinear* (blends).
- **Out. pad.** (Conv2DTranspose): extra rows and columns on one side of the output, below the stride; *auto* lets
  Keras infer it.
- **Activation**: applied to the output; the output layer needs *sigmoid* for binary cross-entropy.
- :material/more_vert: moves, duplicates or removes a layer. The dilation rate and the kernel initializer of each
  convolution are under *More arguments*.
"""
TYPE, FILTERS, KERNEL, STRIDES, PADDING, OUTPUT_PADDING, ACTIVATION, OUTPUT, MENU = range(len(COLUMNS))
MORE_ARGUMENTS = ("dilation_rate", "kernel_initializer")
# A typed value the editor refused, as (part, index, message): shown once under its row, on the rerun that follows.
REFUSED_KEY = "build_refused"


def base_preset() -> str:
    """The preset picked in the sidebar, which "Reset" goes back to and edited specs are named after."""
    return st.session_state.get(PRESET_KEY, state.DEFAULT_PRESET)


def commit(spec: ExperimentSpec) -> None:
    """Stores an edited architecture, named after its preset ("seed-edited") unless it matches it again."""
    name = base_preset()
    if not edits.same_architecture(spec, preset(name)):
        name = f"{name}-edited"
    state.set_architecture(replace(spec, name=name))


def reset_to_preset() -> None:
    """Callback: the sidebar preset's layers again (the training settings stay as the sidebar has them)."""
    state.set_architecture(preset(base_preset()))


def apply_fix(fix: Fix) -> None:
    """Callback: makes the argument change a `SpecError` suggests."""
    commit(edits.apply_fix(state.current_spec(), fix))


def architecture_editor_ui(spec: ExperimentSpec, flow: ShapeFlow) -> None:
    """The encoder, decoder and output layer editors, with each layer's live output shape and faults marked."""
    fix = flow.problem.fix if flow.problem is not None else None
    refused = st.session_state.pop(REFUSED_KEY, None)
    for part, title in (("encoder", "Encoder"), ("decoder", "Decoder"), ("output", "Output layer")):
        layers = (spec.output,) if part == "output" else getattr(spec, part)
        with st.container(border=True):
            if part == "output":
                st.markdown(f"**{title}** · one channel, back to a 28×28 image", help=GLOSSARY)
            else:
                st.markdown(f"**{title}** · {len(layers)} of at most {MAX_LAYERS_PER_PART} layers", help=GLOSSARY)
            _header()
            places = [(None if part == "output" else index, layer) for index, layer in enumerate(layers)]
            for index, layer in places:
                _layer_row(part, index, layer, len(layers), flow, fix, refused)
            add, more = st.columns([1, 4], vertical_alignment="top")
            if part != "output":
                with add:
                    _add_layer_ui(part, len(layers))
            with more:
                _more_arguments_ui(part, places, flow.problem)


def _header() -> None:
    for cell, (title, _) in zip(st.columns(WIDTHS, gap="small"), COLUMNS, strict=True):
        if title:
            cell.caption(title)


def _key(part: str, index: int | None, argument: str) -> str:
    return f"build_{part}_{'layer' if index is None else index}_{argument}"


def _on_argument(part: str, index: int | None, argument: str, key: str, convert: Callable[[Any], Any]) -> None:
    commit(edits.set_argument(state.current_spec(), part, index, argument, convert(st.session_state[key])))


def _on_filters(part: str, index: int | None, key: str) -> None:
    # An emptied box (None) or a number out of range is refused rather than change the model: the spec keeps its
    # filters, the next run shows them in the box again, and the row says why.
    spec = state.current_spec()
    layer = spec.layer_at(part, index)
    value = st.session_state[key]
    refusal = _filters_refusal(layer, value, part, index)
    if refusal is None:
        commit(edits.set_argument(spec, part, index, "filters", int(value)))
    else:
        st.session_state[REFUSED_KEY] = (part, index, f"{refusal} Kept filters={layer.filters}.")


def _filters_refusal(layer: LayerSpec, value: int | None, part: str, index: int | None) -> str | None:
    if value is None:
        return (
            f"Invalid value for argument `filters` of {describe_location(part, index)}. Expected an integer from 1 "
            f"to {MAX_FILTERS}. Received an empty box."
        )
    try:
        validate_layer(replace(layer, filters=int(value)), part, index)
    except SpecError as error:
        if error.argument == "filters":  # A fault of another argument is the page's to report, as any other.
            return str(error)
    return None


def _on_menu(part: str, index: int, key: str) -> None:
    action = st.session_state.get(key)
    spec = state.current_spec()
    if action == "up":
        commit(edits.move_layer(spec, part, index, -1))
    elif action == "down":
        commit(edits.move_layer(spec, part, index, 1))
    elif action == "duplicate":
        commit(edits.duplicate_layer(spec, part, index))
    elif action == "remove":
        commit(edits.remove_layer(spec, part, index))


def _on_add(part: str, key: str) -> None:
    layer_type = st.session_state.get(key)
    if layer_type in LAYER_TYPES:
        commit(edits.add_layer(state.current_spec(), part, layer_type))


def _choices(values: range, current: Any) -> list[Any]:
    # The current value is always offered, so a spec loaded from elsewhere never falls outside the options.
    return sorted({*values, current}) if isinstance(current, int) else list(values)


def _output_padding_option(value: int | None) -> str:
    return AUTO if value is None else str(value)


def _output_padding_value(option: str) -> int | None:
    return None if option == AUTO else int(option)


def _same(value: Any) -> Any:
    return value


def _square(value: int) -> str:
    return f"{value}×{value}"


def _select(
    part: str,
    index: int | None,
    argument: str,
    options: list[Any] | tuple[Any, ...],
    value: Any,
    *,
    format_func: Callable[[Any], str] = str,
    convert: Callable[[Any], Any] = _same,
) -> None:
    key = _key(part, index, argument)
    st.session_state[key] = value
    st.selectbox(
        f"{location_label(part, index)} {argument}", options, key=key, format_func=format_func,
        on_change=_on_argument, args=(part, index, argument, key, convert),
        label_visibility="collapsed",  # The part's header row names the column.
    )  # fmt: skip


def _layer_row(
    part: str,
    index: int | None,
    layer: LayerSpec,
    count: int,
    flow: ShapeFlow,
    fix: Fix | None,
    refused: tuple[str, int | None, str] | None,
) -> None:
    cells = st.columns(WIDTHS, gap="small", vertical_alignment="center")
    with cells[TYPE]:
        types = edits.OUTPUT_TYPES if part == "output" else LAYER_TYPES
        _select(part, index, "type", types, layer.type, format_func=lambda name: f"{_number(index)}{name}")
    if layer.has_weights:
        _convolution_cells(cells, part, index, layer)
    elif layer.type == "MaxPooling2D":
        with cells[KERNEL]:
            options = _choices(range(1, 5), layer.pool_size)
            _select(part, index, "pool_size", options, layer.pool_size, format_func=_square)
        with cells[STRIDES]:
            _select(part, index, "strides", _choices(range(1, 5), layer.strides), layer.strides)
        with cells[PADDING]:
            _select(part, index, "padding", PADDINGS, layer.padding)
    else:
        with cells[KERNEL]:
            _select(part, index, "size", _choices(range(1, 5), layer.size), layer.size, format_func="×{}".format)
        with cells[PADDING]:
            _select(part, index, "interpolation", INTERPOLATIONS, layer.interpolation)
    with cells[OUTPUT]:
        _output_cell(part, index, flow)
    if index is not None:
        with cells[MENU]:
            _layer_menu(part, index, count)
    _row_notes(part, index, flow.problem, fix, refused)


def _number(index: int | None) -> str:
    return "" if index is None else f"{index + 1} · "


def _convolution_cells(cells: list[Any], part: str, index: int | None, layer: LayerSpec) -> None:
    with cells[FILTERS]:
        key = _key(part, index, "filters")
        st.session_state[key] = layer.filters
        # value=None and no bounds: an emptied box reads None and an out-of-range number reaches `_on_filters`,
        # which refuses both with a note under the row. With value="min", Streamlit read an emptied box as 1 and
        # changed the model unsaid; with min_value and max_value, the browser kept an out-of-range number to itself,
        # in red, half hidden by the narrow box.
        st.number_input(
            f"{location_label(part, index)} filters", value=None, step=1, key=key, disabled=part == "output",
            label_visibility="collapsed",
            help="Always 1 in the output layer: one channel, like the grayscale input." if part == "output" else None,
            on_change=_on_filters, args=(part, index, key),
        )  # fmt: skip
    with cells[KERNEL]:
        options = _choices(range(1, 8), layer.kernel_size)
        _select(part, index, "kernel_size", options, layer.kernel_size, format_func=_square)
    with cells[STRIDES]:
        _select(part, index, "strides", _choices(range(1, 5), layer.strides), layer.strides)
    with cells[PADDING]:
        _select(part, index, "padding", PADDINGS, layer.padding)
    if layer.type == "Conv2DTranspose":
        upper = max(layer.strides, (layer.output_padding or 0) + 1)
        with cells[OUTPUT_PADDING]:
            _select(
                part, index, "output_padding", [AUTO, *map(str, range(upper))],
                _output_padding_option(layer.output_padding), convert=_output_padding_value,
            )  # fmt: skip
    with cells[ACTIVATION]:
        _select(part, index, "activation", ACTIVATIONS, layer.activation)


def _more_arguments_ui(part: str, places: list[tuple[int | None, LayerSpec]], problem: SpecError | None) -> None:
    # Arguments most layers keep at their defaults, out of the way of the main rows. A popover per row would be
    # more compact, but on this page one often closed again on its first click (Streamlit 1.67).
    convolutions = [(index, layer) for index, layer in places if layer.has_weights]
    if not convolutions:
        return
    at_fault = problem is not None and problem.part == part and problem.argument in MORE_ARGUMENTS
    label = "More arguments: dilation rate and kernel initializer" + (" ⚠" if at_fault else "")
    with st.expander(label, expanded=at_fault, icon=":material/tune:"):
        widths = [1.3, 1, 1.6]
        for cell, title in zip(st.columns(widths), ("Layer", "Dilation rate", "Kernel initializer"), strict=True):
            cell.caption(title)
        for index, layer in convolutions:
            name, dilation, initializer = st.columns(widths, vertical_alignment="center")
            name.markdown(f"{_number(index)}{layer.type}")
            with dilation:
                options = _choices(range(1, 5), layer.dilation_rate)
                _select(part, index, "dilation_rate", options, layer.dilation_rate)
            with initializer:
                _select(part, index, "kernel_initializer", KERNEL_INITIALIZERS, layer.kernel_initializer)
        st.caption("A dilation rate above 1 spaces out a kernel's taps (3×3 at rate 2 covers 5×5); it needs stride 1.")


def _output_cell(part: str, index: int | None, flow: ShapeFlow) -> None:
    shapes = flow.shape_at(part, index)
    problem = flow.problem
    at_fault = problem is not None and (problem.part, problem.index) == (part, index)
    if shapes is None:
        st.markdown(":red[:material/warning: ?]" if at_fault else ":gray[?]")  # An earlier layer stops the flow.
    elif at_fault:
        st.markdown(f":red[**{format_shape(shapes.output_shape)}**]")
    else:
        st.markdown(f"**{format_shape(shapes.output_shape)}**")


def _layer_menu(part: str, index: int, count: int) -> None:
    actions = []
    if index > 0:
        actions.append("up")
    if index < count - 1:
        actions.append("down")
    if count < MAX_LAYERS_PER_PART:
        actions.append("duplicate")
    if count > 1:
        actions.append("remove")
    key = _key(part, index, "menu")
    st.menu_button(
        ":material/more_vert:", actions, key=key, format_func=MENU_LABELS.get, type="tertiary",
        help=f"Move, duplicate or remove {location_label(part, index).lower()}.",
        on_click=_on_menu, args=(part, index, key),
    )  # fmt: skip


def _add_layer_ui(part: str, count: int) -> None:
    key = f"build_{part}_add"
    full = count >= MAX_LAYERS_PER_PART
    st.menu_button(
        "Add layer", LAYER_TYPES, key=key, icon=":material/add:", disabled=full, type="tertiary",
        help=f"The {part} is full ({MAX_LAYERS_PER_PART} layers)." if full else
        f"Appends a layer to the {part}. A new convolution uses padding 'same' and stride 1, so it keeps the "
        "shapes; move it with its ⋮ menu.",
        on_click=_on_add, args=(part, key),
    )  # fmt: skip


def _row_notes(
    part: str,
    index: int | None,
    problem: SpecError | None,
    fix: Fix | None,
    refused: tuple[str, int | None, str] | None,
) -> None:
    if refused is not None and refused[:2] == (part, index):
        st.markdown(f":red[:material/block: {refused[2]}]")
    if problem is not None and (problem.part, problem.index) == (part, index):
        if problem.argument is not None:
            st.markdown(f":red[:material/warning: `{problem.argument}` is at fault here: see the message above.]")
        elif part == "output":
            st.markdown(":red[:material/warning: The output must be 28×28×1: see the message above.]")
        else:
            st.markdown(":red[:material/warning: This layer is at fault: see the message above.]")
    if fix is not None and (fix.part, fix.index) == (part, index):
        st.markdown(f":blue[:material/lightbulb: Suggested fix: `{fix.argument}={fix.value!r}` here.]")
