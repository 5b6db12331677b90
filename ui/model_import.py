"""The sidebar's "Import a model": a `.keras` file made elsewhere becomes an imported run and the active one.

It sits beside "Load a spec", the other file a user brings, and above the "Active run" picker that then shows the
imported model, so the Reconstructions, Draw and Layer explorer pages use it at once, whichever page is open.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from core.inference import InferenceError
from core.model_import import MAX_UPLOAD_BYTES, ModelImportError, import_model
from core.runs import default_runs_dir
from ui import state
from ui.resources import get_inference_worker

UPLOAD_KEY = "sidebar_model_upload"
RESULT_KEY = "studio_model_upload_result"  # (file id, message, whether it was imported) of the last file uploaded.


def _import(uploaded: UploadedFile) -> tuple[str, str, bool]:
    try:
        with st.spinner("Loading the model in the model worker..."):
            run = import_model(uploaded.getvalue(), uploaded.name, get_inference_worker(), default_runs_dir())
    except (ModelImportError, InferenceError) as error:  # A refused file, or the model worker stopped.
        return uploaded.file_id, f"{uploaded.name} was not imported. {error}", False
    state.activate_run(run.run_id)
    return uploaded.file_id, f"Imported {uploaded.name} as the run {run.name}, now the active run.", True


def model_import_ui() -> None:
    """A `.keras` file to import as a run; the outcome (the new active run, or why it was refused) shows below it."""
    uploaded = st.file_uploader(
        "Import a model (.keras)", type="keras", key=UPLOAD_KEY, max_upload_size=MAX_UPLOAD_BYTES // 2**20,
        help="A Keras model saved with `model.save(\"name.keras\")` whose input and output are 28x28x1 images: a "
        "model exported from a run, or your own. It joins the runs as imported; Lambda layers are refused.",
    )  # fmt: skip
    if uploaded is None:
        return
    # A widget click reruns the script with the same file still uploaded: it is imported once, on its first run.
    result = st.session_state.get(RESULT_KEY)
    if result is None or result[0] != uploaded.file_id:
        result = st.session_state[RESULT_KEY] = _import(uploaded)
    _, message, imported = result
    if imported:
        st.success(message, icon=":material/upload_file:")
    else:
        st.error(message)
