"""Reconstructions: the 10,000 test images through the active model, paged, filtered, ranked and summarised."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import streamlit as st

from core import charts, pictures
from core.inference import SORT_ORDERS, InferenceError, TestSetReport, page_count, page_of, rank_images, worst_rank
from core.losses import test_floor
from core.mnist import DataError
from core.pixels import panel_labels
from core.runs import RunInfo, RunStoreError
from ui import state
from ui.resources import get_noisy_test_report, get_test_report

DIGITS = ("All", *map(str, range(10)))
SORT_LABELS = {"worst": "Worst first", "best": "Best first", "index": "Test order"}
PER_PAGE = (8, 16, 32, 64)
PAGE_KEY = "reconstructions_page"
LOOKUP_KEY = "reconstructions_lookup"
SELECTED_KEY = "reconstructions_selected"
OPEN_KEY = "reconstructions_open"


def select(index: int) -> None:
    st.session_state[SELECTED_KEY] = index


def inspect(index: int) -> None:
    # Callbacks run before the rerun they cause, which opens the dialog once and forgets the request.
    select(index)
    st.session_state[OPEN_KEY] = True


def inspect_typed() -> None:
    if st.session_state.get(LOOKUP_KEY) is not None:
        inspect(int(st.session_state.pop(LOOKUP_KEY)))  # Emptied, so typing the same index again opens it again.


def caption(report: TestSetReport, index: int, error: str) -> str:
    """Markdown under a card: index and digit, then both errors, the one sorted by in bold."""
    values = {name: f"{name.upper()} {report.errors(name)[index]:.4f}" for name in charts.ERROR_LABELS}
    values[error] = f"**{values[error]}**"
    return f"**#{index}** · digit {report.labels[index]}  \n{values['bce']}  \n{values['mse']}"


def png_title(report: TestSetReport, index: int, error: str) -> str:
    return f"#{index} · digit {report.labels[index]}\n{error.upper()} {report.errors(error)[index]:.4f}"


def controls_ui(run: RunInfo) -> dict[str, Any]:
    """The toolbar; returns the digit (None for all), order, error and whether a denoiser's inputs are noisy."""
    trained_with = "mse" if run.spec is not None and run.spec.training.loss == "mse" else "bce"
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        digit = st.segmented_control("Digit", DIGITS, default="All", required=True, key="reconstructions_digit")
        order = st.segmented_control("Sort by error", SORT_ORDERS, default="worst", required=True,
                                     format_func=SORT_LABELS.get, key="reconstructions_order")  # fmt: skip
        error = st.segmented_control(
            "Error", tuple(charts.ERROR_LABELS), default=trained_with, required=True,
            format_func=charts.ERROR_LABELS.get, key="reconstructions_error",
            help="Binary cross-entropy or mean squared error: what the order and the charts use.",
        )  # fmt: skip
        noisy = run.is_denoiser and st.segmented_control(
            "Inputs", ("noisy", "clean"), default="noisy", required=True, format_func=str.capitalize,
            key="reconstructions_inputs", help="Give this denoiser test images corrupted with its training noise, "
            "as it is meant to be used, or clean ones. The errors are always against the clean images.",
        ) == "noisy"  # fmt: skip
    return {"digit": None if digit == "All" else int(digit), "order": order, "error": error, "noisy": noisy}


def header_ui(run: RunInfo, report: TestSetReport, noisy: bool) -> None:
    """Which model this is, and how far its test loss is above the floor a perfect reconstruction scores."""
    floor, bce = test_floor("binary_crossentropy"), float(report.bce.mean())
    epochs = run.summary.get("epochs_completed", 0)
    parts = [f"**{run.name}**", run.status, f"{epochs} epoch{'s' * (epochs != 1)}"]
    parts += ["shipped pretrained"] * run.read_only + ["denoiser"] * run.is_denoiser
    inputs = " on noisy inputs" if noisy else ""
    st.markdown(" · ".join(parts) + f" · test BCE{inputs} **{bce:.4f}** (floor {floor:.4f}, +{bce - floor:.4f}) · "
                f"MSE **{float(report.mse.mean()):.4f}** (floor 0)")  # fmt: skip
    if run.status == "running":
        st.caption("This run is still training: these are its latest saved weights, reloaded after each epoch.")


def detail_ui(report: TestSetReport, ranked: np.ndarray, error: str) -> None:
    """The selected image large, with its errors, its own floor and its rank; steps through the current order."""
    index = int(st.session_state[SELECTED_KEY])
    noisy = None if report.inputs is None else report.inputs[index]
    st.subheader(f"Test image #{index} · digit {report.labels[index]}")
    st.plotly_chart(charts.detail_figure(report.images[index], report.reconstructions[index], noisy),
                    key="reconstructions_detail_chart", config={"displayModeBar": False})  # fmt: skip
    image_floor, bce, mse = float(report.bce_floors[index]), float(report.bce[index]), float(report.mse[index])
    bce_column, mse_column, rank_column = st.columns(3)
    bce_column.metric("BCE", f"{bce:.4f}", f"+{bce - image_floor:.4f} above its floor {image_floor:.4f}",
                      delta_color="off", delta_arrow="off",
                      help="A perfect reconstruction of this image scores its floor, not 0, because its grey pixels "
                      "are neither 0 nor 1.")  # fmt: skip
    mse_column.metric("MSE", f"{mse:.4f}", "floor 0", delta_color="off", delta_arrow="off")
    rank = worst_rank(report.errors(error), index)
    rank_column.metric(f"Rank by {charts.ERROR_LABELS[error]}", f"{rank:,} of {len(report.labels):,}",
                       "1 is the worst", delta_color="off", delta_arrow="off")  # fmt: skip
    positions = np.flatnonzero(ranked == index)
    with st.container(horizontal=True, vertical_alignment="center"):
        if positions.size:  # An image typed by index may lie outside the current filter.
            position = int(positions[0])
            st.button("Previous", icon=":material/chevron_left:", key="reconstructions_previous",
                      disabled=position == 0, on_click=select, args=(int(ranked[max(position - 1, 0)]),))  # fmt: skip
            st.caption(f"{position + 1:,} of {len(ranked):,} in the current order")
            st.button("Next", icon=":material/chevron_right:", key="reconstructions_next",
                      disabled=position == len(ranked) - 1,
                      on_click=select, args=(int(ranked[min(position + 1, len(ranked) - 1)]),))  # fmt: skip
        st.space("stretch")
        st.download_button(
            "Download (PNG)", file_name=f"test-image-{index}.png", mime="image/png", icon=":material/download:",
            data=partial(pictures.grid_png, report.images[[index]], report.reconstructions[[index]],
                         None if noisy is None else report.inputs[[index]], True, [png_title(report, index, error)]),
            on_click="ignore", key="reconstructions_detail_download",
        )  # fmt: skip


st.title("Reconstructions")
run = state.active_run()
if run is None:
    st.info("No trained model yet. Train one on the Train page, then come back to compare the test images with "
            "their reconstructions.")  # fmt: skip
    st.page_link("app_pages/train.py", label="Go to the Train page", icon=":material/monitoring:")
    st.stop()

header = st.container()
choice = controls_ui(run)
try:
    report = get_noisy_test_report(run) if choice["noisy"] else get_test_report(run)
except (RunStoreError, DataError, InferenceError) as problem:
    # A damaged model file, MNIST missing, or the model worker stopped (the next run starts a new one).
    st.error(str(problem))
    st.stop()
with header:
    header_ui(run, report, choice["noisy"])
error, digit = choice["error"], choice["digit"]
ranked = rank_images(report.errors(error), report.labels, choice["order"], digit)

with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
    status = st.container(width="stretch")
    difference = st.toggle("Difference", key="reconstructions_difference",
                           help="Add a heat map of reconstruction minus original: blue where ink is missing, "
                           "red where ink is added, black where they agree.")  # fmt: skip
    per_page = st.selectbox("Per page", PER_PAGE, index=1, key="reconstructions_per_page", width=140,
                            format_func=lambda count: f"{count} per page", label_visibility="collapsed")  # fmt: skip
    # Each view (digit, order, error, page size) keeps its own page number, so a new view opens at its first page.
    view = f"{digit}_{choice['order']}_{error}_{per_page}"
    page = st.pagination(page_count(len(ranked), per_page), key=f"{PAGE_KEY}_{view}")
shown = page_of(ranked, page, per_page)
what = "all digits" if digit is None else f"digit {digit}"
first = (page - 1) * per_page + 1
status.markdown(f"Images **{first:,}–{first + len(shown) - 1:,}** of **{len(ranked):,}** · {what} · "
                f"{SORT_LABELS[choice['order']].lower()} by {charts.ERROR_LABELS[error]}")  # fmt: skip

with st.grid(8, min_column_width=90, gap="small", key="reconstructions_grid"):
    for index in map(int, shown):
        with st.container(gap="xxsmall"):
            noisy = None if report.inputs is None else report.inputs[index]
            picture = pictures.cell_image(report.images[index], report.reconstructions[index], noisy, difference)
            st.image(picture, width="stretch", output_format="PNG", alt=f"Test image {index} and its reconstruction")
            st.caption(caption(report, index, error))
            st.button("Inspect", key=f"reconstructions_inspect_{index}", icon=":material/zoom_in:", type="tertiary",
                      on_click=inspect, args=(index,))  # fmt: skip

with st.container(horizontal=True, vertical_alignment="bottom"):
    legend = " (blue: ink missing, red: ink added)" if difference else ""
    st.caption(", ".join(panel_labels(report.inputs is not None, difference)) + legend + ", top to bottom.",
               width="content")  # fmt: skip
    st.space("stretch")
    st.number_input("Inspect test image #", min_value=0, max_value=len(report.labels) - 1, value=None, step=1,
                    placeholder="0 to 9999", key=LOOKUP_KEY, on_change=inspect_typed, width=170)  # fmt: skip
    st.download_button(
        "Download grid (PNG)", file_name=f"{run.run_id}-{what.replace(' ', '-')}-{choice['order']}-page-{page}.png",
        data=partial(pictures.grid_png, report.images[shown], report.reconstructions[shown],
                     None if report.inputs is None else report.inputs[shown], difference,
                     [png_title(report, index, error) for index in shown]),  # Drawn only when clicked.
        mime="image/png", icon=":material/download:", on_click="ignore", key="reconstructions_download",
        help="The images on this page as the reference tutorial draws them: originals above reconstructions.",
    )  # fmt: skip

if st.session_state.pop(OPEN_KEY, False):
    st.dialog("Inspect a test image", width="large")(detail_ui)(report, ranked, error)

st.subheader("Summary")
bars, histogram = st.columns(2)
floors = report.class_floors("bce") if error == "bce" else None
counts = np.bincount(report.labels, minlength=10)
bars.plotly_chart(charts.class_error_figure(report.class_means(error), error, floors, digit, counts),
                  key="reconstructions_class_chart")  # fmt: skip
floor = test_floor("binary_crossentropy") if error == "bce" else 0.0
histogram.plotly_chart(
    charts.error_histogram_figure(report.errors(error)[ranked], error, floor,
                                   title=f"Per-image {charts.ERROR_LABELS[error]}, {what} ({len(ranked):,} images)"),
    key="reconstructions_histogram",
)  # fmt: skip
