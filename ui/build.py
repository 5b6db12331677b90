"""The Build page's widget groups: whether the architecture is valid, its numbers, its shape flow and its code."""

from __future__ import annotations

import streamlit as st

from core.diagram import (
    INPUT_VALUES,
    ShapeFlow,
    compression_summary,
    flow_figure,
    flow_rows,
    format_ratio,
    format_shape,
)
from core.keras_code import keras_code
from core.spec import INPUT_SHAPE, ExperimentSpec
from ui.architecture_editor import apply_fix


def validity_ui(flow: ShapeFlow) -> None:
    """A link to Train when the architecture is valid; otherwise its problem, the fix to apply, and why Train waits."""
    problem = flow.problem
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


def numbers_ui(flow: ShapeFlow) -> None:
    """Parameters, the bottleneck, its size and the compression, with what the bottleneck means."""
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


def flow_ui(flow: ShapeFlow) -> None:
    """The shape flow as a picture and as a table, side by side."""
    picture, table = st.columns([1.1, 1], gap="medium")
    picture.plotly_chart(flow_figure(flow), key="build_figure", config={"displayModeBar": False})
    table.dataframe(
        flow_rows(flow), hide_index=True, key="build_table", placeholder="?",  # "?": a shape the flow did not reach.
        column_config={  # Pixel widths that fit "Conv2DTranspose" and "bottleneck" beside the picture.
            "Layer": st.column_config.TextColumn(width=74),
            "Type": st.column_config.TextColumn(width=122),
            "Output shape": st.column_config.TextColumn("Output", width=70),
            "Params": st.column_config.NumberColumn(
                format="localized", width=58, help="Weights plus one bias per filter."
            ),
            "Note": st.column_config.TextColumn(width=112, help="The bottleneck, the fault and where a fix applies."),
        },
    )  # fmt: skip


def code_ui(spec: ExperimentSpec, flow: ShapeFlow) -> None:
    """The same model as plain Keras code, once the architecture is valid."""
    st.subheader("Plain Keras code")
    if flow.problem is None:
        st.caption("The same model in Keras 3, ready to copy with the button at the top right of the code.")
        st.code(keras_code(spec), language="python", height=560)
    else:
        st.info("The Keras code appears when the architecture is valid.", icon=":material/code_off:")
