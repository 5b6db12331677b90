"""The widget groups of the Conv2DTranspose page: its settings, the editable example, the scatter walk, the two
other ways to the same (and to a different) result, and the button that uses the settings in the draft's decoder.

A widget change reruns the page from the top, and every grid is recomputed from the example in NumPy (microseconds),
so nothing here is cached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import edits
from core.backends import default_backend
from core.diagram import describe_layer
from core.grid_chart import format_value, grid_figure
from core.spec import PADDINGS, describe_location
from core.transposed import (
    DILATION_RATES,
    INPUT_SIZES,
    KERNEL_SIZES,
    STRIDES,
    OutputSize,
    ScatterStep,
    TransposeSettings,
    upsampling_conv,
    zero_insertion,
)
from core.validation import spec_problem
from ui import state
from ui.architecture_editor import commit

STEP_KEY = "transposed_step"
OUTCOME_KEY = "transposed_apply_outcome"
OUTPUT_PADDINGS = ("None", "0", "1", "2")  # Text: a selectbox shows a None option as no choice at all.
SETTING_DEFAULTS = {
    "transposed_input_size": INPUT_SIZES[0],
    "transposed_kernel_size": 3,
    "transposed_strides": 2,
    "transposed_padding": PADDINGS[0],
    "transposed_output_padding": OUTPUT_PADDINGS[0],
    "transposed_dilation_rate": DILATION_RATES[0],
}
DEFAULT_KERNELS = {
    2: [[1, 0], [2, 1]],
    3: [[1, 0, 2], [0, 1, 0], [1, 0, 1]],  # Not symmetric, so the flipped kernel below looks different.
    4: [[1, 0, 0, 2], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]],
}


def settings_ui() -> tuple[int, int, TransposeSettings]:
    """The example's sizes and the layer's arguments, in one row.

    Returns:
        (input size, kernel size, settings); any combination, valid for Keras or not.
    """
    state.bring_back_all(SETTING_DEFAULTS)  # Kept through a visit to another page.
    columns = st.columns(6)
    input_size = columns[0].selectbox("Input size", INPUT_SIZES, format_func=_square, key="transposed_input_size")
    kernel_size = columns[1].selectbox("Kernel size", KERNEL_SIZES, format_func=_square, key="transposed_kernel_size")
    strides = columns[2].selectbox("Strides", STRIDES, key="transposed_strides")
    padding = columns[3].selectbox("Padding", PADDINGS, key="transposed_padding")
    output_padding = columns[4].selectbox(
        "Output padding", OUTPUT_PADDINGS, key="transposed_output_padding",
        help="Extra rows and columns at the bottom and right, fewer than `strides`. None lets Keras infer it.",
    )  # fmt: skip
    dilation_rate = columns[5].selectbox("Dilation rate", DILATION_RATES, key="transposed_dilation_rate")
    state.keep(*SETTING_DEFAULTS)
    output_padding = None if output_padding == "None" else int(output_padding)
    return input_size, kernel_size, TransposeSettings(strides, padding, output_padding, dilation_rate)


def example_ui(input_size: int, kernel_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The input and the kernel as editable tables, side by side.

    Each size has its own editor (a key per size), so switching sizes back, or coming back from another page,
    finds the values typed before.

    Returns:
        (inputs, kernel) as float arrays; an emptied cell is NaN, which `core.transposed` refuses with a message.
    """
    default_input = np.arange(1, input_size * input_size + 1).reshape(input_size, input_size)
    editors = st.columns(2)
    with editors[0]:
        st.markdown("**Input** · one channel, edit any value")
        inputs = _grid_editor(default_input, f"transposed_input_{input_size}")
    with editors[1]:
        st.markdown("**Kernel** · as Keras stores it, `kernel[:, :, 0, 0]`")
        kernel = _grid_editor(np.array(DEFAULT_KERNELS[kernel_size]), f"transposed_kernel_{kernel_size}")
    return inputs, kernel


def output_size_ui(size: OutputSize, settings: TransposeSettings) -> None:
    """The output size beside the rule that gives it, numbers filled in."""
    metric, rule = st.columns([1, 3], vertical_alignment="center")
    metric.metric("Output size", f"{size.length}×{size.length}", border=True)
    rule.code(
        f"k_eff = {size.effective_formula}\n      = {size.effective_filled} = {size.effective_kernel}\n"
        f"out   = {size.formula}\n      = {size.filled} = {size.length}",
        language=None,
    )
    rule.caption(
        f"The rule for padding='{settings.padding}' and output_padding={settings.output_padding}, on each side: the "
        "same one the Build page uses for every Conv2DTranspose."
    )


def scatter_ui(inputs: np.ndarray, steps: list[ScatterStep]) -> None:
    """The slider through the scatter: the input value, what it adds where, and the sum so far."""
    st.subheader("The scatter, one input value at a time")
    state.bring_back(STEP_KEY, 1)
    # Set on every run, not only to clamp it to a smaller input's fewer steps: a slider whose range changed is a new
    # widget to Streamlit, which started it at 1 when a larger input gave it more steps.
    st.session_state[STEP_KEY] = min(st.session_state[STEP_KEY], len(steps))
    number = st.slider("Step", 1, len(steps), key=STEP_KEY, help="Step k adds input value k times the kernel.")
    state.keep(STEP_KEY)
    step = steps[number - 1]
    scale = float(np.max(np.abs(steps[-1].partial_sum))) or None
    if step.visible is None:
        placed = "falls wholly in the rows and columns that padding='same' crops, so it adds nothing"
    else:
        placed = f"is added into {_describe_window(step.visible)} of the output (outlined)"
    value = format_value(step.value)
    st.markdown(
        f"**Step {number} of {len(steps)}:** input[{step.row}, {step.column}] = {value}, so {value} × kernel {placed}."
    )
    if step.visible is not None and _cropped(step):
        st.caption("Part of its window lies outside the output: padding='same' crops it, so those values are lost.")
    columns = st.columns(3)
    _figure(
        columns[0],
        "step_input",
        "Input, this value outlined",
        inputs,
        (step.row, step.column, step.row + 1, step.column + 1),
    )
    _figure(columns[1], "step_added", f"Added: {format_value(step.value)} × kernel", step.added, step.visible, scale)
    _figure(columns[2], "step_sum", f"Sum after step {number}", step.partial_sum, step.visible, scale)
    if number == len(steps):
        st.success("The last step's sum is the output of the layer.", icon=":material/check_circle:")


def zero_insertion_ui(inputs: np.ndarray, kernel: np.ndarray, settings: TransposeSettings, output: np.ndarray) -> None:
    """The same output as zero insertion, padding and an ordinary convolution with the flipped kernel."""
    st.subheader("The same output, as an ordinary convolution")
    form = zero_insertion(inputs, kernel, settings)
    top, bottom, left, right = form.padding
    st.markdown(
        f"Put {settings.strides - 1} zero(s) between neighbouring inputs, pad (top {top}, bottom {bottom}, left "
        f"{left}, right {right}; a negative number crops), then slide the kernel turned by 180° with stride 1, "
        "as Conv2D with padding='valid' does."
    )
    columns = st.columns([1, 1, 0.7, 1])
    _figure(columns[0], "spread", "1. Zeros inserted", form.spread)
    _figure(columns[1], "padded", "2. Padded", form.padded)
    _figure(
        columns[2],
        "flipped_kernel",
        "3. Kernel, flipped" + (" (dilated)" if settings.dilation_rate > 1 else ""),
        form.flipped_kernel,
    )
    _figure(columns[3], "convolution", "4. Convolution", form.output)
    if form.output.shape == output.shape and np.allclose(form.output, output):
        st.success("Number for number the scatter's output.", icon=":material/check_circle:")
    else:  # Never expected: tests/test_transposed.py checks both against Keras.
        st.error("The two forms disagree.", icon=":material/error:")


def upsampling_ui(inputs: np.ndarray, kernel: np.ndarray, settings: TransposeSettings, output: np.ndarray) -> None:
    """UpSampling2D then Conv2D with the same kernel: said plainly to be another operation."""
    st.subheader("Not the same: UpSampling2D, then Conv2D")
    form = upsampling_conv(inputs, kernel, settings)
    if form.output.shape != output.shape:
        size, transposed_size = form.output.shape[0], output.shape[0]
        difference = f"Its output is {size}×{size}, not {transposed_size}×{transposed_size}."
    else:
        changed = int(np.sum(~np.isclose(form.output, output)))
        difference = f"Here {changed} of its {output.size} values differ from Conv2DTranspose's."
    st.warning(
        f"A different operation with a different result: UpSampling2D(size={settings.strides}) repeats each value "
        f"{settings.strides}×{settings.strides} times, then Conv2D(padding='same') slides the kernel, unflipped, "
        f"over the copies. {difference}",
        icon=":material/compare_arrows:",
    )
    columns = st.columns(3)
    _figure(columns[0], "upsampled", f"UpSampling2D(size={settings.strides})", form.upsampled)
    _figure(columns[1], "upsampling_output", "Conv2D(padding='same')", form.output)
    _figure(columns[2], "output", "Conv2DTranspose, for comparison", output)


def apply_to_decoder_ui(kernel_size: int, settings: TransposeSettings) -> None:
    """Uses kernel size, strides, padding, output padding and dilation in a Conv2DTranspose of the draft decoder."""
    st.subheader("Use these settings in your decoder")
    spec = state.current_spec()
    places = [index for index, layer in enumerate(spec.decoder) if layer.type == "Conv2DTranspose"]
    if not places:
        st.info("The draft's decoder has no Conv2DTranspose layer: add one on the Build page.", icon=":material/info:")
        return
    choice, button = st.columns([2, 1], vertical_alignment="bottom")
    index = choice.selectbox(
        "Decoder layer", places, key="transposed_decoder_layer",
        format_func=lambda place: f"{place + 1} · {describe_layer(spec.decoder[place])}",
    )  # fmt: skip
    button.button(
        f"Use these settings in decoder layer {index + 1}", icon=":material/input:", key="transposed_apply",
        on_click=_apply, args=(index, kernel_size, settings), width="stretch",
        help="kernel_size, strides, padding, output_padding and dilation_rate; the filters and activation stay.",
    )  # fmt: skip
    outcome = st.session_state.pop(OUTCOME_KEY, None)  # Shown once, on the rerun the click causes.
    if outcome is not None:
        applied, message = outcome
        if applied:
            st.success(message, icon=":material/check_circle:")
            st.page_link("app_pages/build.py", label="See it on the Build page", icon=":material/account_tree:")
        else:
            st.error(message, icon=":material/error:")


def _apply(index: int, kernel_size: int, settings: TransposeSettings) -> None:
    # A callback: it runs before the rerun, so the Build page's widgets draw the new values.
    spec = state.current_spec()
    arguments = {
        "kernel_size": kernel_size,
        "strides": settings.strides,
        "padding": settings.padding,
        "output_padding": settings.output_padding,
        "dilation_rate": settings.dilation_rate,
    }
    changed = spec
    for argument, value in arguments.items():
        changed = edits.set_argument(changed, "decoder", index, argument, value)
    where = describe_location("decoder", index)
    problem = spec_problem(changed, state.training_backend() or default_backend())
    if problem is None:
        commit(changed)
        words = ", ".join(f"{argument}={value!r}" for argument, value in arguments.items())
        st.session_state[OUTCOME_KEY] = (True, f"Applied to {where}: {words}. The architecture is still valid.")
        return
    message = str(problem)
    if problem.suggestion and "Fix:" not in message:
        message += f" Fix: {problem.suggestion}."
    st.session_state[OUTCOME_KEY] = (False, f"Not applied to {where}, which would make the spec invalid. {message}")


def _grid_editor(default: np.ndarray, key: str) -> np.ndarray:
    # The editor's value is its edits, applied to the table it is given; Streamlit forgets them on another page and
    # refuses to have them set back. So a new editor starts from the values last shown (kept under the key), and
    # keeps that starting table while it lives: the edits it holds are relative to it.
    start_key = f"{key}_start"
    if key not in st.session_state:
        st.session_state[start_key] = state.kept(key, default.astype(float))
    size = default.shape[1]
    table = pd.DataFrame(st.session_state[start_key], columns=[str(column) for column in range(size)])
    edited = st.data_editor(
        table, key=key, num_rows="fixed", width="content",
        column_config={str(column): st.column_config.NumberColumn(width=56, format="%g") for column in range(size)},
    )  # fmt: skip
    values = edited.to_numpy(dtype=float)
    state.keep_value(key, values)
    return values


def _figure(
    column: object,
    key: str,
    title: str,
    values: np.ndarray,
    window: tuple[int, int, int, int] | None = None,
    scale: float | None = None,
) -> None:
    # Keyed: two grids may be the same figure (the output, drawn twice), which unkeyed would be one element.
    column.markdown(f"**{title}** · {values.shape[0]}×{values.shape[1]}")
    column.plotly_chart(grid_figure(values, window, scale), config={"displayModeBar": False}, key=f"transposed_{key}")


def _describe_window(window: tuple[int, int, int, int]) -> str:
    top, left, bottom, right = window
    return f"rows {top}–{bottom - 1}, columns {left}–{right - 1}"


def _cropped(step: ScatterStep) -> bool:
    # The window is on the full grid and `visible` on the output, so compare their sizes, not their places.
    if step.visible is None:
        return True
    (top, left, bottom, right), (visible_top, visible_left, visible_bottom, visible_right) = step.window, step.visible
    return (bottom - top, right - left) != (visible_bottom - visible_top, visible_right - visible_left)


def _square(size: int) -> str:
    return f"{size}×{size}"
