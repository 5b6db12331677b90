"""Conv2DTranspose Autoencoder Studio: `streamlit run dashboard.py`.

The entry script runs on every rerun of every page: page config, navigation, the shared sidebar, then the page.
TensorFlow is not imported here; pages import it only when they need a model.
"""

import streamlit as st

from ui.sidebar import sidebar_ui

st.set_page_config(page_title="Autoencoder Studio", page_icon=":material/blur_on:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/build.py", title="Build", icon=":material/account_tree:"),
    st.Page("pages/train.py", title="Train", icon=":material/monitoring:"),
    st.Page("pages/reconstructions.py", title="Reconstructions", icon=":material/grid_view:"),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
]

page = st.navigation(PAGES)
sidebar_ui()
page.run()
