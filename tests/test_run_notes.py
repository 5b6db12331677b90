"""Tests for the notes and tags of a run in core.runs: what is accepted, what is refused, and who may change them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import runs
from core.presets import preset
from core.runs import RunStoreError


def completed(root: Path) -> Path:
    path = runs.create_run(preset("strided"), root)
    runs.update_summary(path, status="completed", test_loss=0.07)
    return path


def test_a_note_and_tags_are_stored_in_the_summary_and_read_back(runs_dir: Path) -> None:
    path = completed(runs_dir)
    run = runs.annotate_run(path.name, "  wider decoder, lr 3e-3  ", " baseline,wide , , Wide,ünïcode ", runs_dir)
    assert run.note == "wider decoder, lr 3e-3"
    assert run.tags == ("baseline", "wide", "ünïcode")  # Stripped, empty ones dropped, repeats kept once.
    summary = json.loads((path / "summary.json").read_text())
    assert summary["note"] == run.note and summary["tags"] == list(run.tags)
    assert summary["status"] == "completed" and summary["test_loss"] == 0.07  # Nothing else changes.
    cleared = runs.annotate_run(path.name, "", "", runs_dir)
    assert cleared.note == "" and cleared.tags == ()


def test_a_run_without_notes_or_with_hand_edited_ones_reads_as_empty(runs_dir: Path) -> None:
    path = completed(runs_dir)
    assert runs.load_run(path.name, runs_dir).note == "" and runs.load_run(path.name, runs_dir).tags == ()
    runs.update_summary(path, note=7, tags=["ok", 3, None])
    run = runs.load_run(path.name, runs_dir)
    assert run.note == "" and run.tags == ("ok",)
    runs.update_summary(path, tags="not a list")
    assert runs.load_run(path.name, runs_dir).tags == ()


@pytest.mark.parametrize(
    ("note", "tags", "message"),
    [
        ("x" * 201, "", "Invalid value for `note`. Expected one line of at most 200 characters without control"),
        ("two\nlines", "", "Invalid value for `note`."),
        ("bell \x07", "", "Invalid value for `note`."),
        ("reversed \u202etext", "", "Invalid value for `note`."),
        ("", "ok, " + "y" * 25, "Invalid tag 'yyyyyyyyyyyyyyyyyyyyyyyyy'. Expected at most 24 characters"),
        ("", "ok, tab\there", "Invalid tag 'tab\\there'."),
        ("", ",".join(f"tag{number}" for number in range(9)), "Expected at most 8 tags. Received 9."),
        (None, "", "Invalid value for `note`."),
        ("", None, "Invalid value for `tags`. Expected comma-separated text. Received None."),
    ],
)
def test_bad_notes_and_tags_are_refused_and_nothing_is_written(
    runs_dir: Path, note: object, tags: object, message: str
) -> None:
    path = completed(runs_dir)
    before = (path / "summary.json").read_text()
    with pytest.raises(RunStoreError) as raised:
        runs.annotate_run(path.name, note, tags, runs_dir)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert (path / "summary.json").read_text() == before


def test_limits_are_inclusive(runs_dir: Path) -> None:
    tags = ",".join(f"{number}" + "t" * 23 for number in range(8))
    run = runs.annotate_run(completed(runs_dir).name, "n" * 200, tags, runs_dir)
    assert len(run.note) == 200 and len(run.tags) == 8 and {len(tag) for tag in run.tags} == {24}


def test_a_shipped_run_refuses_notes_with_a_clear_message(runs_dir: Path, shipped_dir: Path) -> None:
    shutil.move(completed(runs_dir), shipped_dir / "shipped-run")
    before = (shipped_dir / "shipped-run" / "summary.json").read_text()
    with pytest.raises(RunStoreError, match="'shipped-run' ships with the studio and cannot be given a note or tags"):
        runs.annotate_run("shipped-run", "mine", "a", runs_dir)
    assert (shipped_dir / "shipped-run" / "summary.json").read_text() == before


def test_damaged_and_missing_runs_refuse_notes(runs_dir: Path) -> None:
    path = completed(runs_dir)
    (path / "config.json").write_text("{")
    with pytest.raises(RunStoreError, match="is damaged"):
        runs.annotate_run(path.name, "note", "", runs_dir)
    with pytest.raises(RunStoreError, match="No run 'nothing-here'"):
        runs.annotate_run("nothing-here", "note", "", runs_dir)


def test_a_note_written_while_training_survives_the_next_epochs_update(runs_dir: Path) -> None:
    path = completed(runs_dir)
    runs.annotate_run(path.name, "keep me", "kept", runs_dir)
    runs.update_summary(path, epochs_completed=3, loss=0.1)  # What a training worker writes each epoch.
    run = runs.load_run(path.name, runs_dir)
    assert run.note == "keep me" and run.tags == ("kept",) and run.summary["epochs_completed"] == 3
