"""Layer explorer: every layer's feature maps for one digit, then one layer's kernels and one channel up close."""

import streamlit as st

from core.inference import InferenceError, feature_maps, layer_weights
from core.runs import RunStoreError
from ui import explorer, state
from ui.resources import get_model
from ui.sidebar import run_label

st.title("Layer explorer")
active = state.active_run_or_stop("look inside it here")
st.caption(
    f"Model: **{run_label(active)}** (change it in the sidebar's *Active run*). Every layer's output for one digit, "
    "in order: the encoder shrinks it to the code, the decoder grows it back to 28x28."
)

if not active.summary.get("explorable", True):  # An imported model of another layout (`core.model_import`).
    st.info(
        f"{active.name} was imported from `{active.imported_from}` and is not built as the studio's models are: "
        "the explorer shows an `encoder` and a `decoder` part, and this model has none. Reconstructions and Draw "
        "work with it; pick a trained run in the sidebar to look inside one."
    )
    st.stop()
image, description = explorer.input_ui()
if image is None:
    st.info(description)
    st.page_link("app_pages/draw.py", label="Draw a digit", icon=":material/draw:")
    st.stop()
model = get_model(active)
try:
    with st.spinner("Running the model..."):  # Shows only after half a second: a model's first use.
        maps = feature_maps(model, image)
except (RunStoreError, InferenceError) as error:  # A damaged model file, or the model worker stopped.
    st.error(str(error))
    st.stop()

explorer.layers_ui(image, description, maps)

st.header("One layer up close", divider="gray")
index, channel = explorer.layer_picker_ui(maps)
name, values = maps[index]
try:
    weights = layer_weights(model, name)
except (RunStoreError, InferenceError) as error:
    st.error(str(error))
    st.stop()
st.subheader("Weights")
explorer.weights_ui(weights)
st.subheader("Feature map")
explorer.channel_ui(name, values, channel)
