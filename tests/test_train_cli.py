"""Tests for `python -m core.train`: dry runs, printed configs, a tiny headless run, and exit codes.

The command runs in a subprocess as a user runs it, with its run store in the test's temporary directory.
Commands that never train are cheap (no TensorFlow); the few that train use the `strided` preset on 600 images.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from core import runs, train
from core.presets import PRESETS, preset
from core.shapes import infer_shapes
from core.spec import ExperimentSpec

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

SEED_LAYERS = [
    ("encoder_1_conv2d", "Conv2D", [26, 26, 32], 320),
    ("encoder_2_conv2d", "Conv2D", [24, 24, 16], 4_624),
    ("encoder_3_conv2d", "Conv2D", [22, 22, 8], 1_160),
    ("decoder_1_conv2d_transpose", "Conv2DTranspose", [24, 24, 8], 584),
    ("decoder_2_conv2d_transpose", "Conv2DTranspose", [26, 26, 16], 1_168),
    ("decoder_3_conv2d_transpose", "Conv2DTranspose", [28, 28, 32], 4_640),
    ("output_conv2d", "Conv2D", [28, 28, 1], 289),
]


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(subprocess_env: dict[str, str]) -> Cli:
    """Runs `python -m core.train ARGUMENTS` and returns the finished process with its text output."""

    def run(*arguments: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "core.train", *map(str, arguments)],
            cwd=REPOSITORY_ROOT,
            env=subprocess_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


# --- Without training --------------------------------------------------------------------------------------


def test_dry_run_of_seed(cli: Cli) -> None:
    result = cli("--dry-run")  # The seed preset is the default.
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["params"] == 12_785
    assert [(layer["name"], layer["type"], layer["output_shape"], layer["params"]) for layer in report["layers"]] == (
        SEED_LAYERS
    )
    assert [layer["output_shape"][0] for layer in report["layers"]] == [26, 24, 22, 24, 26, 28, 28]


@pytest.mark.parametrize("name", list(PRESETS))
def test_dry_run_of_every_preset(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert train.main(["--preset", name, "--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    shapes = infer_shapes(preset(name))
    assert report["params"] == shapes.params
    expected = [list(shape.output_shape) for shape in shapes.layers]
    assert [layer["output_shape"] for layer in report["layers"]] == expected
    assert report["layers"][-1]["output_shape"] == [28, 28, 1]


def test_dry_run_does_not_import_tensorflow(subprocess_env: dict[str, str]) -> None:
    code = (
        "import sys; from core.train import main; main(['--preset', 'strided', '--dry-run']); "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY_ROOT, env=subprocess_env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


def test_print_config_is_the_preset_json(cli: Cli) -> None:
    result = cli("--preset", "strided", "--print-config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == preset("strided").to_json() + "\n"
    assert json.loads(result.stdout) == preset("strided").to_dict()


def test_print_config_round_trips_through_config(cli: Cli, tmp_path: Path) -> None:
    printed = cli("--preset", "denoising", "--print-config").stdout
    config = tmp_path / "denoising.json"
    config.write_text(printed)
    again = cli("--config", config, "--print-config")
    assert again.returncode == 0, again.stderr
    assert again.stdout == printed
    overridden = cli("--config", config, "--print-config", "--epochs", "3", "--seed", "7")
    assert overridden.returncode == 0, overridden.stderr
    expected = preset("denoising").with_training(epochs=3, seed=7).to_dict()
    assert json.loads(overridden.stdout) == expected
    dry = cli("--config", config, "--dry-run")
    assert json.loads(dry.stdout)["params"] == infer_shapes(preset("denoising")).params


# --- Training ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_json_run(cli: Cli, runs_dir: Path) -> None:
    result = cli("--preset", "strided", "--limit", "600", "--epochs", "1", "--json")  # Stored in STUDIO_RUNS_DIR.
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["status"] == "completed"
    assert report["run_id"] and report["run_dir"] == str(runs_dir / report["run_id"])
    params = infer_shapes(preset("strided")).params
    assert report["params"] == params
    assert report["epochs"] == 1
    assert report["train_images"] == 480
    for key in ("train_seconds", "images_per_second", "loss", "val_loss", "test_loss", "loss_floor"):
        assert isinstance(report[key], float) and report[key] > 0, key
    assert report["test_loss"] > report["loss_floor"]
    assert "error" not in report
    # Progress and the closing message go to stderr; stdout holds only the JSON.
    assert result.stdout.count("\n") == 1
    assert f"Training strided: {params:,} parameters, 1 epoch." in result.stderr
    assert "Epoch 1/1" in result.stderr
    assert f"Run {report['run_id']}: test loss" in result.stderr
    run = runs.load_run(report["run_id"], runs_dir)
    assert run.status == "completed"
    assert run.summary["test_loss"] == report["test_loss"]
    assert run.has_model


@pytest.mark.slow
def test_plain_run_prints_its_directory(runs_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    arguments = ["--preset", "strided", "--limit", "600", "--epochs", "1", "--runs-dir", str(runs_dir)]
    assert train.main(arguments) == 0
    captured = capfd.readouterr()
    (run,) = runs.list_runs(runs_dir)
    assert captured.out.splitlines()[-1] == str(runs_dir / run.run_id)
    assert run.status == "completed"


@pytest.mark.slow
def test_failed_training_exits_1(
    runs_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], diverging_spec: ExperimentSpec
) -> None:
    config = tmp_path / "diverging.json"
    config.write_text(diverging_spec.to_json())
    arguments = ["--config", str(config), "--limit", "600", "--json", "--runs-dir", str(runs_dir)]
    assert train.main(arguments) == 1
    captured = capfd.readouterr()
    assert "error: The loss became NaN" in captured.err
    report = json.loads(captured.out.splitlines()[-1])
    assert report["status"] == "failed"
    assert "error" not in report  # The traceback stays out of the report.
    assert runs.load_run(report["run_id"], runs_dir).status == "failed"


# --- Invalid input -----------------------------------------------------------------------------------------

FILTERS_ZERO = {
    **preset("seed").to_dict(),
    "encoder": [{"type": "Conv2D", "filters": 0, "kernel_size": 3}, *preset("seed").to_dict()["encoder"][1:]],
}
CONFIG_FILES: dict[str, str | bytes] = {
    "malformed.json": '{"name": "seed", "encoder": [',
    "filters-zero.json": json.dumps(FILTERS_ZERO),
    "not-utf8.json": b"\xff\xfe\x00{",
    "a-list.json": "[]",
    "nested-deep.json": '{"encoder": ' + "[" * 100_000 + "]" * 100_000 + "}",
}
INVALID_INPUT = {
    "unknown preset": (["--preset", "nope"], "argument --preset: invalid choice: 'nope'"),
    "preset and config": (["--preset", "seed", "--config", "{dir}/a-list.json"], "not allowed with argument"),
    "missing config": (["--config", "{dir}/missing.json"], "error: Cannot read config file {dir}/missing.json"),
    "config is a directory": (["--config", "{dir}"], "error: Cannot read config file {dir}: Is a directory."),
    "malformed JSON": (["--config", "{dir}/malformed.json"], "error: {dir}/malformed.json: Invalid JSON in spec"),
    "invalid spec": (
        ["--config", "{dir}/filters-zero.json"],
        "error: {dir}/filters-zero.json: Invalid value for argument `filters` of encoder layer 1. "
        "Expected a strictly positive integer. Received filters=0.",
    ),
    "config not UTF-8": (["--config", "{dir}/not-utf8.json"], "error: Cannot read config file {dir}/not-utf8.json"),
    "config not an object": (["--config", "{dir}/a-list.json"], "Invalid spec. Expected a JSON object."),
    "config nested too deep": (
        ["--config", "{dir}/nested-deep.json"],
        "error: {dir}/nested-deep.json: Invalid JSON in spec: it is nested too deeply.",
    ),
    "config of 100 MB": (
        ["--config", "{dir}/huge.json"],
        "error: {dir}/huge.json: Invalid config file. Expected a spec of at most 1,000,000 bytes. Received "
        "100,000,000 bytes.",
    ),
    "limit 0": (["--limit", "0"], "Invalid value for argument `--limit`. Expected an integer from 1 to 60000"),
    "limit over 60,000": (
        ["--limit", "60001"],
        "error: Invalid value for argument `--limit`. Expected an integer from 1 to 60000, the MNIST training "
        "images. Received 60001.",
    ),
    "limit too small to split": (
        ["--limit", "1"],
        "error: Invalid value for argument `validation_split`. With 1 images, validation_split=0.2 leaves 0 for "
        "training and 1 for validation; both need at least one.",
    ),
    "epochs 0": (["--epochs", "0"], "Received epochs=0."),
    "negative seed": (["--seed", "-1"], "Received seed=-1."),
    "epochs not a number": (["--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
}


@pytest.mark.parametrize("case", list(INVALID_INPUT))
def test_invalid_input_exits_2_with_one_message(cli: Cli, tmp_path: Path, runs_dir: Path, case: str) -> None:
    for name, content in CONFIG_FILES.items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    with open(tmp_path / "huge.json", "wb") as huge:  # 100 MB that take no disk: only its size is looked at.
        huge.truncate(100_000_000)
    arguments, message = INVALID_INPUT[case]
    result = cli(*(argument.format(dir=tmp_path) for argument in arguments), "--runs-dir", runs_dir, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message.format(dir=tmp_path) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith(("error: ", "python -m core.train: error: "))
    assert list(runs_dir.iterdir()) == []  # Nothing was trained or written.


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(OSError(30, "Read-only file system"), "Read-only file system"), (OSError(28, "No space left on device"),
                                                                         "No space left on device")],
    ids=["read-only", "disk full"],
)  # fmt: skip
def test_a_store_that_cannot_take_the_run_exits_1_with_the_reason(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], failure: OSError, reason: str
) -> None:
    earlier_run = runs.create_run(preset("strided"), runs_dir)
    runs.update_summary(earlier_run, status="completed")
    earlier = completed_run_files(runs_dir)

    def refuse(*arguments: object, **keywords: object) -> None:
        raise failure

    monkeypatch.setattr(runs, "create_run", refuse)
    assert train.main(["--preset", "strided", "--limit", "600", "--runs-dir", str(runs_dir)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines()[-1] == f"error: The run could not be saved in {runs_dir}: {reason}."
    assert "Traceback" not in captured.err
    assert completed_run_files(runs_dir) == earlier  # Nothing already saved changed.


def completed_run_files(runs_dir: Path) -> dict[str, bytes]:
    """The files of every run in the store, by path (the store's own lock file aside)."""
    return {str(path.relative_to(runs_dir)): path.read_bytes() for path in sorted(runs_dir.glob("*/*"))}


def test_help_exits_0(cli: Cli) -> None:
    result = cli("--help", timeout=60)
    assert result.returncode == 0
    assert "--dry-run" in result.stdout and "--print-config" in result.stdout
