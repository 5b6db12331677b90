"""The Draw page's live part: the canvas (or a test digit), the noise, and the model's output with its errors."""

from __future__ import annotations

import time

import streamlit as st

from core.drawing import to_mnist
from core.inference import InferenceError, denoise
from core.mnist import scale
from core.pixels import enlarge
from core.runs import RunInfo, RunStoreError
from ui import canvas, state
from ui.resources import get_mnist, get_model
from ui.sidebar import run_label

PIXEL_SIZE = 5  # Screen pixels per MNIST pixel in the four panels: 28 -> 140.


def denoiser_by_default() -> None:
    """Until the user picks a run, the page draws with the best denoiser there is, so noise is cleaned up at once.

    It becomes the active run of every page, and the whole script runs again so that the sidebar's picker shows it.
    """
    if state.activate_a_denoiser() is not None:
        st.rerun(scope="app")


def model_caption_ui(run: RunInfo) -> None:
    """Which model draws, and why when the page picked it."""
    why = (
        ", the best denoiser here, picked so that noise on your drawing is cleaned up"
        if state.denoiser_was_picked(run)
        else ""
    )
    st.caption(f"Model: **{run_label(run)}**{why} (change it in the sidebar's *Active run*).")


# A fragment: a stroke or a noise setting reruns only this function, not the sidebar and the rest of the page.
@st.fragment
def draw_and_denoise(run: RunInfo) -> None:
    """The canvas (or a test digit) on the left; the noise settings, four panels and errors on the right."""
    drawing_column, result_column = st.columns([1, 2], gap="large")
    with drawing_column:
        state.bring_back("draw_use_test_digit", False)
        use_test_digit = st.toggle("Use a test digit", key="draw_use_test_digit")
        state.keep("draw_use_test_digit")
        if use_test_digit:
            index = canvas.test_digit_ui()
            mnist = get_mnist()
        pixels = canvas.canvas_ui(disabled=use_test_digit)

    with result_column:
        noise = canvas.noise_ui(run)
        if noise.kind != "none" and not run.is_denoiser:
            st.caption(
                ":material/lightbulb: This run was not trained as a denoiser; pick a denoising run in the sidebar "
                "for best results."
            )
        started = time.perf_counter()
        if use_test_digit:
            clean = scale(mnist.x_test[index])[..., 0]  # Already 28x28 and centred: MNIST needs no preparation.
        else:
            clean = to_mnist(pixels) if pixels is not None else None
        if clean is None:
            st.info("Draw a digit on the canvas: its 28x28 version, the noisy input and the model's output show here.")
            return
        try:
            with st.spinner("Running the model..."):  # Shows only after half a second: a model's first use.
                result = denoise(get_model(run), clean, noise.kind, noise.amount, noise.seed)
        except (RunStoreError, InferenceError) as error:  # A damaged model file, or the model worker stopped.
            st.error(str(error))
            return
        milliseconds = (time.perf_counter() - started) * 1000

        panels = [
            (f"Test digit {index}: a {mnist.y_test[index]}" if use_test_digit else "Your digit (28x28)", result.clean),
            ("Noisy input", result.noisy),
            ("Model output", result.output),
            ("Error vs clean", result.error),
        ]
        for column, (caption, image) in zip(st.columns(4), panels, strict=True):
            colormap = "inferno" if caption == "Error vs clean" else None
            # PNG, not the JPEG Streamlit picks for arrays, which would smear the square pixels.
            column.image(enlarge(image, PIXEL_SIZE, colormap), caption=caption, output_format="PNG")
        reference = run.comparable_test_loss(noise.kind, noise.amount)
        bce, mse = st.columns(2)
        bce.metric(
            "Binary cross-entropy", f"{result.bce:.4f}", delta_color="inverse",
            delta=f"{result.bce - reference[1]:+.4f} vs {reference[0]}" if reference else None,
            help="Of the output against the clean digit, per pixel. A perfect output scores the clean digit's own "
            "entropy, above 0 where its pixels are grey.",
        )  # fmt: skip
        mse.metric("Mean squared error", f"{result.mse:.4f}", help="Of the output against the clean digit, per pixel.")
        st.caption(
            f"Updated in {milliseconds:.0f} ms (preparing the drawing, adding noise and running the model). The "
            "error map runs from black (exact) through red to yellow (off by 1). Drawings are cropped to their ink, "
            "scaled to a 20-pixel longer side and centred by their centre of mass, as MNIST's digits were."
        )
