"""Build: edit the encoder and decoder layer by layer and watch the shapes flow from 28x28x1 back to 28x28x1."""

import streamlit as st

from core import edits
from core.backends import default_backend
from core.diagram import shape_flow
from core.presets import preset
from ui import state
from ui.architecture_editor import architecture_editor_ui, base_preset, reset_to_preset
from ui.build import code_ui, flow_ui, numbers_ui, validity_ui

spec = state.current_spec()
# Pure Python: no TensorFlow on this page, so every edit redraws at once.
flow = shape_flow(spec, state.training_backend() or default_backend())

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

validity_ui(flow)
numbers_ui(flow)
flow_ui(flow)
architecture_editor_ui(spec, flow)
code_ui(spec, flow)
