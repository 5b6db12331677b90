"""Conv2DTranspose Autoencoder Studio: `streamlit run dashboard.py`.

The entry script runs on every rerun of every page: page config, navigation, the shared sidebar, then the page.
This process never imports Keras or TensorFlow: models run in the inference worker (`core.serving`).
"""

import streamlit as st

from ui.resources import start_inference_worker
from ui.sidebar import sidebar_ui

st.set_page_config(page_title="Autoencoder Studio", page_icon=":material/blur_on:", layout="wide")
start_inference_worker()  # Returns at once; the worker imports Keras while the user is on the first page.

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/build.py", title="Build", icon=":material/account_tree:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/monitoring:"),
    st.Page("app_pages/reconstructions.py", title="Reconstructions", icon=":material/grid_view:"),
    st.Page("app_pages/draw.py", title="Draw", icon=":material/draw:"),
    st.Page("app_pages/explorer.py", title="Layer explorer", icon=":material/layers:"),
    st.Page("app_pages/latent.py", title="Latent space", icon=":material/scatter_plot:"),
    st.Page("app_pages/compare.py", title="Compare runs", icon=":material/compare:"),
    st.Page("app_pages/sweeps.py", title="Sweeps", icon=":material/tune:"),
    st.Page("app_pages/transposed.py", title="Conv2DTranspose, step by step", icon=":material/school:"),
]

page = st.navigation(PAGES)
sidebar_ui()
page.run()
