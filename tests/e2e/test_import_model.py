"""Importing a model in a real browser: a person hands the sidebar a `.keras` file, sees it as the active run and
on the Reconstructions page, then hands it a broken one and reads why it was refused."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from core import runs
from tests.e2e.conftest import assert_no_exception, open_page, screenshot, serve, wait_for_app


def import_model(page: object, path: Path) -> None:
    """Opens the sidebar's "Import a model" and hands it the file, as a person picking it in the file dialog."""
    expander = page.locator('[data-testid="stSidebar"] [data-testid="stExpander"]', has_text="Import a model")
    if not expander.locator('[data-testid="stFileUploaderDropzone"]').is_visible():  # The input itself is hidden.
        expander.locator("summary").click()
    expander.locator('input[type="file"]').set_input_files(str(path))


def test_an_imported_model_is_listed_and_reconstructs_and_a_broken_one_is_refused(page: object, tmp_path: Path) -> None:
    shipped = next(run for run in runs.list_runs(runs.PRETRAINED_DIR.parent / "no-such-store") if run.read_only)
    model = tmp_path / "friend-model.keras"  # The shipped model, as a person would have saved it from elsewhere.
    model.write_bytes((shipped.path / "model.keras").read_bytes())
    store = tmp_path / "runs"
    with serve(store, tmp_path / "import-server.log") as served:
        page.goto(served.url)
        wait_for_app(page)
        import_model(page, model)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("Imported friend-model.keras as the run friend-model, now the active run.").wait_for()
        wait_for_app(page)
        picker = sidebar.get_by_role("combobox", name="Active run")  # Its value is the picked run's label.
        expect(picker).to_have_value("friend-model · imported", timeout=120_000)
        (run,) = runs.list_runs(store, include_pretrained=False)
        assert (run.status, run.imported_from) == ("imported", "friend-model.keras")
        assert_no_exception(page)

        open_page(page, "Reconstructions", "Sort by error")
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text(re.compile(r"friend-model · imported · from friend-model\.keras · test BCE")).wait_for()
        header = main.get_by_text(re.compile(r"^friend-model · imported")).first.inner_text()
        bce = float(re.search(r"test BCE ([\d.]+)", header)[1])
        assert abs(bce - shipped.test_loss) < 5e-4, header  # The shipped model's own test loss.
        main.get_by_role("button", name="Download grid (PNG)").first.wait_for()
        assert_no_exception(page)
        screenshot(page, "import-reconstructions")

        broken = tmp_path / "broken.keras"  # A download cut off halfway.
        data = model.read_bytes()
        broken.write_bytes(data[: len(data) // 2])
        import_model(page, broken)
        sidebar.get_by_text(
            "broken.keras was not imported. Invalid model file. Expected a complete .keras archive. Received a zip "
            "archive that is truncated or damaged"
        ).wait_for()
        wait_for_app(page)
        assert [listed.run_id for listed in runs.list_runs(store, include_pretrained=False)] == [run.run_id]
        assert not list(store.glob(f"{runs.STAGING_PREFIX}*"))  # No staging directory left.
        expect(picker).to_have_value("friend-model · imported")  # The active run stays.
        assert_no_exception(page)
        screenshot(page, "import-refused")
