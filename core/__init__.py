"""The studio's core: spec, shapes, data, model, jobs and training, runs and inference. Never imports streamlit."""

import os

# TensorFlow's C++ start-up notes (CPU features, oneDNN) are not for users; set before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
