"""Downloads for one run on the Train page: its model, its spec, a plain-Keras training script, its history."""

from __future__ import annotations

from functools import partial

import streamlit as st

from core.export import export_data, run_exports
from core.runs import RunInfo


def export_ui(runs: list[RunInfo]) -> None:
    """A run picker and one download button per file the picked run can export."""
    exportable = [run for run in runs if run.status != "damaged"]
    if not exportable:
        st.caption("No run to export yet.")
        return
    labels = {run.run_id: f"{run.name} ({run.run_id})" for run in exportable}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="train_export_run")
    run = next(run for run in exportable if run.run_id == run_id)
    exports = run_exports(run)
    with st.container(horizontal=True):
        for export in exports:
            # The data is a callable, so a file is read or generated only when its button is clicked.
            st.download_button(export.label, data=partial(export_data, run, export.kind), file_name=export.file_name,
                               mime=export.mime, icon=":material/download:", on_click="ignore",
                               key=f"train_export_{export.kind}")  # fmt: skip
    if not run.has_model:
        st.caption(f"This run has no saved model yet (status: {run.status}).")
    if run.imported_from:
        st.caption(f"This run was imported from `{run.imported_from}`: it has its model only, no spec or history.")
    elif run.spec is not None:
        st.caption(
            "The script rebuilds and trains the same model with plain Keras: `python "
            f"{run.run_id}-train.py --help` lists its options (a local MNIST file, fewer epochs or images, saving)."
        )
