"""The Draw page's controls: the drawing canvas, the test-digit picker and the noise settings.

`read_canvas` is the only place that talks to the drawable-canvas component; tests replace it with a function
that returns a drawing, since a custom component cannot be drawn on outside a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.drawing import to_mnist
from core.noise import NOISE_KINDS
from core.runs import RunInfo
from ui import state

CANVAS_SIZE = 280  # Ten screen pixels for each of MNIST's 28.
CANVAS_KEY = "draw_canvas"
GENERATION_KEY = "draw_canvas_generation"
START_KEY = "draw_canvas_start"  # The drawing the canvas on screen started from (fabric.js JSON), or None.
BRUSH_KEY = "draw_brush_width"
DEFAULT_BRUSH_WIDTH = 22
# Not a widget's key, so the drawing outlives the Draw page: the Layer explorer reads it (see `last_drawing`).
DRAWING_KEY = "draw_last_drawing"
DEFAULT_NOISE_AMOUNT = 0.3
NOISE_LABELS = {"none": "None", "gaussian": "Gaussian", "salt_pepper": "Salt and pepper", "block": "Erase a block"}
AMOUNT_HELP = {
    "none": "No noise: the model sees the clean digit.",
    "gaussian": "Standard deviation of the normal noise added to every pixel (then clipped to [0, 1]).",
    "salt_pepper": "Fraction of the pixels set to black or white.",
    "block": "Fraction of the image covered by one erased (black) square, at a place the seed picks.",
}


@dataclass(frozen=True)
class NoiseSettings:
    """The noise picked on the page, as `core.noise.add_noise` takes it (amount 0 for "none")."""

    kind: str
    amount: float
    seed: int


def read_canvas(stroke_width: int, key: str, disabled: bool = False) -> np.ndarray | None:
    """The canvas's pixels as (280, 280, 4) uint8 RGBA, white strokes on black; None before the first stroke.

    A canvas under a key Streamlit does not hold (the first one, one after Clear, or one forgotten while another
    page ran) starts from the last drawing kept. It keeps that start while it lives: the component reloads itself,
    undo history lost, whenever its `initial_drawing` changes. A canvas that starts from a drawing sends nothing
    until it is drawn on.
    """
    from streamlit_drawable_canvas import st_canvas

    if key not in st.session_state:
        st.session_state[START_KEY] = state.kept(CANVAS_KEY)
    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=CANVAS_SIZE,
        width=CANVAS_SIZE,
        drawing_mode="freedraw",
        initial_drawing=st.session_state[START_KEY],
        return_image_data=True,
        update_streamlit=True,
        disabled=disabled,
        key=key,
    )
    if result.image_data is not None:
        state.keep_value(CANVAS_KEY, result.json_data)
    return result.image_data


def _clear_canvas() -> None:
    # A canvas under a new key starts empty; the old drawing and its undo history go with the old key.
    st.session_state[GENERATION_KEY] = st.session_state.get(GENERATION_KEY, 0) + 1
    st.session_state.pop(DRAWING_KEY, None)
    state.keep_value(CANVAS_KEY, None)


def canvas_ui(disabled: bool = False) -> np.ndarray | None:
    """The canvas, the brush width and a clear button; returns the drawing's RGBA pixels (None before any).

    A disabled canvas still shows (and keeps) its drawing: a canvas that is not drawn at all in a rerun would lose it.
    After a visit to another page the canvas shows the drawing again (`read_canvas`) but sends nothing until drawn
    on, so the drawing kept under `DRAWING_KEY` stands in for it.
    """
    # The brush width is read before the canvas is drawn, but its slider sits below the canvas: the canvas's
    # toolbar pops up over whatever is just above it.
    state.bring_back(BRUSH_KEY, DEFAULT_BRUSH_WIDTH)
    pixels = read_canvas(st.session_state[BRUSH_KEY], f"{CANVAS_KEY}_{st.session_state.get(GENERATION_KEY, 0)}",
                         disabled)  # fmt: skip
    if pixels is not None:
        st.session_state[DRAWING_KEY] = pixels
    else:
        pixels = st.session_state.get(DRAWING_KEY)
    width_column, clear_column = st.columns([3, 1], vertical_alignment="bottom")
    width_column.slider(
        "Brush width", min_value=4, max_value=48, step=1, key=BRUSH_KEY, disabled=disabled,
        help="In canvas pixels. The drawing is scaled down about ten times, so 22 gives MNIST's strokes of two to "
        "three pixels for a digit that fills the canvas; draw smaller digits with a thinner brush.",
    )  # fmt: skip
    state.keep(BRUSH_KEY)
    clear_column.button("Clear", key="draw_clear", on_click=_clear_canvas, disabled=disabled, width="stretch")
    if disabled:
        st.caption("The canvas keeps your drawing for when you switch the test digit off.")
    else:
        st.caption("Hover over the canvas for undo and redo.")
    return pixels


def last_drawing() -> np.ndarray | None:
    """The Draw page's latest drawing as an MNIST-like (28, 28) digit; None before any, or for a blank canvas."""
    pixels = st.session_state.get(DRAWING_KEY)
    return None if pixels is None else to_mnist(pixels)


def _random_test_digit(key: str) -> None:
    st.session_state[key] = int(np.random.default_rng().integers(10_000))


def test_digit_ui(page: str = "draw", label: str = "Test digit", default: int = 0) -> int:
    """Picks one of the 10,000 MNIST test digits by index, or at random; returns its index.

    The index is kept while the picker is hidden or its page is left (`state.keep`).

    Args:
        page: the page's name, which starts the widgets' keys ("draw_test_index", "draw_random_digit").
        label: the index box's label; a page with two pickers names them apart.
        default: the index shown before the user picks one.
    """
    index_key = f"{page}_test_index"
    state.bring_back(index_key, default)
    index_column, random_column = st.columns([3, 2], vertical_alignment="bottom")
    index = index_column.number_input(label, min_value=0, max_value=9_999, step=1, key=index_key,
                                      help="Index into the 10,000 MNIST test images.")  # fmt: skip
    random_column.button("Random", key=f"{page}_random_digit", icon=":material/casino:", on_click=_random_test_digit,
                         args=(index_key,), width="stretch")  # fmt: skip
    state.keep(index_key)
    return int(index)


def _new_seed() -> None:
    st.session_state["draw_seed"] = int(st.session_state.get("draw_seed", 0)) + 1


def noise_ui(run: RunInfo) -> NoiseSettings:
    """The noise to add before the model sees the digit; it starts as the noise the run was trained with."""
    trained_with = run.spec.training.noise if run.spec is not None else None
    trained_amount = float(trained_with.amount) if trained_with else 0.0
    kind_default = trained_with.kind if trained_with else "none"
    state.bring_back_all({"draw_noise_kind": kind_default, "draw_seed": 0,
                          "draw_noise_amount": trained_amount or DEFAULT_NOISE_AMOUNT})  # fmt: skip
    kind_column, amount_column, seed_column, button_column = st.columns([3, 3, 2, 1], vertical_alignment="bottom")
    kind = kind_column.selectbox("Noise", NOISE_KINDS, format_func=NOISE_LABELS.get, key="draw_noise_kind")
    amount = amount_column.slider("Amount", min_value=0.0, max_value=1.0, step=0.05,
                                  key="draw_noise_amount", disabled=kind == "none", help=AMOUNT_HELP[kind])  # fmt: skip
    seed = seed_column.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="draw_seed",
                                    disabled=kind == "none", help="The same seed gives the same noise.")  # fmt: skip
    button_column.button("", key="draw_new_noise", icon=":material/refresh:", on_click=_new_seed,
                         disabled=kind == "none", help="New noise (next seed)")  # fmt: skip
    state.keep("draw_noise_kind", "draw_noise_amount", "draw_seed")
    return NoiseSettings(kind, 0.0 if kind == "none" else round(float(amount), 4), int(seed))
