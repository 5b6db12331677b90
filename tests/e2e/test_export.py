"""Export and import in a real browser: download a run's spec JSON from the Train page, load it back in the sidebar."""

from __future__ import annotations

import json
from pathlib import Path

from core import runs
from core.spec import ExperimentSpec
from tests.e2e.conftest import assert_no_exception, screenshot, serve, wait_for_app


def shipped_run() -> runs.RunInfo:
    return next(run for run in runs.list_runs(runs.PRETRAINED_DIR.parent / "no-such-store") if run.read_only)


def download(page: object, label: str) -> tuple[str, bytes]:
    """Clicks a download button and returns the file's suggested name and its bytes as the browser saved them."""
    with page.expect_download() as started:
        page.locator('[data-testid="stDownloadButton"]', has_text=label).first.click()
    saved = started.value
    return saved.suggested_filename, Path(saved.path()).read_bytes()


def load_spec(page: object, path: Path) -> None:
    """Opens the sidebar's "Load a spec" and hands it the file, as a person picking it in the file dialog."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    expander = sidebar.locator('[data-testid="stExpander"]', has_text="Load a spec")
    if not expander.locator('[data-testid="stFileUploaderDropzone"]').is_visible():  # The input itself is hidden.
        expander.locator("summary").click()
    expander.locator('input[type="file"]').set_input_files(str(path))


def test_a_spec_downloaded_from_the_train_page_loads_back_as_the_draft(page: object, tmp_path: Path) -> None:
    # A server of its own over an empty store, so the shipped run is the only one to export: other tests' runs
    # (and their training jobs, which redraw the page) would crowd the picker.
    with serve(tmp_path / "runs", tmp_path / "server.log") as served:
        export_and_import(served.url, page, tmp_path)


def export_and_import(server: str, page: object, tmp_path: Path) -> None:
    run = shipped_run()
    page.goto(f"{server}/train")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Export a run").first.wait_for()
    export = main.locator('[data-testid="stExpander"]', has_text="Export a run")
    export.locator("summary").click()
    export.locator('[data-testid="stSelectbox"]').click()
    page.get_by_role("option", name=f"{run.name} ({run.run_id})", exact=True).click()
    main.locator('[data-testid="stDownloadButton"]', has_text="Spec (JSON)").first.wait_for()

    name, data = download(page, "Spec (JSON)")
    assert name == f"{run.run_id}-spec.json"
    assert ExperimentSpec.from_json(data.decode()) == run.spec
    name, data = download(page, "Keras script (.py)")
    assert name == f"{run.run_id}-train.py"
    assert data.decode().startswith(f'"""Trains the `{run.spec.name}` autoencoder')
    screenshot(page, "export-train-page")

    # Back in, changed as a person might before sharing it: a new name and fewer epochs.
    spec = json.loads(run.spec.to_json())
    spec["name"], spec["training"]["epochs"] = "round-trip", 7
    (tmp_path / "round-trip.json").write_text(json.dumps(spec))
    page.goto(f"{server}/build")
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
