"""The Reconstructions page's widget groups: the toolbar, the paged grid of test images, one image large, the summary.

A widget click reruns the page from the top, so what the user chose lives in `st.session_state` under keys that
start with the page's name; each group returns the plain values that the groups after it need.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import streamlit as st

from core.charts import ERROR_LABELS, class_error_figure, detail_figure, error_histogram_figure
from core.inference import SORT_ORDERS, TestSetReport, page_count, page_of, worst_rank
from core.losses import test_floor
from core.pictures import cell_image, grid_png
from core.pixels import panel_labels
from core.runs import RunInfo
from core.text import plural

DIGITS = ("All", *map(str, range(10)))
SORT_LABELS = {"worst": "Worst first", "best": "Best first", "index": "Test order"}
PER_PAGE = (8, 16, 32, 64)
PAGE_KEY = "reconstructions_page"  # A prefix: each view keeps a page number of its own.
LOOKUP_KEY = "reconstructions_lookup"
SELECTED_KEY = "reconstructions_selected"  # The test index the dialog shows.
OPEN_KEY = "reconstructions_open"  # Set by a callback to open the dialog on the rerun that follows.


@dataclass(frozen=True)
class View:
    """What the toolbar chose: which digits, in which order, ranked by which error, on which inputs."""

    digit: int | None  # None for all digits.
    order: str  # One of `core.inference.SORT_ORDERS`.
    error: str  # "bce" or "mse".
    noisy: bool  # Whether a denoiser is given noisy test images (never for other models).

    @property
    def digits_label(self) -> str:
        """The digits shown, in words ("all digits", "digit 3"), for the status line, file names and chart titles."""
        return "all digits" if self.digit is None else f"digit {self.digit}"


@dataclass(frozen=True)
class GridPage:
    """The page of ranked images on screen, and how its cards are drawn."""

    number: int  # From 1, as `st.pagination` counts.
    per_page: int
    shown: np.ndarray  # The test indices on this page, in the current order.
    show_difference: bool


def select(index: int) -> None:
    """Makes test image `index` the one the dialog shows (a Previous or Next click)."""
    st.session_state[SELECTED_KEY] = index


def inspect(index: int) -> None:
    """Selects test image `index` and asks for the dialog (an Inspect click)."""
    # Callbacks run before the rerun they cause, which opens the dialog once and forgets the request.
    select(index)
    st.session_state[OPEN_KEY] = True


def inspect_typed_index() -> None:
    """Inspects the test index typed into the lookup box, if any."""
    if st.session_state.get(LOOKUP_KEY) is not None:
        inspect(int(st.session_state.pop(LOOKUP_KEY)))  # Emptied, so typing the same index again opens it again.


def card_caption(report: TestSetReport, index: int, error: str) -> str:
    """Markdown under a card: index and digit, then both errors, the one sorted by in bold."""
    values = {name: f"{name.upper()} {report.errors(name)[index]:.4f}" for name in ERROR_LABELS}
    values[error] = f"**{values[error]}**"
    return f"**#{index}** · digit {report.labels[index]}  \n{values['bce']}  \n{values['mse']}"


def png_title(report: TestSetReport, index: int, error: str) -> str:
    """The title above one image in a downloaded PNG: index and digit, then the error sorted by."""
    return f"#{index} · digit {report.labels[index]}\n{error.upper()} {report.errors(error)[index]:.4f}"


def controls_ui(run: RunInfo) -> View:
    """The toolbar: the digit (or all), the order, the error to rank by and, for a denoiser, its inputs."""
    trained_with = "mse" if run.spec is not None and run.spec.training.loss == "mse" else "bce"
    with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
        digit = st.segmented_control("Digit", DIGITS, default="All", required=True, key="reconstructions_digit")
        order = st.segmented_control("Sort by error", SORT_ORDERS, default="worst", required=True,
                                     format_func=SORT_LABELS.get, key="reconstructions_order")  # fmt: skip
        error = st.segmented_control(
            "Error", tuple(ERROR_LABELS), default=trained_with, required=True,
            format_func=ERROR_LABELS.get, key="reconstructions_error",
            help="Binary cross-entropy or mean squared error: what the order and the charts use.",
        )  # fmt: skip
        noisy = run.is_denoiser and st.segmented_control(
            "Inputs", ("noisy", "clean"), default="noisy", required=True, format_func=str.capitalize,
            key="reconstructions_inputs", help="Give this denoiser test images corrupted with its training noise, "
            "as it is meant to be used, or clean ones. The errors are always against the clean images.",
        ) == "noisy"  # fmt: skip
    return View(digit=None if digit == "All" else int(digit), order=order, error=error, noisy=noisy)


def header_ui(run: RunInfo, report: TestSetReport, noisy: bool) -> None:
    """Which model this is, and how far its test loss is above the floor a perfect reconstruction scores."""
    floor, bce = test_floor("binary_crossentropy"), float(report.bce.mean())
    epochs = run.summary.get("epochs_completed", 0)
    trained = f"from `{run.imported_from}`" if run.imported_from else plural(epochs, "epoch")
    parts = [f"**{run.name}**", run.status, trained]
    parts += ["shipped pretrained"] * run.read_only + ["denoiser"] * run.is_denoiser
    inputs = " on noisy inputs" if noisy else ""
    st.markdown(" · ".join(parts) + f" · test BCE{inputs} **{bce:.4f}** (floor {floor:.4f}, +{bce - floor:.4f}) · "
                f"MSE **{float(report.mse.mean()):.4f}** (floor 0)")  # fmt: skip
    if run.status == "running":
        st.caption("This run is still training: these are its latest saved weights, reloaded after each epoch.")


def pager_ui(ranked: np.ndarray, view: View) -> GridPage:
    """The row above the grid: which images are shown, the Difference toggle, the page size and the page."""
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        status = st.container(width="stretch")  # First in the row, but written once the page is known.
        difference = st.toggle("Difference", key="reconstructions_difference",
                               help="Add a heat map of reconstruction minus original: blue where ink is missing, "
                               "red where ink is added, black where they agree.")  # fmt: skip
        per_page = st.selectbox("Per page", PER_PAGE, index=1, key="reconstructions_per_page", width=140,
                                format_func=lambda count: f"{count} per page",
                                label_visibility="collapsed")  # fmt: skip
        # Each view (digit, order, error, page size) keeps its own page number, so a new view opens at its first page.
        view_name = f"{view.digit}_{view.order}_{view.error}_{per_page}"
        number = st.pagination(page_count(len(ranked), per_page), key=f"{PAGE_KEY}_{view_name}")
    shown = page_of(ranked, number, per_page)
    first = (number - 1) * per_page + 1
    status.markdown(f"Images **{first:,}–{first + len(shown) - 1:,}** of **{len(ranked):,}** · {view.digits_label} · "
                    f"{SORT_LABELS[view.order].lower()} by {ERROR_LABELS[view.error]}")  # fmt: skip
    return GridPage(number=number, per_page=per_page, shown=shown, show_difference=difference)


def grid_ui(report: TestSetReport, page: GridPage, error: str) -> None:
    """One card per image on the page: its pictures stacked, its index, digit and errors, and an Inspect button."""
    with st.grid(8, min_column_width=90, gap="small", key="reconstructions_grid"):
        for index in map(int, page.shown):
            with st.container(gap="xxsmall"):
                noisy = None if report.inputs is None else report.inputs[index]
                picture = cell_image(report.images[index], report.reconstructions[index], noisy, page.show_difference)
                st.image(picture, width="stretch", output_format="PNG",
                         alt=f"Test image {index} and its reconstruction")  # fmt: skip
                st.caption(card_caption(report, index, error))
                st.button("Inspect", key=f"reconstructions_inspect_{index}", icon=":material/zoom_in:",
                          type="tertiary", on_click=inspect, args=(index,))  # fmt: skip


def grid_footer_ui(run: RunInfo, report: TestSetReport, view: View, page: GridPage) -> None:
    """The row below the grid: what each card shows, a box to inspect any test image by index, the PNG download."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        legend = " (blue: ink missing, red: ink added)" if page.show_difference else ""
        labels = panel_labels(report.inputs is not None, page.show_difference)
        st.caption(", ".join(labels) + legend + ", top to bottom.", width="content")
        st.space("stretch")
        st.number_input("Inspect test image #", min_value=0, max_value=len(report.labels) - 1, value=None, step=1,
                        placeholder="0 to 9999", key=LOOKUP_KEY, on_change=inspect_typed_index, width=170)  # fmt: skip
        shown = page.shown
        file_name = f"{run.run_id}-{view.digits_label.replace(' ', '-')}-{view.order}-page-{page.number}.png"
        st.download_button(
            "Download grid (PNG)", file_name=file_name,
            data=partial(grid_png, report.images[shown], report.reconstructions[shown],
                         None if report.inputs is None else report.inputs[shown], page.show_difference,
                         [png_title(report, index, view.error) for index in shown]),  # Drawn only when clicked.
            mime="image/png", icon=":material/download:", on_click="ignore", key="reconstructions_download",
            help="The images on this page as the reference tutorial draws them: originals above reconstructions.",
        )  # fmt: skip


def detail_ui(report: TestSetReport, ranked: np.ndarray, error: str) -> None:
    """The selected image large, with its errors, its own floor and its rank; steps through the current order."""
    index = int(st.session_state[SELECTED_KEY])
    noisy = None if report.inputs is None else report.inputs[index]
    st.subheader(f"Test image #{index} · digit {report.labels[index]}")
    st.plotly_chart(detail_figure(report.images[index], report.reconstructions[index], noisy),
                    key="reconstructions_detail_chart", config={"displayModeBar": False})  # fmt: skip
    image_floor, bce, mse = float(report.bce_floors[index]), float(report.bce[index]), float(report.mse[index])
    bce_column, mse_column, rank_column = st.columns(3)
    bce_column.metric("BCE", f"{bce:.4f}", f"+{bce - image_floor:.4f} above its floor {image_floor:.4f}",
                      delta_color="off", delta_arrow="off",
                      help="A perfect reconstruction of this image scores its floor, not 0, because its grey pixels "
                      "are neither 0 nor 1.")  # fmt: skip
    mse_column.metric("MSE", f"{mse:.4f}", "floor 0", delta_color="off", delta_arrow="off")
    rank = worst_rank(report.errors(error), index)
    rank_column.metric(f"Rank by {ERROR_LABELS[error]}", f"{rank:,} of {len(report.labels):,}",
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
            data=partial(grid_png, report.images[[index]], report.reconstructions[[index]],
                         None if noisy is None else report.inputs[[index]], True, [png_title(report, index, error)]),
            on_click="ignore", key="reconstructions_detail_download",
        )  # fmt: skip


def inspect_dialog_ui(report: TestSetReport, ranked: np.ndarray, error: str) -> None:
    """Opens `detail_ui` in a dialog on the rerun an Inspect click or a typed index asked for, and only then."""
    # The request is popped, so the next rerun (any other click) does not open the dialog again.
    if st.session_state.pop(OPEN_KEY, False):
        st.dialog("Inspect a test image", width="large")(detail_ui)(report, ranked, error)


def summary_ui(report: TestSetReport, ranked: np.ndarray, view: View) -> None:
    """The mean error of each digit beside a histogram of the errors of the images the view selects."""
    bars, histogram = st.columns(2)
    # A perfect reconstruction scores an MSE of 0 but a positive BCE (grey pixels), so only BCE has floors to mark.
    floors = report.class_floors("bce") if view.error == "bce" else None
    counts = np.bincount(report.labels, minlength=10)
    bars.plotly_chart(class_error_figure(report.class_means(view.error), view.error, floors, view.digit, counts),
                      key="reconstructions_class_chart")  # fmt: skip
    floor = test_floor("binary_crossentropy") if view.error == "bce" else 0.0
    title = f"Per-image {ERROR_LABELS[view.error]}, {view.digits_label} ({len(ranked):,} images)"
    histogram.plotly_chart(error_histogram_figure(report.errors(view.error)[ranked], view.error, floor, title=title),
                           key="reconstructions_histogram")  # fmt: skip
