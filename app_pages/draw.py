"""Draw: a digit drawn on the canvas (or an MNIST test digit), made noisy and cleaned up by the active model."""

import streamlit as st

from ui import state
from ui.draw import draw_and_denoise
from ui.sidebar import run_label

st.title("Draw")
active = state.active_run_or_stop("draw a digit here to see it reconstructed")
st.caption(f"Model: **{run_label(active)}** (change it in the sidebar's *Active run*).")
draw_and_denoise(active)
