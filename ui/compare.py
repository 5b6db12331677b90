"""The Compare page's widget groups: pick runs, then their loss curves, tables, reconstructions and digit errors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core.charts import digit_errors_figure, loss_curves_figure
from core.comparison import (
    MAX_RUNS,
    MIN_RUNS,
    differing_settings,
    digit_means,
    loss_curve,
    metrics_rows,
    sample_indices,
)
from core.inference import InferenceError
from core.losses import test_floor
from core.mnist import DataError
from core.pictures import comparison_png
from core.runs import RunInfo, RunStoreError, default_runs_dir, load_run
from ui.resources import get_test_report, model_version
from ui.sidebar import run_labels

SAMPLE_DIGITS = 8
PICKER_KEY = "compare_runs"
ADD_KEY = "compare_add_run"  # A run another page asked to add to the comparison (the Sweeps page's best trial).


@dataclass(frozen=True)
class RunDigest:
    """What the page keeps of one run's test report: small enough to cache for many runs at once."""

    digit_means: np.ndarray  # (10,) mean BCE of each digit.
    digit_floors: np.ndarray  # (10,) mean BCE floor of each digit (the same for every run).
    originals: np.ndarray  # (8, 28, 28, 1): the first test image of each digit 0-7.
    reconstructions: np.ndarray  # (8, 28, 28, 1): the run's outputs for them.
    mean_bce: float  # Over all 10,000 test images.


# The test report holds all 10,000 reconstructions (31 MB) and only two are cached, so four runs would push each
# other out on every rerun; the digest keeps the little the page shows, for up to 16 versions of runs.
@st.cache_data(show_spinner=False, max_entries=16)
def _digest(run_id: str, version: float, runs_dir: str) -> RunDigest:
    report = get_test_report(load_run(run_id, runs_dir))
    samples = sample_indices(report.labels, SAMPLE_DIGITS)
    return RunDigest(
        digit_means=digit_means(report.bce, report.labels),
        digit_floors=digit_means(report.bce_floors, report.labels),
        originals=report.images[samples],
        reconstructions=report.reconstructions[samples],
        mean_bce=float(report.bce.mean()),
    )


def picker_ui(runs: list[RunInfo]) -> list[RunInfo]:
    """Picks 2 to 4 runs, the two newest to begin with; returns them in the order picked."""
    labels = run_labels(runs)  # Runs that would read the same also show their run id.
    added = st.session_state.pop(ADD_KEY, None)
    if added in labels:  # Put first, beside the runs picked before (or the newest), up to the limit.
        earlier = [run_id for run_id in st.session_state.get(PICKER_KEY, list(labels)[:MIN_RUNS]) if run_id in labels]
        st.session_state[PICKER_KEY] = [added, *[run_id for run_id in earlier if run_id != added]][:MAX_RUNS]
    # A default beside a value set through session state would make Streamlit warn on the page.
    default = None if PICKER_KEY in st.session_state else list(labels)[:MIN_RUNS]
    picked = st.multiselect(
        "Runs to compare", list(labels), default=default, format_func=labels.get,
        max_selections=MAX_RUNS, key=PICKER_KEY, placeholder="Pick 2 to 4 runs",
        help="Runs with a trained model, newest first, then the ones shipped with the studio.",
    )  # fmt: skip
    by_id = {run.run_id: run for run in runs}
    return [by_id[run_id] for run_id in picked]


def loss_curves_ui(runs: list[RunInfo], names: list[str]) -> None:
    """The runs' train and validation losses per epoch, overlaid, with the floor."""
    curves = [loss_curve(run, name) for run, name in zip(runs, names, strict=True)]
    st.plotly_chart(loss_curves_figure(curves), key="compare_loss_chart", config={"displaylogo": False})
    if len({curve.loss_name for curve in curves}) > 1:
        st.caption("These runs trained with different losses, so their curves are in different units.")
    imported = [name for run, name in zip(runs, names, strict=True) if run.imported_from]
    if imported:
        st.caption(f"Imported models have no training history, so no curve: {', '.join(imported)}.")


def tables_ui(runs: list[RunInfo]) -> None:
    """The settings that differ between the runs, and their final metrics, one column per run."""
    settings, metrics = st.columns(2)
    with settings:
        st.markdown("**Settings that differ**")
        rows = differing_settings(runs)
        if rows:
            st.table(pd.DataFrame(rows).set_index("setting"))
        else:
            st.caption("None: these runs share every setting of the spec, backend, device and precision.")
        imported = [run.name for run in runs if run.spec is None]
        if imported:
            st.caption(f"Imported models have no settings, so they show — and take no part: {', '.join(imported)}.")
    with metrics:
        st.markdown("**Final metrics**")
        st.table(pd.DataFrame(metrics_rows(runs)).set_index("metric"))


def digests_ui(runs: list[RunInfo]) -> list[RunDigest] | None:
    """Each run's digest of the test set, measured in the inference worker; None after showing why it failed."""
    try:
        with st.spinner("Reconstructing the 10,000 test images with each run..."):
            return [_digest(run.run_id, model_version(run), str(default_runs_dir())) for run in runs]
    except (RunStoreError, DataError, InferenceError) as problem:
        # A damaged model file, MNIST missing, or the model worker stopped (the next run starts a new one).
        st.error(str(problem))
        return None


def reconstructions_ui(names: list[str], digests: list[RunDigest]) -> None:
    """The first test image of each digit 0-7 and each run's reconstruction of it, one row per run."""
    png = comparison_png(
        digests[0].originals,
        [digest.reconstructions for digest in digests],
        names,
        titles=[f"digit {digit}" for digit in range(SAMPLE_DIGITS)],
    )
    caption = "The first test image of each digit 0-7, and each run's reconstruction of it."
    st.image(png, output_format="PNG", caption=caption)


def digit_errors_ui(names: list[str], digests: list[RunDigest]) -> None:
    """Grouped bars of each run's mean BCE per digit, with the floor, and each run's mean over the test set."""
    figure = digit_errors_figure(names, [digest.digit_means for digest in digests], digests[0].digit_floors)
    st.plotly_chart(figure, key="compare_digit_chart", config={"displaylogo": False})
    means = " · ".join(f"{name} **{digest.mean_bce:.4f}**" for name, digest in zip(names, digests, strict=True))
    st.caption(f"Mean BCE over the 10,000 test images: {means} (floor {test_floor('binary_crossentropy'):.4f}).")
