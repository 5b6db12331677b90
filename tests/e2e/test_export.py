"""Export and import in a real browser: download every file a run exports, check each as its reader would, and
load a spec back in the sidebar.

The test has a server of its own over an empty store, so the shipped run is the only run: the Train page's export
picker shows it from the start, and no other test's runs (nor their training jobs, whose events redraw the page)
change what is on screen. Every step waits for the element or text that shows the app is ready, never a fixed time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect

from core import runs
from core.export import HISTORY_COLUMNS
from core.spec import ExperimentSpec
from tests.e2e.conftest import ROOT, assert_no_exception, open_page, screenshot, serve, wait_for_app

# Loads a model file as the studio does (safe mode, uncompiled) in a fresh interpreter, and prints what it is.
LOAD_MODEL = """
import json, sys
import keras
model = keras.saving.load_model(sys.argv[1], compile=False, safe_mode=True)
shapes = {"input": list(model.input_shape), "output": list(model.output_shape)}
print(json.dumps({"params": model.count_params(), **shapes}))
"""


def shipped_run() -> runs.RunInfo:
    return next(run for run in runs.list_runs(runs.PRETRAINED_DIR.parent / "no-such-store") if run.read_only)


def download(page: object, label: str, directory: Path) -> tuple[str, Path]:
    """Clicks a download button and returns the file's suggested name and where the browser saved it."""
    button = page.locator('[data-testid="stDownloadButton"]', has_text=label).first
    button.wait_for()
    with page.expect_download() as started:
        button.click()
    saved = started.value
    path = directory / saved.suggested_filename
    saved.save_as(path)
    return saved.suggested_filename, path


def load_spec(page: object, path: Path) -> None:
    """Opens the sidebar's "Load a spec" and hands it the file, as a person picking it in the file dialog."""
    expander = page.locator('[data-testid="stSidebar"] [data-testid="stExpander"]', has_text="Load a spec")
    if not expander.locator('[data-testid="stFileUploaderDropzone"]').is_visible():  # The input itself is hidden.
        expander.locator("summary").click()
    expander.locator('input[type="file"]').set_input_files(str(path))


def loaded_model(path: Path) -> dict:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", LOAD_MODEL, str(path)], capture_output=True, text=True,
                          timeout=180, env=environment, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_file_a_run_exports_downloads_and_reads_back_and_a_spec_loads_as_the_draft(
    page: object, tmp_path: Path
) -> None:
    run = shipped_run()
    saved = tmp_path / "downloads"
    saved.mkdir()
    with serve(tmp_path / "runs", tmp_path / "export-server.log") as served:
        page.goto(f"{served.url}/train")
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text("Export a run").first.wait_for()
        export = main.locator('[data-testid="stExpander"]', has_text="Export a run")
        export.locator("summary").click()
        # The only run of a new store is picked already: nothing to choose in a list that the page might redraw.
        expect(export.get_by_role("combobox", name="Run")).to_have_value(f"{run.name} ({run.run_id})", timeout=120_000)

        name, path = download(page, "Model (.keras)", saved)
        assert name == f"{run.run_id}-model.keras"
        assert path.read_bytes() == (run.path / "model.keras").read_bytes()
        assert loaded_model(path) == {"params": run.summary["params"], "input": [None, 28, 28, 1],
                                      "output": [None, 28, 28, 1]}  # fmt: skip
        name, path = download(page, "Spec (JSON)", saved)
        assert name == f"{run.run_id}-spec.json"
        assert ExperimentSpec.from_json(path.read_text()) == run.spec
        name, path = download(page, "Keras script (.py)", saved)
        assert name == f"{run.run_id}-train.py"
        assert path.read_text().startswith(f'"""Trains the `{run.spec.name}` autoencoder')
        name, path = download(page, "History (CSV)", saved)
        assert name == f"{run.run_id}-history.csv"
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert tuple(rows[0])[: len(HISTORY_COLUMNS)] == HISTORY_COLUMNS
        assert [float(row["loss"]) for row in rows] == [record["loss"] for record in runs.load_history(run)]
        assert_no_exception(page)
        screenshot(page, "export-train-page")

        open_page(page, "Reconstructions", "Download grid (PNG)")
        name, path = download(page, "Download grid (PNG)", saved)
        assert name.startswith(f"{run.run_id}-") and name.endswith(".png")
        with Image.open(path) as picture:
            picture.load()  # Decodes every pixel: a truncated or foreign file fails here.
            assert picture.format == "PNG" and picture.width > 100 and picture.height > 100

        # Back in, changed as a person might before sharing it: a new name and fewer epochs.
        spec = json.loads(run.spec.to_json())
        spec["name"], spec["training"]["epochs"] = "round-trip", 7
        (tmp_path / "round-trip.json").write_text(json.dumps(spec))
        page.goto(f"{served.url}/build")
        wait_for_app(page)
        load_spec(page, tmp_path / "round-trip.json")
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Loaded round-trip from round-trip.json.").wait_for()
        wait_for_app(page)
        settings = sidebar.locator('[data-testid="stExpander"]', has_text="Training settings")
        settings.locator("summary").click()
        assert page.get_by_label("Epochs", exact=True).input_value() == "7"
        assert_no_exception(page)
        screenshot(page, "export-spec-loaded")

        (tmp_path / "broken.json").write_text('{"encoder": [')
        load_spec(page, tmp_path / "broken.json")
        sidebar.get_by_text("broken.json was not loaded. Invalid JSON in spec").wait_for()
        wait_for_app(page)
        assert page.get_by_label("Epochs", exact=True).input_value() == "7"  # The draft stays as it was.
        assert_no_exception(page)
