"""The Compare page through AppTest: the missing-runs message, then two and three runs side by side, and notes.

The runs are copies of the shipped pretrained run (no training here), with their spec, summary and history edited
so that they differ; their models are the same file, which the page runs in the real inference worker.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core import runs
from tests.ui.conftest import open_page

PAGE = "app_pages/compare.py"
SHIPPED = next(path for path in sorted(runs.PRETRAINED_DIR.iterdir()) if (path / "model.keras").is_file())


def copy_run(store: Path, run_id: str, name: str, learning_rate: float, losses: list[float], **summary: Any) -> Path:
    """A copy of the shipped run as `run_id`, named `name`, with its learning rate and loss history changed."""
    path = store / run_id
    shutil.copytree(SHIPPED, path)
    config = json.loads((path / "config.json").read_text())
    config["spec"]["training"]["learning_rate"] = learning_rate
    (path / "config.json").write_text(json.dumps(config))
    records = [{"epoch": epoch, "loss": loss, "val_loss": loss + 0.001} for epoch, loss in enumerate(losses, 1)]
    (path / "history.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    runs.update_summary(path, run_id=run_id, name=name, **summary)
    return path


@pytest.fixture(autouse=True)
def no_pretrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty stand-in for the shipped runs, so each test sees exactly the store it was given."""
    (tmp_path / "no-pretrained").mkdir()
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    return tmp_path / "no-pretrained"


@pytest.fixture
def three_runs(runs_dir: Path) -> list[str]:
    """Three runs, newest first by id: two that differ in learning rate and backend, and an older third."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    copy_run(runs_dir, "20260101-000003-fast", "fast", 0.01, [0.09, 0.07, 0.065], backend="jax", test_loss=0.066)
    copy_run(runs_dir, "20260101-000002-slow", "slow", 0.001, [0.2, 0.1], backend="tensorflow", tags=["baseline"])
    copy_run(runs_dir, "20260101-000001-old", "old", 0.003, [0.3], backend="tensorflow")
    return ["20260101-000003-fast", "20260101-000002-slow", "20260101-000001-old"]


def table(app: AppTest, index: int) -> dict[str, dict[str, str]]:
    """A `st.table` as {row label: {column: value}}."""
    return app.table[index].value.to_dict(orient="index")


def chart(app: AppTest, key: str) -> dict[str, Any]:
    (found,) = [element for element in app.get("plotly_chart") if element.proto.id.endswith(key)]
    return json.loads(found.proto.spec)


@pytest.mark.parametrize("count", [0, 1])
def test_with_fewer_than_two_runs_the_page_says_how_to_get_some(app: AppTest, runs_dir: Path, count: int) -> None:
    runs_dir.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        copy_run(runs_dir, f"20260101-00000{number}-only", "only", 0.001, [0.1])
    open_page(app, PAGE)
    assert "Comparing needs at least two trained runs" in app.info[0].value
    assert ("one trained run" if count else "no trained run") in app.info[0].value
    assert not app.get("plotly_chart") and not app.table and not app.image


@pytest.mark.slow  # Starts the inference worker, which imports TensorFlow and reconstructs the test set per run.
def test_two_runs_side_by_side_then_a_third(app: AppTest, three_runs: list[str]) -> None:
    open_page(app, PAGE)
    picker = app.multiselect(key="compare_runs")
    assert picker.value == three_runs[:2]  # The two newest to begin with.

    losses = chart(app, "compare_loss_chart")
    names = [trace["name"] for trace in losses["data"]]
    assert names == ["fast · train", "fast · validation", "slow · train", "slow · validation"]
    assert losses["data"][0]["y"] == [0.09, 0.07, 0.065] and losses["data"][2]["x"] == [1, 2]
    assert losses["layout"]["shapes"][0]["y0"] == pytest.approx(0.0581, abs=1e-4)

    settings, metrics = table(app, 0), table(app, 1)
    assert settings == {
        "learning_rate": {"fast": "0.01", "slow": "0.001"},
        "backend": {"fast": "jax", "slow": "tensorflow"},
    }
    assert metrics["test loss"]["fast"] == "0.066" and metrics["parameters"] == {"fast": "12,785", "slow": "12,785"}
    assert metrics["tags"] == {"fast": "—", "slow": "baseline"}

    assert len(app.image) == 1  # The digits 0-7: originals above, one row per run.
    digits = chart(app, "compare_digit_chart")
    bars = [trace for trace in digits["data"] if trace["type"] == "bar"]
    assert [bar["name"] for bar in bars] == ["fast", "slow"] and all(len(bar["x"]) == 10 for bar in bars)
    # Both copies hold the shipped seed-fast model: its test BCE, 0.0598 (summary.json), in the worker's measure.
    assert "Mean BCE over the 10,000 test images: fast **0.0598** · slow **0.0598**" in app.main.caption[-1].value

    picker.set_value(three_runs).run()
    assert not app.exception
    assert len(chart(app, "compare_loss_chart")["data"]) == 6
    assert table(app, 0)["learning_rate"] == {"fast": "0.01", "slow": "0.001", "old": "0.003"}

    app.multiselect(key="compare_runs").set_value(three_runs[:1]).run()
    assert app.info[0].value == "Pick at least two runs to compare them."


def test_a_note_and_tags_saved_on_the_compare_page_reach_the_summary(
    app: AppTest, three_runs: list[str], runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ui.compare.digests_ui", lambda picked: None)  # The model sections are not under test.
    open_page(app, PAGE)
    app.selectbox(key="compare_notes_run").set_value(three_runs[1]).run()
    app.text_input(key=f"compare_notes_note_{three_runs[1]}").input("lr 1e-3, the reference").run()
    app.text_input(key=f"compare_notes_tags_{three_runs[1]}").input("baseline, slow ,").run()
    app.button(key="compare_notes_save").click().run()
    assert not app.exception and not app.error
    summary = runs.read_summary(runs_dir / three_runs[1])
    assert summary["note"] == "lr 1e-3, the reference" and summary["tags"] == ["baseline", "slow"]
    assert table(app, 1)["tags"]["slow"] == "baseline, slow"

    app.text_input(key=f"compare_notes_tags_{three_runs[1]}").input("ok, bad\ttag").run()
    app.button(key="compare_notes_save").click().run()
    assert "Invalid tag 'bad\\ttag'" in app.error[0].value
    assert runs.read_summary(runs_dir / three_runs[1])["tags"] == ["baseline", "slow"]


def test_a_shipped_run_is_shown_read_only_in_the_notes_form(
    app: AppTest, runs_dir: Path, no_pretrained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ui.compare.digests_ui", lambda picked: None)
    runs_dir.mkdir(parents=True, exist_ok=True)
    copy_run(runs_dir, "20260101-000002-mine", "mine", 0.001, [0.1])
    copy_run(no_pretrained, "20250101-000001-shipped", "shipped", 0.003, [0.1])
    open_page(app, PAGE)
    app.selectbox(key="compare_notes_run").set_value("20250101-000001-shipped").run()
    assert app.text_input(key="compare_notes_note_20250101-000001-shipped").disabled
    assert "ships with the studio and is read-only" in app.main.caption[-1].value
    assert not [button for button in app.button if button.key == "compare_notes_save"]
