"""Latent space: the codes of test digits mapped in 2-D, codes decoded on the way from one digit to another, and how
large a code is against the image."""

import numpy as np
import streamlit as st

from core.inference import decode, encode
from core.latent import CodeSize, interpolate
from ui import latent, state
from ui.resources import get_model
from ui.sidebar import run_label

st.title("Latent space")
active = state.active_run_or_stop("see its codes here")
st.caption(
    f"Model: **{run_label(active)}** (change it in the sidebar's *Active run*). A digit's code is the encoder's "
    "output, the bottleneck the decoder rebuilds the digit from."
)
code_map = latent.code_map_or_stop(active)
size = CodeSize(code_map.code_shape)
(st.info if size.compresses else st.warning)(f"**{size.headline()}.**")

st.header("The codes of test digits, in two dimensions", divider="gray")
map_place = st.container()  # Drawn once the ends below are known, so that the map marks them.

st.header("From one code to another", divider="gray")
start, end, steps = latent.ends_ui()
ready = start.image is not None and end.image is not None
if ready:
    model = get_model(active)
    try:
        with st.spinner("Running the model..."):
            codes = encode(model, np.stack([start.image, end.image]))  # (2, 28, 28) -> (2, height, width, channels)
            decoded = decode(model, interpolate(codes[0], codes[1], steps))
    except latent.PROBLEMS as problem:
        st.error(str(problem))
        st.stop()
with map_place:
    marks = code_map.projection.project(codes) if ready else []
    latent.map_ui(code_map, [(name, x, y) for name, (x, y) in zip("AB", marks, strict=False)])
if not ready:
    st.info((start if start.image is None else end).description)
    st.stop()
latent.strip_ui(start, end, decoded)

st.header("The code up close", divider="gray")
own_column, contrast_column = st.columns(2, gap="large")
with own_column:
    latent.code_ui(f"A's code in this model ({active.name})", size, codes[0])
if not size.compresses:
    with contrast_column:
        latent.contrast_ui(start)
