"""Draw: a digit drawn on the canvas (or an MNIST test digit), made noisy and cleaned up by the active model."""

import streamlit as st

from ui import state
from ui.draw import draw_and_denoise
from ui.sidebar import run_label

st.title("Draw")
active = state.active_run()
if active is None:
    st.info("No trained model yet. Train one on the Train page, then draw a digit here to see it reconstructed.")
    st.page_link("app_pages/train.py", label="Train a model", icon=":material/monitoring:")
    st.stop()
st.caption(f"Model: **{run_label(active)}** (change it in the sidebar's *Active run*).")
draw_and_denoise(active)
