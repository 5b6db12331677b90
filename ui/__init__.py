"""Small Streamlit helpers shared by the pages: session state, the sidebar and cached resources."""
