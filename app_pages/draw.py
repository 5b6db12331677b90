"""Draw: a digit drawn on the canvas (or an MNIST test digit), made noisy and cleaned up by a denoiser by default."""

import streamlit as st

from ui import state
from ui.draw import denoiser_by_default, draw_and_denoise, model_caption_ui

st.title("Draw")
denoiser_by_default()
active = state.active_run_or_stop("draw a digit here to see it reconstructed")
model_caption_ui(active)
draw_and_denoise(active)
