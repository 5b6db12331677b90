"""The run table of the Train page: every run in the store with its metrics; rename, delete or annotate one.

`notes_ui` edits a run's note and tags; the Compare page uses it too.
"""

from __future__ import annotations

import streamlit as st

from core.runs import (
    MAX_NOTE_CHARS,
    RunInfo,
    RunStoreError,
    annotate_run,
    default_runs_dir,
    delete_run,
    list_runs,
    rename_run,
)


def runs_ui() -> None:
    """Every run in the store with its metrics, and a form to rename or delete one."""
    runs = list_runs(default_runs_dir())
    if not runs:
        st.caption("No runs yet.")
        return
    rows = [
        {
            "run": run.run_id,
            "name": run.name,
            "status": run.status,
            "epochs": f"{run.summary.get('epochs_completed', 0)}/{run.spec.training.epochs}" if run.spec else "",
            "loss": run.summary.get("loss"),
            "val_loss": run.summary.get("val_loss"),
            "test_loss": run.test_loss,
            "denoiser": run.is_denoiser,
            "backend": run.summary.get("backend", ""),
            "device": run.summary.get("device", ""),
            "precision": run.summary.get("dtype_policy", ""),
            "shipped": run.read_only,
            "tags": ", ".join(run.tags),
            "note": run.note,
        }
        for run in runs
    ]
    st.dataframe(rows, hide_index=True, key="train_runs_table",
                 column_config={name: st.column_config.NumberColumn(format="%.4f")
                                for name in ("loss", "val_loss", "test_loss")})  # fmt: skip
    editable = [run for run in runs if not run.read_only]
    if not editable:
        return
    with st.expander("Notes and tags"):
        notes_ui([run for run in editable if run.status != "damaged"], "train_notes")
    labels = {run.run_id: f"{run.name} ({run.run_id})" for run in editable}
    with st.expander("Rename or delete a run"):
        run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="train_manage_run")
        name = st.text_input("New name", key="train_new_name", max_chars=64)
        rename, delete = st.columns(2)
        try:
            if rename.button("Rename", key="train_rename", disabled=not name.strip()):
                rename_run(run_id, name, default_runs_dir())
                st.rerun(scope="app")
            if delete.button("Delete", key="train_delete", type="secondary"):
                delete_run(run_id, default_runs_dir())
                st.rerun(scope="app")
        except RunStoreError as error:
            st.error(str(error))


def notes_ui(runs: list[RunInfo], key: str) -> None:
    """A form to set the note and tags of one of `runs`; `key` prefixes its widget keys (the page's name first).

    A shipped run is shown read-only, with the reason.
    """
    if not runs:
        st.caption("No run to annotate.")
        return
    labels = {run.run_id: f"{run.name} ({run.run_id})" for run in runs}
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key=f"{key}_run")
    run = next(run for run in runs if run.run_id == run_id)
    # Keyed by run, so that picking another run shows its own note and tags rather than the last ones typed.
    note = st.text_input("Note", value=run.note, max_chars=MAX_NOTE_CHARS, key=f"{key}_note_{run_id}",
                         disabled=run.read_only, placeholder="What this run tried, in a line")  # fmt: skip
    tags = st.text_input("Tags", value=", ".join(run.tags), key=f"{key}_tags_{run_id}", disabled=run.read_only,
                         placeholder="baseline, wide", help="Separated by commas.")  # fmt: skip
    if run.read_only:
        st.caption("This run ships with the studio and is read-only: its note and tags cannot be changed.")
        return
    if st.button("Save note and tags", key=f"{key}_save"):
        try:
            annotate_run(run_id, note, tags, default_runs_dir())
        except RunStoreError as error:
            st.error(str(error))
            return
        st.toast(f"Saved the note and tags of {run.name}.", icon=":material/sell:")
        st.rerun(scope="app")
