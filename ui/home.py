"""The Home page's pictures: the current architecture's shape flow, and a few test digits through the active model.

Each sits above the link to the page that shows more of it (Build, Reconstructions). The digits come from the
inference worker, as every model call of the dashboard does; the shape flow is pure Python.
"""

from __future__ import annotations

import streamlit as st

from core.backends import default_backend
from core.comparison import sample_indices
from core.diagram import flow_figure, shape_flow
from core.inference import InferenceError
from core.mnist import DataError, scale
from core.noise import noisy_test_images
from core.pictures import grid_png
from core.runs import RunInfo, RunStoreError, default_runs_dir, load_run
from core.spec import ExperimentSpec
from ui import state
from ui.resources import get_mnist, get_model, model_version

HOME_DIGITS = 8  # The first test image of each digit 0-7, the digits the Compare page shows.
HOME_COLUMNS = 4  # Two blocks of four: digits large enough to read in half the page.
FLOW_HEIGHT = 250  # Pixels: the Build page's figure, shorter, to fit beside the active model.


def shape_flow_ui(spec: ExperimentSpec) -> None:
    """The shape flow of the architecture being edited, drawn as the Build page draws it (a fault in red)."""
    figure = flow_figure(shape_flow(spec, state.training_backend() or default_backend()))
    figure.update_layout(height=FLOW_HEIGHT)
    st.plotly_chart(figure, key="home_flow_figure", config={"displayModeBar": False})


def digits_png(run: RunInfo) -> bytes:
    """The sample digits, the noisy inputs a denoiser is given (its training noise), and the model's outputs.

    Cached for each version of the run's model file, so a run still training shows its latest epoch.

    Raises:
        RunStoreError: (a `core.inference.ModelFileError`) if the run's model file is missing or damaged.
        InferenceError: if the inference worker stopped or failed; the next call starts a new one.
        DataError: if MNIST cannot be loaded.
    """
    return _digits_png(run.run_id, model_version(run), str(default_runs_dir()))


@st.cache_data(show_spinner=False, max_entries=8)
def _digits_png(run_id: str, version: float, runs_dir: str) -> bytes:
    run = load_run(run_id, runs_dir)
    mnist = get_mnist()
    clean = scale(mnist.x_test[sample_indices(mnist.y_test, HOME_DIGITS)])  # (8, 28, 28, 1)
    noisy = noisy_test_images(clean, run.spec.training) if run.is_denoiser else None
    outputs = get_model(run)(clean if noisy is None else noisy)
    return grid_png(clean, outputs, noisy=noisy, columns=HOME_COLUMNS)


def sample_digits_ui(run: RunInfo) -> None:
    """The sample digits through the active model, or why they cannot be shown."""
    try:
        with st.spinner("Reconstructing a few test digits..."):  # The worker may still be importing Keras.
            png = digits_png(run)
    except (RunStoreError, InferenceError, DataError) as problem:
        st.warning(f"The test digits cannot be shown. {problem}", icon=":material/image_not_supported:")
        return
    noise = run.spec.training.noise if run.is_denoiser and run.spec is not None else None
    given = f", given them with {noise.kind.replace('_', ' ')} noise {noise.amount:g}" if noise else ""
    st.image(png, caption=f"The first test image of each digit 0–7 and the model's output{given}.")
