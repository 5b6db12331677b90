"""What a run exports: the model file as saved, the spec that reads back, the script, the history as CSV."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from core import jobs, runs
from core.export import export_data, history_csv, run_exports
from core.presets import preset
from core.shapes import infer_shapes
from core.spec import ExperimentSpec

SECRET = "studio-export-secret-4b9e2d"  # Put in the environment; no exported file may hold it.
SHIPPED = sorted(path for path in runs.PRETRAINED_DIR.iterdir() if path.is_dir())


def shipped_run() -> runs.RunInfo:
    return runs.read_run(SHIPPED[0], read_only=True)


def test_a_shipped_run_exports_its_model_spec_script_and_history() -> None:
    run = shipped_run()
    exports = {export.kind: export for export in run_exports(run)}
    assert list(exports) == ["model", "spec", "script", "history"]
    assert exports["model"].file_name == f"{run.run_id}-model.keras"
    assert exports["spec"].file_name == f"{run.run_id}-spec.json"
    assert exports["script"].file_name == f"{run.run_id}-train.py"
    assert exports["history"].file_name == f"{run.run_id}-history.csv"

    assert export_data(run, "model") == (run.path / "model.keras").read_bytes()
    assert ExperimentSpec.from_json(export_data(run, "spec").decode()) == run.spec
    script = export_data(run, "script").decode()
    ast.parse(script)
    assert f"({infer_shapes(run.spec).params:,} parameters)" in script
    rows = list(csv.DictReader(io.StringIO(export_data(run, "history").decode())))
    history = runs.load_history(run)
    assert len(rows) == len(history) == run.spec.training.epochs
    for row, record in zip(rows, history, strict=True):
        assert int(row["epoch"]) == record["epoch"]
        assert float(row["loss"]) == record["loss"]
        assert float(row["val_loss"]) == record["val_loss"]


def test_history_csv_has_fixed_columns_then_any_others_and_empty_cells_for_none() -> None:
    records = [
        {"epoch": 1, "loss": 0.25, "val_loss": None, "seconds": 2.5, "images_per_second": 100.0},
        {"epoch": 2, "loss": 0.125, "val_loss": 0.5, "seconds": 2.0, "images_per_second": 125.0, "extra": "x"},
    ]
    assert history_csv(records) == (
        "epoch,loss,val_loss,seconds,images_per_second,extra\n1,0.25,,2.5,100.0,\n2,0.125,0.5,2.0,125.0,x\n"
    )
    assert history_csv([]) == "epoch,loss,val_loss,seconds,images_per_second\n"


def test_a_run_without_a_model_exports_the_rest_and_refuses_the_model(runs_dir: Path) -> None:
    path = jobs.submit(preset("strided"), 600, runs_dir, start=False)
    run = runs.read_run(path)
    assert [export.kind for export in run_exports(run)] == ["spec", "script", "history"]
    with pytest.raises(runs.RunStoreError, match="has no saved model yet"):
        export_data(run, "model")
    assert export_data(run, "history") == b"epoch,loss,val_loss,seconds,images_per_second\n"
    with pytest.raises(ValueError, match="Received kind='weights'"):
        export_data(run, "weights")


def test_the_script_of_a_run_trains_with_the_precision_auto_became_and_the_spec_keeps_auto(runs_dir: Path) -> None:
    path = jobs.submit(preset("seed"), 600, runs_dir, start=False)
    assert runs.read_run(path).spec.training.dtype_policy == "auto"
    assert "# The studio's precision `auto`" in export_data(runs.read_run(path), "script").decode()  # Not trained yet.
    runs.update_summary(path, dtype_policy="mixed_bfloat16")  # What a worker on a bfloat16 CPU writes.
    run = runs.read_run(path)
    script = export_data(run, "script").decode()
    assert 'keras.config.set_dtype_policy("mixed_bfloat16")' in script.splitlines()
    assert ExperimentSpec.from_json(export_data(run, "spec").decode()).training.dtype_policy == "auto"
    runs.update_summary(path, dtype_policy="float32")
    assert "# The studio computed in float32." in export_data(runs.read_run(path), "script").decode()


def _texts(run: runs.RunInfo) -> dict[str, str]:
    texts = {}
    for export in run_exports(run):
        data = export_data(run, export.kind)
        if export.kind == "model":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.namelist():
                    if member.endswith(".json"):
                        texts[f"model.keras/{member}"] = archive.read(member).decode()
        else:
            texts[export.file_name] = data.decode()
    return texts


@pytest.mark.parametrize("which", ["shipped", "new"])
def test_no_exported_file_holds_a_secret_or_a_path_of_this_machine(
    which: str, runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDIO_API_TOKEN", SECRET)
    if which == "shipped":
        run = shipped_run()
    else:
        path = jobs.submit(preset("denoising"), 600, runs_dir, start=False)
        runs.append_history(path, {"epoch": 1, "loss": 0.3, "val_loss": 0.31, "seconds": 1.0})
        runs.update_summary(path, status="completed", message="Completed 1 epoch.")
        (path / "model.keras").write_bytes((SHIPPED[0] / "model.keras").read_bytes())
        run = runs.read_run(path)
    home = str(Path.home())
    forbidden = [str(runs.PROJECT_ROOT), str(tmp_path), SECRET, *([home] if home not in ("/", "") else [])]
    texts = _texts(run)
    assert len(texts) >= 5
    for name, text in texts.items():
        for word in forbidden:
            assert word not in text, f"{name}: {word!r}"
        assert not re.search(r"""["'](/|~/|[A-Za-z]:\\)""", text), f"{name}: a string that is an absolute path"
        if name.endswith(".json"):
            json.loads(text)
