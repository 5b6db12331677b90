"""Importing a `.keras` model in the sidebar, through AppTest: the model becomes the active run, an imported one,
and every page that reads runs copes with a run that has no spec and no history; each bad file is refused with
the reason, and the store and the active run stay as they were."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core import runs
from tests.test_model_import import EARLY_REFUSALS, bad_models  # noqa: F401  `bad_models` is a fixture.
from tests.test_runs import write_zip_bomb
from tests.ui.conftest import active_run_picker, open_page
from tests.ui.test_export import deferred_downloads, downloads  # noqa: F401  `deferred_downloads` is a fixture.
from ui import state

UPLOADER = "sidebar_model_upload"


def shipped_run() -> runs.RunInfo:
    """The shipped seed-fast run: 12,785 parameters, its layers as the Layer explorer names them."""
    return runs.read_run(next(runs.PRETRAINED_DIR.glob("*-seed-fast")), read_only=True)


def import_file(app: AppTest, name: str, data: bytes) -> AppTest:
    """Hands the sidebar's "Import a model" a file, as a person picking it in the file dialog."""
    app.file_uploader(key=UPLOADER).set_value((name, data, "application/octet-stream")).run()
    assert not app.exception, [exception.value for exception in app.exception]
    return app


def imported_runs(runs_dir: Path) -> list[runs.RunInfo]:
    return runs.list_runs(runs_dir, include_pretrained=False)


def store_contents(runs_dir: Path) -> list[str]:
    """Every entry of the store, hidden ones included (a staging directory would be one)."""
    return sorted(path.name for path in runs_dir.iterdir()) if runs_dir.exists() else []


@pytest.mark.slow  # The inference worker loads the model, and the pages run it on the test set.
def test_an_imported_model_becomes_the_active_run_and_every_page_shows_it(
    app: AppTest,
    runs_dir: Path,
    deferred_downloads: dict[str, Callable[[], Any]],  # noqa: F811
) -> None:
    shipped = shipped_run()
    data = (shipped.path / "model.keras").read_bytes()
    open_page(app, "app_pages/home.py")
    import_file(app, "friend-model.keras", data)
    (run,) = imported_runs(runs_dir)
    assert [success.value for success in app.sidebar.success] == [
        "Imported friend-model.keras as the run friend-model, now the active run."
    ]
    assert active_run_picker(app).value == run.run_id == app.session_state[state.ACTIVE_RUN_KEY]
    assert "friend-model · imported" in active_run_picker(app).format_func(run.run_id)
    assert any("**friend-model** · imported · 12,785 parameters · from `friend-model.keras`" in markdown.value
               for markdown in app.main.markdown)  # fmt: skip

    open_page(app, "app_pages/train.py")
    table = next(frame.value for frame in app.dataframe if "status" in frame.value.columns)
    row = table[table["run"] == run.run_id].iloc[0]
    assert (row["name"], row["status"], row["epochs"]) == ("friend-model", "imported", "")
    app.selectbox(key="train_export_run").set_value(run.run_id).run()
    files = downloads(app, deferred_downloads)
    assert list(files) == ["model"] and files["model"][1] == data  # No spec, script or history to export.

    open_page(app, "app_pages/reconstructions.py")
    header = next(markdown.value for markdown in app.main.markdown if markdown.value.startswith("**friend-model**"))
    assert header.startswith("**friend-model** · imported · from `friend-model.keras` · test BCE ")
    # The same model as the shipped run's, so the same test loss as its training measured.
    assert float(re.search(r"test BCE \*\*([\d.]+)\*\*", header)[1]) == pytest.approx(shipped.test_loss, abs=5e-4)

    open_page(app, "app_pages/draw.py")
    assert app.main.caption[0].value.startswith("Model: **friend-model · imported")

    open_page(app, "app_pages/explorer.py")
    captions = [caption for image in app.image for caption in image.captions]
    assert "decoder_2_conv2d_transpose · 26x26x16" in captions and not app.info

    open_page(app, "app_pages/compare.py")  # The two newest: the imported run and a shipped one.
    assert not app.error
    assert any(caption.value == "Imported models have no training history, so no curve: friend-model."
               for caption in app.caption)  # fmt: skip
    assert any("Mean BCE over the 10,000 test images" in caption.value for caption in app.caption)


@pytest.mark.slow
def test_a_model_of_another_layout_works_on_reconstructions_and_the_explorer_says_why_it_cannot_show_it(
    app: AppTest,
    runs_dir: Path,
    bad_models: dict[str, bytes],  # noqa: F811
) -> None:
    open_page(app, "app_pages/explorer.py")
    import_file(app, "flat.keras", bad_models["flat autoencoder"])
    assert [info.value for info in app.info][0].startswith(
        "flat was imported from `flat.keras` and is not built as the studio's models are"
    )
    assert not app.image
    open_page(app, "app_pages/reconstructions.py")
    assert not app.error and app.main.image


def bad_file(case: str, tmp_path: Path, request: pytest.FixtureRequest) -> bytes:
    if case in EARLY_REFUSALS:
        return EARLY_REFUSALS[case][0](tmp_path / "upload")
    if case == "zip bomb":
        write_zip_bomb(tmp_path / "bomb.keras", 2_000_000)
        return (tmp_path / "bomb.keras").read_bytes()
    return request.getfixturevalue("bad_models")[case]  # Saved by Keras: only the slow cases import it.


BAD_FILES = {
    **{case: message for case, (_, message) in EARLY_REFUSALS.items()},
    "zip bomb": "Invalid model file: it would unpack to 2,000,002 bytes, more than the 1,000,000 of the largest model.",
    "lambda layer": "Invalid model file. Expected a model without Lambda layers. Received one with a Lambda layer, "
    "whose Python code would run as the model loads: Keras' safe mode (safe_mode=True), which the studio always loads "
    "models with, refuses it.",
    "wrong input": "Invalid model input. Expected shape (None, 28, 28, 1), a batch of 28x28x1 images, as an MNIST "
    "autoencoder's. Received shape=(None, 32, 32, 3).",
    "wrong output": "Invalid model output. Expected shape (None, 28, 28, 1), a batch of 28x28x1 images, as an MNIST "
    "autoencoder's. Received shape=(None, 10).",
}


@pytest.mark.parametrize(
    "case",
    # The Lambda layer and the shapes are found by the inference worker, which imports TensorFlow: slow.
    [case if case in EARLY_REFUSALS or case == "zip bomb" else pytest.param(case, marks=pytest.mark.slow)
     for case in BAD_FILES],
)  # fmt: skip
def test_a_bad_model_file_is_refused_with_the_reason_and_nothing_changes(
    app: AppTest,
    runs_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    case: str,
) -> None:
    monkeypatch.setattr(runs, "MAX_MODEL_BYTES", 1_000_000)  # The zip bomb's limit, scaled down from 1 GB.
    open_page(app, "app_pages/home.py")
    active = app.session_state[state.ACTIVE_RUN_KEY]
    import_file(app, "friend.keras", bad_file(case, tmp_path, request))
    errors = [error.value for error in app.sidebar.error]
    assert len(errors) == 1 and errors[0].startswith(f"friend.keras was not imported. {BAD_FILES[case]}"), errors
    assert not app.sidebar.success
    assert store_contents(runs_dir) == []  # No run, and no staging directory left.
    assert app.session_state[state.ACTIVE_RUN_KEY] == active
    app.switch_page("app_pages/build.py").run()  # The refusal stays with its file, and nothing is imported twice.
    assert [error.value for error in app.sidebar.error] == errors and store_contents(runs_dir) == []
