"""The studio's core: spec, shapes, data, model, engine, run store and inference. Never imports streamlit."""
