"""Build: edit the encoder and decoder layer by layer and watch the shapes flow from 28x28x1 back to 28x28x1."""

import streamlit as st

from core import edits
from core.diagram import (
    INPUT_VALUES,
    compression_summary,
    flow_figure,
    flow_rows,
    format_ratio,
    format_shape,
    shape_flow,
)
from core.keras_code import keras_code
from core.presets import preset
from core.spec import INPUT_SHAPE
from ui import state
from ui.architecture_editor import apply_fix, architecture_editor_ui, base_preset, reset_to_preset

spec = state.current_spec()
flow = shape_flow(spec)  # Pure Python: no TensorFlow on this page, so every edit redraws at once.
problem = flow.problem

title, reset = st.columns([4, 1], vertical_alignment="bottom")
title.title("Build the architecture")
reset.button(
    f"Reset to {base_preset()}", icon=":material/restart_alt:", key="build_reset", on_click=reset_to_preset,
    disabled=edits.same_architecture(spec, preset(base_preset())), width="stretch",
    help="Back to the layers of the preset picked in the sidebar; the training settings stay.",
)  # fmt: skip
st.caption(
    "A Conv2D encoder squeezes the 28×28×1 digit into a code at the bottleneck; a Conv2DTranspose decoder grows "
    "it back to 28×28×1. Every change below updates the shapes, the parameters and the Keras code at once."
)

if problem is None:
    route = " → ".join(format_shape(shape) for shape in (INPUT_SHAPE, flow.bottleneck_shape, INPUT_SHAPE))
    st.page_link("app_pages/train.py", label=f"Valid: {route}. Train it", icon=":material/check_circle:")
else:
    message = str(problem)
    if problem.suggestion and "Fix:" not in message:  # A shape error already names its fix.
        message += f" Fix: {problem.suggestion}."
    st.error(message, icon=":material/error:")
    if problem.fix is not None:
        st.button(
            f"Apply the fix: {problem.fix.describe()}", icon=":material/auto_fix_high:", key="build_apply_fix",
            on_click=apply_fix, args=(problem.fix,), type="primary",
        )  # fmt: skip
    st.page_link(
        "app_pages/train.py", label="Training is disabled until the architecture is valid", icon=":material/block:",
        disabled=True, help=message,
    )  # fmt: skip

bottleneck, values = flow.bottleneck_shape, flow.bottleneck_size
metrics = st.columns(4)
metrics[0].metric("Total parameters", f"{flow.params:,}" if flow.is_complete else "—", border=True)
metrics[1].metric("Bottleneck", format_shape(bottleneck) if bottleneck else "—", border=True)
metrics[2].metric("Code values", f"{values:,}" if values else "—", border=True, help="For 784 input pixels.")
metrics[3].metric(
    "Compression", format_ratio(INPUT_VALUES / values) if values else "—", border=True,
    help="Input pixels per code value: above 1× the code is smaller than the image.",
)  # fmt: skip
if bottleneck:
    if values > INPUT_VALUES:
        st.warning(compression_summary(bottleneck), icon=":material/expand:")
    else:
        st.info(compression_summary(bottleneck), icon=":material/compress:")

picture, table = st.columns([1.1, 1], gap="medium")
picture.plotly_chart(flow_figure(flow), key="build_figure", config={"displayModeBar": False})
table.dataframe(
    flow_rows(flow), hide_index=True, key="build_table", placeholder="?",  # "?": a shape the flow did not reach.
    column_config={  # Pixel widths that fit "Conv2DTranspose" and "bottleneck" beside the picture.
        "Layer": st.column_config.TextColumn(width=74),
        "Type": st.column_config.TextColumn(width=122),
        "Output shape": st.column_config.TextColumn("Output", width=70),
        "Params": st.column_config.NumberColumn(format="localized", width=58, help="Weights plus one bias per filter."),
        "Note": st.column_config.TextColumn(width=112, help="The bottleneck, the fault and where a fix applies."),
    },
)  # fmt: skip

architecture_editor_ui(spec, flow)

st.subheader("Plain Keras code")
if problem is None:
    st.caption("The same model in Keras 3, ready to copy with the button at the top right of the code.")
    st.code(keras_code(spec), language="python", height=560)
else:
    st.info("The Keras code appears when the architecture is valid.", icon=":material/code_off:")
