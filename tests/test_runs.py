"""Tests for core.runs: writing and reading run directories, damaged and interrupted runs, shipped read-only
runs, ids that try to leave the store, and the `python -m core.runs` command line.

Every test has a store of its own (`runs_dir`) and no shipped runs unless it asks for `shipped_dir`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core import runs
from core.presets import preset
from core.runs import RunInfo, RunStoreError
from core.spec import ExperimentSpec, NoiseSpec

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
HOST = os.uname().nodename


def completed_run(root: Path, spec: ExperimentSpec | None = None, **summary: object) -> Path:
    """A run as a finished job leaves it: config, two epochs of history and a "completed" summary."""
    path = runs.create_run(spec or preset("strided"), root, settings={"limit": 600}, summary={"params": 12_201})
    runs.append_history(path, {"epoch": 1, "loss": 0.3, "val_loss": 0.31})
    runs.append_history(path, {"epoch": 2, "loss": 0.2, "val_loss": 0.21})
    runs.update_summary(
        path,
        status="completed",
        epochs_completed=2,
        loss=0.2,
        val_loss=0.21,
        test_loss=0.205,
        train_seconds=1.5,
        **summary,
    )
    return path


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m core.runs ...` in a subprocess, with the store named by STUDIO_RUNS_DIR (set by `runs_dir`)."""
    return subprocess.run(
        [sys.executable, "-m", "core.runs", *arguments],
        cwd=REPOSITORY_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- Writing -----------------------------------------------------------------------------------------------


def test_create_run_writes_config_history_and_running_summary(runs_dir: Path) -> None:
    spec = preset("strided")
    path = runs.create_run(spec, runs_dir, settings={"limit": 600}, summary={"params": 12_201})
    assert path.parent == runs_dir
    assert re.fullmatch(r"\d{8}-\d{6}-strided", path.name)
    assert sorted(item.name for item in path.iterdir()) == ["config.json", "history.jsonl", "summary.json"]
    config = json.loads((path / "config.json").read_text())
    assert config == {"spec": spec.to_dict(), "settings": {"limit": 600}}
    assert ExperimentSpec.from_dict(config["spec"]) == spec
    assert (path / "history.jsonl").read_text() == ""
    summary = json.loads((path / "summary.json").read_text())
    assert summary["run_id"] == path.name
    assert summary["name"] == "strided"
    assert summary["status"] == "running"
    assert summary["params"] == 12_201
    assert summary["process"]["pid"] == os.getpid()
    assert summary["process"]["host"] == HOST


def test_create_run_makes_the_store(tmp_path: Path, runs_dir: Path) -> None:
    root = tmp_path / "new" / "store"
    path = runs.create_run(preset("strided"), root)
    assert path.parent == root


def test_run_ids_are_unique_and_newest_first(runs_dir: Path) -> None:
    paths = [runs.create_run(preset("strided"), runs_dir) for _ in range(3)]
    assert len({path.name for path in paths}) == 3
    listed = [run.run_id for run in runs.list_runs(runs_dir)]
    assert listed == sorted(listed, reverse=True)
    assert set(listed) == {path.name for path in paths}


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("seed-fast", "seed-fast"),
        ("My Run #3!", "my-run-3"),
        ("***", "run"),
        ("x" * 64, "x" * 40),
        ("../../etc/passwd", "etc-passwd"),  # A spec name never becomes a path: it is only ever a slug in the id.
        ("/tmp/x", "tmp-x"),
        ("a\x00b", "a-b"),
        ("\uff0e\uff0e", "run"),
    ],
)
def test_new_run_id_slugs_the_name(runs_dir: Path, name: str, slug: str) -> None:
    run_id = runs.new_run_id(name, runs_dir)
    assert re.fullmatch(rf"\d{{8}}-\d{{6}}-{re.escape(slug)}", run_id)
    assert runs.check_run_id(run_id) == run_id


def test_append_history_and_update_summary(runs_dir: Path) -> None:
    path = runs.create_run(preset("strided"), runs_dir)
    runs.append_history(path, {"epoch": 1, "loss": 0.5})
    runs.append_history(path, {"epoch": 2, "loss": 0.4})
    lines = (path / "history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4}]
    summary = runs.update_summary(path, status="completed", test_loss=0.41)
    assert summary["status"] == "completed"
    assert summary["test_loss"] == 0.41
    assert summary["name"] == "strided"  # Fields not changed are kept.
    assert json.loads((path / "summary.json").read_text()) == summary
    # Atomic writes leave no temporary files behind.
    assert sorted(item.name for item in path.iterdir()) == ["config.json", "history.jsonl", "summary.json"]


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (OSError(28, "No space left on device"), "No space left on device"),
        (OSError(30, "Read-only file system"), "Read-only file system"),
    ],
    ids=["disk full", "read-only"],
)
def test_a_failed_write_leaves_the_earlier_files_intact(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch, failure: OSError, reason: str
) -> None:
    path = completed_run(runs_dir)
    (path / "model.keras").write_bytes(b"the model of epoch 2")
    before = {item.name: item.read_bytes() for item in path.iterdir()}

    def failing_fsync(descriptor: int) -> None:
        raise failure

    class HalfSavingModel:
        def save(self, target: Path) -> None:
            Path(target).write_bytes(b"half a mod")
            raise failure

    with monkeypatch.context() as patch:
        patch.setattr(runs.os, "fsync", failing_fsync)
        with pytest.raises(OSError, match=reason):
            runs.update_summary(path, status="failed", message="x")
        with pytest.raises(OSError, match=reason):
            runs.append_history(path, {"epoch": 3, "loss": 0.1})
    with pytest.raises(OSError, match=reason):
        runs.save_model(path, HalfSavingModel())
    after = {item.name: item.read_bytes() for item in path.iterdir()}
    # No temporary file is left, the summary and the model are those of before, and the history at most gained a
    # line that readers skip if it is torn.
    assert after.keys() == before.keys()
    assert {name: after[name] for name in after if name != "history.jsonl"} == {
        name: before[name] for name in before if name != "history.jsonl"
    }
    assert after["history.jsonl"].startswith(before["history.jsonl"])
    run = runs.load_run(path.name, runs_dir)
    assert (run.status, [record["epoch"] for record in runs.load_history(run)][:2]) == ("completed", [1, 2])


def test_rename_and_delete_in_a_read_only_store_say_why_and_change_nothing(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = completed_run(runs_dir)
    before = {item.name: item.read_bytes() for item in path.iterdir()}

    def read_only(*arguments: object, **keywords: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(runs, "write_json_atomic", read_only)
    monkeypatch.setattr(runs.shutil, "rmtree", read_only)
    with pytest.raises(RunStoreError, match=rf"^Run '{path.name}' could not be renamed: Read-only file system\.$"):
        runs.rename_run(path.name, "new name", runs_dir)
    with pytest.raises(RunStoreError, match=rf"^Run '{path.name}' could not be deleted: Read-only file system\.$"):
        runs.delete_run(path.name, runs_dir)
    assert runs.main(["--runs-dir", str(runs_dir), "rename", path.name, "new name"]) == 2
    assert capsys.readouterr().err == f"error: Run '{path.name}' could not be renamed: Read-only file system.\n"
    assert {item.name: item.read_bytes() for item in path.iterdir()} == before


def test_save_and_load_model(runs_dir: Path) -> None:
    import keras

    from core.model import build_model

    path = completed_run(runs_dir)
    run = runs.load_run(path.name, runs_dir)
    assert not run.has_model
    with pytest.raises(RunStoreError, match="has no saved model yet"):
        runs.load_model(run)

    keras.utils.set_random_seed(0)
    model = build_model(preset("strided"))
    runs.save_model(path, model)
    assert sorted(item.name for item in path.iterdir()) == [
        "config.json",
        "history.jsonl",
        "model.keras",
        "summary.json",
    ]
    run = runs.load_run(path.name, runs_dir)
    assert run.has_model
    loaded = runs.load_model(run)
    images = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(model(images)), atol=1e-6)
    assert [layer.name for layer in loaded.layers] == ["image", "encoder", "decoder"]


def test_a_model_with_a_lambda_layer_is_refused_not_run(runs_dir: Path) -> None:
    import keras

    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Lambda(lambda images: images * 1.0)(inputs)
    path = completed_run(runs_dir)
    keras.Model(inputs, outputs).save(path / "model.keras")
    with pytest.raises(RunStoreError, match="cannot be read.*safe_mode"):
        runs.load_model(runs.load_run(path.name, runs_dir))


def write_zip_bomb(path: Path, size: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b"{}")
        archive.writestr("model.weights.h5", bytes(size))  # Zeros compress about a thousand to one.


@pytest.mark.parametrize("kind", ["oversized", "zip bomb"])
def test_an_oversized_model_file_or_zip_bomb_is_refused_before_keras_opens_it(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from core import serving

    monkeypatch.setattr(runs, "MAX_MODEL_BYTES", 1_000_000)  # Scaled down a thousand times from 1 GB.
    path = completed_run(runs_dir)
    model_file = path / "model.keras"
    if kind == "oversized":
        make_sparse(model_file, 2_000_000)
        reason = "it is 2,000,000 bytes, more than the 1,000,000 of the largest model"
    else:
        write_zip_bomb(model_file, 2_000_000)
        assert model_file.stat().st_size < 10_000
        reason = "it would unpack to 2,000,002 bytes, more than the 1,000,000 of the largest model"
    monkeypatch.setitem(sys.modules, "keras", None)  # Importing Keras now would fail the test.
    with pytest.raises(RunStoreError) as error:
        runs.load_model(runs.load_run(path.name, runs_dir))
    assert str(error.value) == f"The model file of run {path.name!r} cannot be read: {reason}."
    with pytest.raises(serving.RequestError) as refused:  # The inference worker's loader checks it the same way.
        serving.load_keras_model(str(model_file))
    assert (refused.value.kind, str(refused.value)) == ("unreadable", reason)


def test_unreadable_model_file_raises_run_store_error(runs_dir: Path) -> None:
    path = completed_run(runs_dir)
    (path / "model.keras").write_bytes(b"not a zip archive")
    with pytest.raises(RunStoreError, match="cannot be read"):
        runs.load_model(runs.load_run(path.name, runs_dir))


# --- Reading -----------------------------------------------------------------------------------------------


def test_load_run_reads_everything(runs_dir: Path) -> None:
    path = completed_run(runs_dir, preset("denoising"))
    run = runs.load_run(path.name, runs_dir)
    assert run.run_id == path.name
    assert run.path == path.resolve()
    assert run.status == "completed"
    assert run.name == "denoising"
    assert run.spec == preset("denoising")
    assert run.is_denoiser
    assert run.test_loss == 0.205
    assert run.created_at == run.summary["created_at"]
    assert not run.read_only
    assert run.problem is None
    assert runs.load_history(run) == [
        {"epoch": 1, "loss": 0.3, "val_loss": 0.31},
        {"epoch": 2, "loss": 0.2, "val_loss": 0.21},
    ]
    assert not runs.load_run(completed_run(runs_dir).name, runs_dir).is_denoiser


def denoising_run(
    loss: str = "binary_crossentropy", noise: tuple[str, float] = ("gaussian", 0.4), **summary: float
) -> RunInfo:
    spec = preset("denoising")
    spec = replace(spec, training=replace(spec.training, loss=loss, noise=NoiseSpec(*noise)))
    return RunInfo("run", Path("/nowhere"), "completed", "run", dict(summary), spec)


@pytest.mark.parametrize(
    ("run", "noise_kind", "noise_amount", "expected"),
    [
        (denoising_run(test_loss=0.09, test_noisy_loss=0.1), "none", 0.0, ("test mean", 0.09)),
        (denoising_run(test_loss=0.09, test_noisy_loss=0.1), "gaussian", 0.4, ("noisy test mean", 0.1)),
        (denoising_run(test_loss=0.09, test_noisy_loss=0.1), "gaussian", 0.5, None),
        (denoising_run(test_loss=0.09, test_noisy_loss=0.1), "block", 0.4, None),
        (denoising_run(noise=("none", 0.0), test_loss=0.09), "salt_pepper", 0.2, None),
        (denoising_run(loss="mse", test_loss=0.01), "none", 0.0, None),
        (denoising_run(), "none", 0.0, None),  # Still training: no test figures yet.
    ],
)
def test_the_comparable_test_loss_is_measured_the_same_way(
    run: RunInfo, noise_kind: str, noise_amount: float, expected: tuple[str, float] | None
) -> None:
    assert run.comparable_test_loss(noise_kind, noise_amount) == expected


def test_a_torn_last_history_line_is_skipped(runs_dir: Path) -> None:
    path = completed_run(runs_dir)
    with open(path / "history.jsonl", "a") as handle:
        handle.write('{"epoch": 3, "loss": 0.1')  # A process killed in the middle of a write.
    run = runs.load_run(path.name, runs_dir)
    assert [record["epoch"] for record in runs.load_history(run)] == [1, 2]


def test_history_skips_blank_and_non_object_lines(runs_dir: Path) -> None:
    path = completed_run(runs_dir)
    with open(path / "history.jsonl", "a") as handle:
        handle.write("\n[1, 2]\n")
    assert len(runs.load_history(runs.load_run(path.name, runs_dir))) == 2


def test_missing_history_is_empty(runs_dir: Path) -> None:
    path = completed_run(runs_dir)
    (path / "history.jsonl").unlink()
    assert runs.load_history(runs.load_run(path.name, runs_dir)) == []


def write_summary(path: Path, change: Callable[[dict], object]) -> None:
    summary = json.loads((path / "summary.json").read_text())
    change(summary)
    (path / "summary.json").write_text(json.dumps(summary))


def break_config_spec(path: Path) -> None:
    config = json.loads((path / "config.json").read_text())
    config["spec"]["encoder"][0]["filters"] = 0
    (path / "config.json").write_text(json.dumps(config))


def make_sparse(path: Path, size: int) -> None:
    with open(path, "wb") as handle:  # A file of `size` bytes that takes no disk: only its size is ever looked at.
        handle.truncate(size)


DAMAGES: dict[str, tuple[Callable[[Path], object], str]] = {
    "summary is not JSON": (lambda path: (path / "summary.json").write_text('{"status": "comp'), "JSONDecodeError"),
    "summary is a list": (lambda path: (path / "summary.json").write_text("[]"), "summary.json"),
    "summary missing": (lambda path: (path / "summary.json").unlink(), "summary.json"),
    "config missing": (lambda path: (path / "config.json").unlink(), "config.json"),
    "config without a spec": (lambda path: (path / "config.json").write_text('{"settings": {}}'), "spec"),
    "invalid spec in config": (break_config_spec, "Received filters=0."),
    "unknown status": (lambda path: write_summary(path, lambda summary: summary.update(status="paused")), "paused"),
    "no status": (lambda path: write_summary(path, lambda summary: summary.pop("status")), "status"),
    "config of 100 MB": (lambda path: make_sparse(path / "config.json", 100_000_000), "more than the 1,000,000"),
    "config nested 100,000 deep": (
        lambda path: (path / "config.json").write_text('{"spec": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "RecursionError",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_run_is_listed_with_its_problem_and_hides_no_other(runs_dir: Path, damage: str) -> None:
    good_before = completed_run(runs_dir)
    damaged = completed_run(runs_dir)
    good_after = completed_run(runs_dir)
    make_damage, problem = DAMAGES[damage]
    make_damage(damaged)

    listed = {run.run_id: run for run in runs.list_runs(runs_dir)}
    assert set(listed) == {good_before.name, damaged.name, good_after.name}
    assert listed[good_before.name].status == listed[good_after.name].status == "completed"
    run = listed[damaged.name]
    assert run.status == "damaged"
    assert run.problem and problem in run.problem
    assert runs.load_run(damaged.name, runs_dir).status == "damaged"
    with pytest.raises(RunStoreError, match="is damaged"):
        runs.rename_run(damaged.name, "fixed", runs_dir)
    runs.delete_run(damaged.name, runs_dir)  # A damaged run can always be cleared away.
    assert not damaged.exists()


def test_listing_skips_stray_files_and_hidden_directories(runs_dir: Path) -> None:
    path = completed_run(runs_dir)
    (runs_dir / "notes.txt").write_text("not a run")
    (runs_dir / ".staging").mkdir()
    assert [run.run_id for run in runs.list_runs(runs_dir)] == [path.name]


def test_listing_a_missing_store_is_empty(tmp_path: Path, runs_dir: Path) -> None:
    assert runs.list_runs(tmp_path / "nowhere") == []


def finished_process_identity(environment: dict[str, str], tmp_path: Path) -> dict:
    """The identity that a process which has exited since wrote into a run it created."""
    created = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from core import runs; from core.presets import preset; "
            "print(runs.create_run(preset('strided'), sys.argv[1]))",
            str(tmp_path / "child-store"),
        ],
        cwd=REPOSITORY_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    path = Path(created.stdout.strip())
    return json.loads((path / "summary.json").read_text())["process"]


PROCESS_STATUSES = {
    "this process": "running",
    "a process on another host": "running",  # Which cannot be checked from here, so its word is taken.
    "a finished process": "interrupted",
    "a recycled pid": "interrupted",  # A live process with our pid but another start time.
    "no identity": "interrupted",
    "not an identity": "interrupted",
}


@pytest.mark.parametrize("process", list(PROCESS_STATUSES))
def test_a_running_run_whose_process_is_gone_is_interrupted(
    runs_dir: Path, tmp_path: Path, subprocess_env: dict[str, str], process: str
) -> None:
    path = runs.create_run(preset("strided"), runs_dir)
    own = json.loads((path / "summary.json").read_text())["process"]
    identity = {
        "this process": lambda: own,
        "a process on another host": lambda: {**own, "host": f"not-{HOST}"},
        "a finished process": lambda: finished_process_identity(subprocess_env, tmp_path),
        "a recycled pid": lambda: {**own, "start": "-1"},
        "no identity": lambda: None,
        "not an identity": lambda: str(os.getpid()),
    }[process]()
    runs.update_summary(path, process=identity)
    expected = PROCESS_STATUSES[process]
    assert runs.load_run(path.name, runs_dir).status == expected
    assert [run.status for run in runs.list_runs(runs_dir)] == [expected]
    assert json.loads((path / "summary.json").read_text())["status"] == "running"  # Reading changes nothing.


# --- Ids, renaming, deleting -------------------------------------------------------------------------------

ESCAPING_IDS = ["../x", "..", "a/b", ".hidden", "/etc", "/tmp/x", "", "a\\b", "a..b", "run\n", "~", " run", "x" * 101]
# NUL bytes, and unicode look-alikes of "." and "/": one dot leader, fullwidth full stops, a division slash, a
# fraction slash, and a Cyrillic "а" that looks like the Latin "a".
ESCAPING_IDS += ["run\x00", "x\x00/../../etc", "\u2024\u2024", "\uff0e\uff0e", "a\u2215b", "a\u2044b", "\u0430bc"]


@pytest.mark.parametrize("run_id", ESCAPING_IDS)
def test_ids_that_could_escape_the_store_are_refused(runs_dir: Path, run_id: str) -> None:
    (runs_dir.parent / "x").mkdir(exist_ok=True)  # A directory that "../x" would reach.
    with pytest.raises(RunStoreError, match="Invalid run id"):
        runs.check_run_id(run_id)
    for action in (
        lambda: runs.load_run(run_id, runs_dir),
        lambda: runs.rename_run(run_id, "name", runs_dir),
        lambda: runs.delete_run(run_id, runs_dir),
    ):
        with pytest.raises(RunStoreError, match="Invalid run id"):
            action()
    assert (runs_dir.parent / "x").is_dir()


def test_a_symlink_in_the_store_is_never_a_run(runs_dir: Path, tmp_path: Path) -> None:
    outside = completed_run(tmp_path / "elsewhere")  # A real run, outside the store.
    inside = completed_run(runs_dir)
    (runs_dir / "20990101-000000-escape").symlink_to(outside, target_is_directory=True)
    (runs_dir / "20990101-000000-alias").symlink_to(inside, target_is_directory=True)
    assert [run.run_id for run in runs.list_runs(runs_dir)] == [inside.name]
    for run_id in ("20990101-000000-escape", "20990101-000000-alias"):
        for action, arguments in ((runs.load_run, ()), (runs.rename_run, ("name",)), (runs.delete_run, ())):
            with pytest.raises(RunStoreError, match="it is a link, or leads outside the run store"):
                action(run_id, *arguments, runs_dir)  # type: ignore[operator]
    assert sorted(item.name for item in outside.iterdir()) == ["config.json", "history.jsonl", "summary.json"]
    assert runs.load_run(inside.name, runs_dir).status == "completed"


@pytest.mark.parametrize("run_id", [None, 7])
def test_ids_that_are_not_strings_are_refused(run_id: object) -> None:
    with pytest.raises(RunStoreError, match="Invalid run id"):
        runs.check_run_id(run_id)  # type: ignore[arg-type]


def test_a_missing_run_is_an_error(runs_dir: Path) -> None:
    with pytest.raises(RunStoreError, match=re.escape("No run '20260101-000000-seed'")):
        runs.load_run("20260101-000000-seed", runs_dir)


def test_rename_changes_the_name_and_keeps_the_id(runs_dir: Path) -> None:
    path = completed_run(runs_dir)
    run = runs.rename_run(path.name, "  My best run  ", runs_dir)
    assert run.name == "My best run"
    assert run.run_id == path.name
    assert runs.load_run(path.name, runs_dir).name == "My best run"
    assert runs.load_run(path.name, runs_dir).status == "completed"


@pytest.mark.parametrize("name", ["", "   ", "x" * 65])
def test_rename_refuses_empty_and_long_names(runs_dir: Path, name: str) -> None:
    path = completed_run(runs_dir)
    with pytest.raises(RunStoreError, match="Invalid run name"):
        runs.rename_run(path.name, name, runs_dir)
    assert runs.load_run(path.name, runs_dir).name == "strided"


def test_delete_removes_the_run(runs_dir: Path) -> None:
    path = completed_run(runs_dir)
    other = completed_run(runs_dir)
    runs.delete_run(path.name, runs_dir)
    assert not path.exists()
    assert [run.run_id for run in runs.list_runs(runs_dir)] == [other.name]
    with pytest.raises(RunStoreError, match="No run"):
        runs.delete_run(path.name, runs_dir)


def test_a_run_training_in_a_live_process_cannot_be_deleted(runs_dir: Path) -> None:
    path = runs.create_run(preset("strided"), runs_dir)  # "running", owned by this live process.
    with pytest.raises(RunStoreError, match="still training"):
        runs.delete_run(path.name, runs_dir)
    runs.update_summary(path, process=None)  # Its process is gone: the run is "interrupted".
    runs.delete_run(path.name, runs_dir)
    assert not path.exists()


def test_shipped_runs_are_listed_read_only_and_cannot_change(runs_dir: Path, shipped_dir: Path) -> None:
    shipped = completed_run(shipped_dir, preset("seed"))
    own = completed_run(runs_dir)
    listed = runs.list_runs(runs_dir)
    assert [(run.run_id, run.read_only) for run in listed] == [(own.name, False), (shipped.name, True)]
    assert runs.list_runs(runs_dir, include_pretrained=False) == listed[:1]

    run = runs.load_run(shipped.name, runs_dir)  # Found through the user's store.
    assert run.read_only
    assert run.status == "completed"
    with pytest.raises(RunStoreError, match="ships with the studio and cannot be renamed"):
        runs.rename_run(shipped.name, "mine now", runs_dir)
    with pytest.raises(RunStoreError, match="ships with the studio and cannot be deleted"):
        runs.delete_run(shipped.name, runs_dir)
    assert shipped.is_dir()
    assert runs.load_run(shipped.name, runs_dir).name == "seed"


def test_new_ids_do_not_collide_with_shipped_runs(runs_dir: Path, shipped_dir: Path) -> None:
    shipped_id = runs.new_run_id("strided", runs_dir)
    (shipped_dir / shipped_id).mkdir()
    assert runs.new_run_id("strided", runs_dir) != shipped_id


# --- Command line ------------------------------------------------------------------------------------------


def test_cli_list_json(runs_dir: Path) -> None:
    completed = completed_run(runs_dir)
    damaged = completed_run(runs_dir)
    (damaged / "config.json").unlink()
    result = run_cli("list", "--json")  # The store comes from STUDIO_RUNS_DIR.
    assert result.returncode == 0, result.stderr
    rows = {row["run_id"]: row for row in json.loads(result.stdout) if not row["read_only"]}
    assert set(rows) == {completed.name, damaged.name}
    row = rows[completed.name]
    assert row == {
        "run_id": completed.name,
        "name": "strided",
        "status": "completed",
        "path": str(completed),
        "read_only": False,
        "denoiser": False,
        "preset": "strided",
        "params": 12_201,
        "epochs": 10,
        "epochs_completed": 2,
        "loss": 0.2,
        "val_loss": 0.21,
        "test_loss": 0.205,
        "train_seconds": 1.5,
        "created_at": row["created_at"],
        "problem": None,
    }
    assert rows[damaged.name]["status"] == "damaged"
    assert "config.json" in rows[damaged.name]["problem"]


@pytest.mark.parametrize("placement", ["before", "after"])
def test_cli_list_table(runs_dir: Path, shipped_dir: Path, capsys: pytest.CaptureFixture[str], placement: str) -> None:
    completed = completed_run(runs_dir)
    damaged = completed_run(runs_dir)
    (damaged / "summary.json").write_text("{")
    shipped = completed_run(shipped_dir, preset("seed"))
    store = ["--runs-dir", str(runs_dir)]
    arguments = [*store, "list"] if placement == "before" else ["list", *store]
    assert runs.main(arguments) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "id", "status", "epochs", "loss", "val", "test", "name"]
    by_id = {line.split()[0]: line for line in lines[1:] if not line.startswith(" ")}
    expected = [completed.name, "completed", "2/10", "0.2000", "0.2100", "0.2050", "strided"]
    assert by_id[completed.name].split() == expected
    assert by_id[damaged.name].split()[1:3] == ["damaged", "-"]
    assert by_id[shipped.name].endswith("seed (shipped)")
    assert any(line.strip().startswith("problem: JSONDecodeError") for line in lines)


def test_cli_list_of_an_empty_store(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert runs.main(["--runs-dir", str(runs_dir), "list"]) == 0
    assert capsys.readouterr().out == f"No runs in {runs_dir}.\n"


def test_cli_rename_and_delete(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = completed_run(runs_dir)
    assert runs.main(["--runs-dir", str(runs_dir), "rename", path.name, "Kept"]) == 0
    assert capsys.readouterr().out == f"Renamed {path.name} to 'Kept'.\n"
    assert runs.load_run(path.name, runs_dir).name == "Kept"
    assert runs.main(["delete", path.name, "--runs-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out == f"Deleted {path.name}.\n"
    assert not path.exists()


def test_cli_rename_and_delete_in_a_subprocess(runs_dir: Path) -> None:
    path = completed_run(runs_dir)
    renamed = run_cli("rename", path.name, "From the shell")
    assert renamed.returncode == 0, renamed.stderr
    assert runs.load_run(path.name, runs_dir).name == "From the shell"
    deleted = run_cli("delete", path.name)
    assert deleted.returncode == 0, deleted.stderr
    assert not path.exists()
    missing = run_cli("delete", path.name)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: No run")
    assert "Traceback" not in missing.stderr


CLI_ERRORS = {
    "rename a missing run": (["rename", "20260101-000000-seed", "x"], "error: No run '20260101-000000-seed'"),
    "delete a missing run": (["delete", "20260101-000000-seed"], "error: No run '20260101-000000-seed'"),
    "rename an escaping id": (["rename", "../x", "x"], "error: Invalid run id '../x'"),
    "delete an escaping id": (["delete", ".."], "error: Invalid run id '..'"),
    "rename to an empty name": (["rename", "{run}", ""], "error: Invalid run name ''"),
    "delete a running run": (["delete", "{running}"], "is still training"),
    "rename a shipped run": (["rename", "{shipped}", "x"], "ships with the studio and cannot be renamed"),
    "delete a shipped run": (["delete", "{shipped}"], "ships with the studio and cannot be deleted"),
}


@pytest.mark.parametrize("case", list(CLI_ERRORS))
def test_cli_errors_exit_2_with_one_message(
    runs_dir: Path, shipped_dir: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    names = {
        "run": completed_run(runs_dir).name,
        "running": runs.create_run(preset("strided"), runs_dir).name,
        "shipped": completed_run(shipped_dir, preset("seed")).name,
    }
    arguments, message = CLI_ERRORS[case]
    arguments = [argument.format(**names) for argument in arguments]
    assert runs.main(["--runs-dir", str(runs_dir), *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1
    assert {run.run_id for run in runs.list_runs(runs_dir)} >= {names["run"], names["running"], names["shipped"]}


def test_cli_usage_errors_exit_2(runs_dir: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        runs.main(["--runs-dir", str(runs_dir)])  # No command.
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        runs.main(["--runs-dir", str(runs_dir), "rename", "only-an-id"])
    assert exit_info.value.code == 2


def test_summary_updates_from_two_processes_at_once_lose_nothing(runs_dir: Path, subprocess_env: dict) -> None:
    # A worker writing its epoch and a dashboard renaming the run: each read-change-write holds the summary lock.
    path = runs.create_run(preset("strided"), runs_dir)
    script = (
        "import sys\nfrom pathlib import Path\nfrom core import runs\n"
        "for number in range(150):\n    runs.update_summary(Path(sys.argv[1]), **{sys.argv[2] + str(number): number})"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(path), prefix], env=subprocess_env, cwd=REPOSITORY_ROOT)
        for prefix in ("worker", "dashboard")
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    summary = runs.read_summary(path)
    missing = [f"{prefix}{number}" for prefix in ("worker", "dashboard") for number in range(150)
               if f"{prefix}{number}" not in summary]  # fmt: skip
    assert missing == []
