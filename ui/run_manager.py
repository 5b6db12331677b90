"""The run table of the Train page: every run in the store with its metrics; rename or delete one."""

from __future__ import annotations

import streamlit as st

from core.runs import RunStoreError, default_runs_dir, delete_run, list_runs, rename_run


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
        }
        for run in runs
    ]
    st.dataframe(rows, hide_index=True, key="train_runs_table",
                 column_config={name: st.column_config.NumberColumn(format="%.4f")
                                for name in ("loss", "val_loss", "test_loss")})  # fmt: skip
    editable = [run for run in runs if not run.read_only]
    if not editable:
        return
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
