"""Export and import through AppTest: the Train page's downloads for a run, and a spec JSON loaded in the sidebar."""

from __future__ import annotations

import ast
import csv
import io
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core import runs
from core.edits import set_argument
from core.presets import preset
from core.shapes import infer_shapes
from core.spec import MAX_SPEC_BYTES, ExperimentSpec, NoiseSpec
from tests.ui.conftest import open_page
from ui import state

TRAIN_PAGE = "app_pages/train.py"
BUILD_PAGE = "app_pages/build.py"


@pytest.fixture
def deferred_downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """The callables behind deferred download buttons, by file id, as Streamlit would run them on a click."""
    callables: dict[str, Callable[[], Any]] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self: MediaFileManager, data_callable: Callable[[], Any], *arguments: Any, **keywords: Any) -> str:
        file_id = original(self, data_callable, *arguments, **keywords)
        callables[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return callables


def downloads(app: AppTest, callables: dict[str, Callable[[], Any]]) -> dict[str, tuple[str, bytes]]:
    """The export buttons on screen: kind -> (label, the file's bytes as a click downloads them)."""
    found = {}
    for button in app.get("download_button"):
        key = button.proto.id.rsplit("train_export_", 1)
        if len(key) == 2:
            found[key[1]] = (button.proto.label, callables[button.proto.deferred_file_id]())
    return found


def test_the_train_page_downloads_a_shipped_runs_model_spec_script_and_history(
    app: AppTest, deferred_downloads: dict[str, Callable[[], Any]]
) -> None:
    open_page(app, TRAIN_PAGE)
    run = next(run for run in runs.list_runs(runs.default_runs_dir()) if run.read_only)
    app.selectbox(key="train_export_run").set_value(run.run_id).run()
    files = downloads(app, deferred_downloads)
    assert {kind: label for kind, (label, _) in files.items()} == {
        "model": "Model (.keras)", "spec": "Spec (JSON)", "script": "Keras script (.py)", "history": "History (CSV)",
    }  # fmt: skip
    assert files["model"][1] == (run.path / "model.keras").read_bytes()
    assert ExperimentSpec.from_json(files["spec"][1].decode()) == run.spec
    script = files["script"][1].decode()
    ast.parse(script)
    assert f"({infer_shapes(run.spec).params:,} parameters)" in script
    rows = list(csv.DictReader(io.StringIO(files["history"][1].decode())))
    assert [float(row["loss"]) for row in rows] == [record["loss"] for record in runs.load_history(run)]


def test_an_empty_store_still_offers_the_shipped_run_and_says_nothing_else(app: AppTest) -> None:
    open_page(app, TRAIN_PAGE)
    assert app.selectbox(key="train_export_run").options


def upload(app: AppTest, name: str, data: bytes) -> AppTest:
    app.file_uploader(key="sidebar_spec_upload").set_value((name, data, "application/json")).run()
    assert not app.exception, [exception.value for exception in app.exception]
    return app


def test_an_uploaded_spec_becomes_the_draft_and_the_sidebar_and_build_page_show_it(app: AppTest) -> None:
    spec = replace(preset("strided"), name="from-a-friend").with_training(
        epochs=7, batch_size=150, learning_rate=0.004, noise=NoiseSpec("salt_pepper", 0.25), seed=3
    )
    open_page(app, BUILD_PAGE)
    upload(app, "friend.json", spec.to_json().encode())
    assert app.session_state[state.SPEC_KEY] == spec
    assert [success.value for success in app.sidebar.success] == ["Loaded from-a-friend from friend.json."]
    assert app.number_input(key="sidebar_epochs").value == 7
    assert app.number_input(key="sidebar_batch_size").value == 150
    assert app.selectbox(key="sidebar_noise_kind").value == "salt_pepper"
    assert app.slider(key="sidebar_noise_amount").value == 0.25
    # The Build page shows the uploaded architecture: its parameter count, and the same spec after other reruns.
    params = f"{infer_shapes(spec).params:,}"
    assert any(params in str(metric.value) for metric in app.main.metric), [m.value for m in app.main.metric]
    app.switch_page(TRAIN_PAGE).run()
    assert app.session_state[state.SPEC_KEY] == spec


BAD_FILES = {
    "not JSON": (b"{encoder: [", "Invalid JSON in spec"),
    "not UTF-8": (b'{"name": "\xff"}', "Expected UTF-8 JSON text"),
    "nested too deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "too large": (b" " * (MAX_SPEC_BYTES + 1), f"Expected a spec of at most {MAX_SPEC_BYTES:,} bytes"),
    "unknown key": (json.dumps({**preset("seed").to_dict(), "momentum": 0.9}).encode(), "Unrecognized key `momentum`"),
    "wrong type": (
        json.dumps(
            {**preset("seed").to_dict(), "encoder": [{**preset("seed").encoder[0].to_dict(), "filters": "3"}]}
        ).encode(),
        "Received filters='3'",
    ),
    "learning rate below the sidebar's": (
        preset("seed").with_training(learning_rate=0.000001).to_json().encode(),
        "Received learning_rate=1e-06.",
    ),
    "validation split above the sidebar's": (
        preset("seed").with_training(validation_split=0.6).to_json().encode(),
        "Received validation_split=0.6.",
    ),
    "output not 28x28x1": (
        set_argument(preset("seed"), "decoder", 2, "kernel_size", 4).to_json().encode(),
        "Invalid architecture",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_an_invalid_spec_file_is_refused_with_the_reason_and_the_draft_stays(app: AppTest, name: str) -> None:
    data, message = BAD_FILES[name]
    open_page(app, BUILD_PAGE)
    before = app.session_state[state.SPEC_KEY]
    upload(app, "bad.json", data)
    errors = [error.value for error in app.sidebar.error]
    assert len(errors) == 1 and errors[0].startswith("bad.json was not loaded. "), errors
    assert message in errors[0]
    assert app.session_state[state.SPEC_KEY] == before
