"""The Latent space page's widget groups: the map of the codes, the two ends and the strip decoded between them,
and the code up close beside one that compresses.

The codes come from the inference worker (through `core.inference`); the sample, the PCA, the in-between codes and
the verdict on the code's size from `core.latent`. A widget click reruns the page from the top, so the ends live
in `st.session_state` under keys that start with "latent_".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core import latent
from core.explorer import maps_png
from core.inference import InferenceError, encode
from core.mnist import DataError, scale
from core.pictures import png_size, rows_png
from core.pixels import enlarge
from core.runs import RunInfo, RunStoreError, default_runs_dir, load_run
from core.shapes import describe_shape
from ui import canvas, state
from ui.resources import get_mnist, get_model, model_version

SOURCES = ("Test digit", "Drawing")
DEFAULT_TEST_INDICES = {"A": 0, "B": 1}  # A 7 and a 2: two digits the map shows far apart.
STEPS_KEY = "latent_steps"
DEFAULT_STEPS = 8
MAP_KEY = "latent_map"
SELECTION_SHOWN = 6  # Selected digits shown beside the map; the rest are counted.
PIXEL_SIZE = 3  # Screen pixels per MNIST pixel for the small digits: 28 -> 84.
PICKED_PIXEL_SIZE = 4  # 28 -> 112: wide enough for its caption on one line.
CODE_COLUMNS = 4  # A code's channels to a row: two rows of 22x22 or 7x7 tiles fit half the page at full size.
PROBLEMS = (RunStoreError, DataError, InferenceError)  # A damaged model file, MNIST missing, the worker stopped.


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value.
class End:
    """One end of the interpolation: a test digit or a drawing."""

    name: str  # "A" or "B".
    image: np.ndarray | None  # (28, 28) in [0, 1]; None while a drawing is wanted but there is none.
    description: str  # "test digit 0 (a 7)" or "your drawing".
    test_index: int | None = None


def _key(name: str) -> str:
    return f"latent_{name.lower()}"


@st.cache_data(show_spinner=False, max_entries=4)
def _code_map(run_id: str, version: float, runs_dir: str) -> latent.CodeMap:
    mnist = get_mnist()
    return latent.code_map(get_model(load_run(run_id, runs_dir)), mnist.x_test, mnist.y_test)


def code_map_or_stop(run: RunInfo) -> latent.CodeMap:
    """The map of the run's codes (cached per version of its model file); on a failure, says why and stops."""
    try:
        with st.spinner(f"Encoding {latent.SAMPLE_SIZE:,} test digits..."):
            return _code_map(run.run_id, model_version(run), str(default_runs_dir()))
    except PROBLEMS as problem:
        st.error(str(problem))
        st.stop()


def _use_test_digit(name: str, index: int) -> None:
    # A callback: it runs before the next rerun draws the end's widgets, which then show the picked digit.
    st.session_state[f"{_key(name)}_source"] = SOURCES[0]
    st.session_state[f"{_key(name)}_test_index"] = index


def _take_drawing(name: str) -> None:
    st.session_state[f"{_key(name)}_drawing"] = canvas.last_drawing()


def end_ui(name: str) -> End:
    """One end: a test digit by index, or a drawing from the Draw page, kept here until replaced."""
    key = _key(name)
    # Kept through a trip to the Draw page for a second drawing, which would otherwise reset the ends.
    state.bring_back(f"{key}_source", SOURCES[0])
    source = st.segmented_control(f"End {name}", SOURCES, key=f"{key}_source")
    state.keep(f"{key}_source")
    if source != "Drawing":
        index = canvas.test_digit_ui(key, label=f"Test digit {name}", default=DEFAULT_TEST_INDICES[name])
        mnist = get_mnist()
        end = End(name, scale(mnist.x_test[index])[..., 0], latent.describe_digit(index, mnist.y_test[index]), index)
    else:
        latest = canvas.last_drawing()
        if f"{key}_drawing" not in st.session_state and latest is not None:
            st.session_state[f"{key}_drawing"] = latest  # The first look takes the drawing there is.
        st.button("Take the Draw page's drawing", key=f"{key}_take", on_click=_take_drawing, args=(name,),
                  disabled=latest is None, icon=":material/draw:",
                  help="Kept here, so that you can draw another digit for the other end.")  # fmt: skip
        held = st.session_state.get(f"{key}_drawing")
        if held is None:
            st.page_link("app_pages/draw.py", label="Draw a digit first", icon=":material/draw:")
            return End(name, None, f"Draw a digit on the Draw page to use it as {name}.")
        end = End(name, held, "your drawing")
    # A width of its own: an image gets as wide as its caption, and a browser blurs the pixels it stretches.
    st.image(enlarge(end.image, PIXEL_SIZE), caption=f"{name}: {end.description}", width=28 * PIXEL_SIZE,
             output_format="PNG")  # fmt: skip
    return end


def ends_ui() -> tuple[End, End, int]:
    """The two ends side by side and the number of steps between them: (A, B, steps)."""
    start_column, end_column = st.columns(2, gap="large")
    with start_column:
        start = end_ui("A")
    with end_column:
        end = end_ui("B")
    state.bring_back(STEPS_KEY, DEFAULT_STEPS)
    steps = st.slider("Steps", min_value=3, max_value=12, key=STEPS_KEY, help="Images in the strip, A and B included.")
    state.keep(STEPS_KEY)
    return start, end, steps


def map_ui(code_map: latent.CodeMap, marks: list[tuple[str, float, float]]) -> None:
    """The codes' map, coloured by digit; the digits selected on it beside it, each ready to be used as A or B."""
    figure = latent.map_figure(code_map.coordinates, code_map.labels, code_map.indices, code_map.projection, marks)
    chart_column, picked_column = st.columns([3, 1], gap="medium")
    # Plotly shows no images on hover, so a selection (a click, or a drag around points) reruns the page with
    # the picked test indices, and their digits are drawn beside the chart.
    event = chart_column.plotly_chart(figure, key=MAP_KEY, on_select="rerun", selection_mode=("points", "box", "lasso"),
                                      config={"displaylogo": False})  # fmt: skip
    with picked_column:
        picked_ui(latent.picked_indices(event["selection"]["points"]))
    first, second = (f"{share:.1%}" for share in code_map.projection.explained[:2])
    st.caption(
        f"{len(code_map.indices):,} of the 10,000 test digits (the same ones for every run), each encoded to a "
        f"{describe_shape(code_map.code_shape)} code and placed by its first two principal components (PCA of the "
        f"{len(code_map.indices):,} codes), which hold {first} and {second} of their variance. The stars are A and B."
    )


def picked_ui(picked: list[int]) -> None:
    """The digits selected on the map (up to `SELECTION_SHOWN`), and buttons that make the first one A or B."""
    if not picked:
        st.caption("Click a point to see its digit here, or select several with the box or lasso of the chart's "
                   "toolbar. Hover for a point's index.")  # fmt: skip
        return
    mnist = get_mnist()
    shown = picked[:SELECTION_SHOWN]
    # One list: Streamlit lays the images out side by side, as many to a row as the column holds.
    images = [enlarge(scale(mnist.x_test[index])[..., 0], PICKED_PIXEL_SIZE) for index in shown]
    captions = [f"#{index} · a {mnist.y_test[index]}" for index in shown]
    st.image(images, caption=captions, width=28 * PICKED_PIXEL_SIZE, output_format="PNG")
    if len(picked) > len(shown):
        st.caption(f"{len(picked):,} selected; the first {len(shown)} are shown.")
    first = picked[0]
    for column, name in zip(st.columns(2), ("A", "B"), strict=True):
        column.button(f"#{first} as {name}", key=f"latent_use_as_{name.lower()}", on_click=_use_test_digit,
                      args=(name, first), width="stretch")  # fmt: skip


def strip_ui(start: End, end: End, decoded: np.ndarray) -> None:
    """The decoded codes from A to B, above the two images cross-faded with the same weights."""
    steps = len(decoded)
    blended = latent.interpolate(start.image, end.image, steps)
    png = rows_png(["Decoded codes", "Blended pixels"], [decoded, blended], titles=latent.strip_titles(steps))
    st.image(png, output_format="PNG", caption=(
        f"{steps} steps from A, {start.description}, to B, {end.description}. Top: the decoder's output for codes "
        "evenly spaced on the straight line from A's code to B's; its ends are the model's reconstructions of A "
        "and B. Bottom: the two images themselves, cross-faded with the same weights."
    ))  # fmt: skip


def code_ui(title: str, size: latent.CodeSize, code: np.ndarray) -> None:
    """One code as a picture of its channels, with its shape, its size and the verdict on it."""
    st.markdown(f"**{title}: {describe_shape(size.shape)}**")
    values, ratio = st.columns(2)
    values.metric("Code values", f"{size.values:,}", border=True, help="For the image's 784 pixels.")
    ratio.metric("Values per pixel", f"{size.ratio:.2f}", border=True,
                 help="Code values / 784 pixels: above 1 the code is larger than the image.")  # fmt: skip
    height, width, channels = size.shape
    picture = maps_png(code, CODE_COLUMNS)
    st.image(picture, output_format="PNG", width=png_size(picture)[0],
             caption=f"{channels} channels of {height}x{width}, each from the code's smallest value (dark purple) "
             "to its largest (yellow)")  # fmt: skip
    (st.info if size.compresses else st.warning)(size.verdict())


def contrast_ui(start: End) -> None:
    """A's code through a run of the `strided` preset, whose code compresses; how to train one if none exists."""
    contrast = latent.contrast_size()
    run = latent.contrast_run(state.usable_runs())
    if run is None:
        st.markdown(f"**The `{latent.CONTRAST_PRESET}` preset's code**")
        st.info(
            f"For contrast, a code that compresses: the `{latent.CONTRAST_PRESET}` preset encodes each digit to "
            f"{describe_shape(contrast.shape)} = {contrast.values:,} values, {contrast.ratio:.2f} of the image's "
            f"784 pixels. No run of it yet: pick **{latent.CONTRAST_PRESET}** under *Preset* in the sidebar and "
            "start it on the Train page (or run `python -m core.train --preset strided`); its code of A shows "
            "here then."
        )
        st.page_link("app_pages/train.py", label="Train it", icon=":material/monitoring:")
        return
    try:
        code = encode(get_model(run), start.image[np.newaxis])[0]  # (1, 28, 28) -> (1, 7, 7, 8) -> (7, 7, 8)
    except PROBLEMS as problem:
        st.error(str(problem))
        return
    code_ui(f"A's code in run {run.name}, for contrast", latent.CodeSize(code.shape), code)
