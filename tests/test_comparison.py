"""Tests for core.comparison: the settings that differ, the metrics table, loss curves and per-digit errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from core import comparison, runs
from core.presets import preset
from core.runs import RunInfo
from core.spec import ExperimentSpec


def stored_run(root: Path, spec: ExperimentSpec, name: str | None = None, **summary: object) -> RunInfo:
    """A completed run of `spec` with two epochs of history, read back from the store."""
    path = runs.create_run(spec, root)
    runs.append_history(path, {"epoch": 1, "loss": 0.3, "val_loss": 0.31})
    runs.append_history(path, {"epoch": 2, "loss": 0.2, "val_loss": 0.21})
    runs.update_summary(path, status="completed", **({"name": name} if name else {}), **summary)
    return runs.read_run(path)


def table(rows: list[dict[str, str]], key: str) -> dict[str, dict[str, str]]:
    return {row[key]: {column: value for column, value in row.items() if column != key} for row in rows}


def test_flatten_spec_names_every_layer_argument_and_training_setting() -> None:
    flat = comparison.flatten_spec(preset("strided"))
    assert flat["encoder layers"] == 3 and flat["decoder layers"] == 2
    assert flat["encoder 1 type"] == "Conv2D" and flat["encoder 1 strides"] == 2
    assert flat["decoder 2 type"] == "Conv2DTranspose"
    assert flat["output activation"] == "sigmoid"
    assert flat["learning_rate"] == preset("strided").training.learning_rate
    assert flat["noise kind"] == "none" and flat["noise amount"] == 0.0
    assert flat["dtype_policy"] == "auto"
    assert not any(isinstance(value, dict) for value in flat.values())


def test_only_the_settings_that_differ_are_listed_with_each_runs_value(runs_dir: Path) -> None:
    spec = preset("strided")
    first = stored_run(runs_dir, spec, "slow", backend="tensorflow", device="cpu", dtype_policy="float32")
    second = stored_run(runs_dir, spec.with_training(learning_rate=0.003, batch_size=500), "fast",
                        backend="jax", device="cpu", dtype_policy="float32")  # fmt: skip
    rows = table(comparison.differing_settings([first, second]), "setting")
    assert rows == {
        "learning_rate": {"slow": f"{spec.training.learning_rate:.4g}", "fast": "0.003"},
        "batch_size": {"slow": f"{spec.training.batch_size:,}", "fast": "500"},
        "backend": {"slow": "tensorflow", "fast": "jax"},
    }


def test_layers_one_run_lacks_differ_and_show_a_dash(runs_dir: Path) -> None:
    seed, strided = preset("seed"), preset("strided")
    rows = table(comparison.differing_settings([stored_run(runs_dir, seed), stored_run(runs_dir, strided)]), "setting")
    assert rows["decoder layers"] == {"seed": "3", "strided": "2"}
    assert rows["decoder 3 filters"] == {"seed": "32", "strided": comparison.MISSING}
    assert rows["encoder 1 strides"] == {"seed": "1", "strided": "2"}
    assert "output activation" not in rows  # Both end in the same sigmoid Conv2D.
    settings = list(rows)
    assert settings.index("decoder layers") < settings.index("encoder 1 strides") < settings.index("learning_rate")


def imported_run(root: Path, name: str) -> RunInfo:
    """An imported model's run: no spec, so none of the spec's settings."""
    with runs.staging_directory(root) as staging:
        (staging / "model.keras").write_bytes(b"not read here")
        return runs.read_run(runs.register_imported_run(staging, name, {"file_name": f"{name}.keras"}))


def test_an_imported_model_makes_no_setting_differ_and_shows_a_dash(runs_dir: Path) -> None:
    seed, strided = preset("seed"), preset("strided")
    trained = stored_run(runs_dir, strided, "trained", backend="jax")
    faster = stored_run(runs_dir, strided.with_training(learning_rate=0.003), "faster", backend="jax")
    rows = table(comparison.differing_settings([trained, faster, imported_run(runs_dir, "uploaded")]), "setting")
    assert rows == {"learning_rate": {"trained": f"{strided.training.learning_rate:.4g}", "faster": "0.003",
                                      "uploaded": comparison.MISSING}}  # fmt: skip
    deeper = stored_run(runs_dir, seed, "deeper")
    rows = table(comparison.differing_settings([deeper, trained, imported_run(runs_dir, "other")]), "setting")
    assert rows["decoder 3 filters"] == {"deeper": "32", "trained": comparison.MISSING, "other": comparison.MISSING}
    # Unset in both (None) and missing in the import: every value shows as a dash, so there is no row.
    assert strided.decoder[0].output_padding is seed.decoder[0].output_padding is None
    assert "decoder 1 output_padding" not in rows
    assert all(len(set(values.values())) > 1 for values in rows.values()), rows


def test_runs_with_the_same_name_are_told_apart_by_their_ids(runs_dir: Path) -> None:
    first, second = stored_run(runs_dir, preset("strided")), stored_run(runs_dir, preset("strided"))
    names = comparison.distinct_names([first, second])
    assert names == [f"strided ({first.run_id})", f"strided ({second.run_id})"]
    assert comparison.differing_settings([first, second]) == []  # Same spec, nothing recorded that differs.


def test_metrics_rows_show_the_final_metrics_of_each_run(runs_dir: Path) -> None:
    first = stored_run(runs_dir, preset("strided"), "a", test_loss=0.07123456, train_seconds=12.5,
                       images_per_second=3840.2, params=12_201, backend="tensorflow", epochs_completed=2,
                       tags=["baseline"], note="first try")  # fmt: skip
    second = stored_run(runs_dir, preset("seed").with_training(loss="mse"), "b", params=12_785)
    rows = table(comparison.metrics_rows([first, second]), "metric")
    assert list(rows) == [label for label, _ in comparison._METRICS]
    assert rows["test loss"] == {"a": "0.07123", "b": comparison.MISSING}
    assert rows["loss"] == {"a": "binary_crossentropy", "b": "mse"}
    assert rows["train seconds"]["a"] == "12.5" and rows["images/s"]["a"] == "3,840"
    assert rows["parameters"] == {"a": "12,201", "b": "12,785"}
    assert rows["backend"] == {"a": "tensorflow", "b": comparison.MISSING}
    assert rows["tags"] == {"a": "baseline", "b": comparison.MISSING}
    assert rows["note"]["a"] == "first try"


@pytest.mark.parametrize("count", [0, 1, 5])
def test_tables_need_two_to_four_runs(runs_dir: Path, count: int) -> None:
    picked = [stored_run(runs_dir, preset("strided")) for _ in range(count)]
    for build in (comparison.differing_settings, comparison.metrics_rows):
        with pytest.raises(ValueError, match=f"Expected 2 to 4 runs to compare. Received {count}."):
            build(picked)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "—"), (True, "yes"), (12785, "12,785"), (0.0010, "0.001"), (1234.5, "1,234"), (0.058079, "0.05808"),
     (float("nan"), "nan"), ("adam", "adam")],
)  # fmt: skip
def test_format_value(value: object, shown: str) -> None:
    assert comparison.format_value(value) == shown


def test_loss_curve_reads_the_history_and_skips_records_without_an_epoch(runs_dir: Path) -> None:
    run = stored_run(runs_dir, preset("strided"))
    runs.append_history(run.path, {"loss": 0.1})  # No epoch: not a point of the curve.
    runs.append_history(run.path, {"epoch": 3, "loss": 0.15, "val_loss": None})
    curve = comparison.loss_curve(run, "mine")
    assert curve.name == "mine" and curve.loss_name == "binary_crossentropy"
    assert curve.epochs == (1, 2, 3) and curve.loss == (0.3, 0.2, 0.15)
    assert curve.val_loss[:2] == (0.31, 0.21) and math.isnan(curve.val_loss[2])


def test_digit_means_average_each_digit_and_leave_a_missing_digit_nan() -> None:
    labels = np.array([0, 0, 1, 9, 9, 9])
    errors = np.array([1.0, 3.0, 5.0, 1.0, 2.0, 3.0])
    means = comparison.digit_means(errors, labels)
    assert means.shape == (10,)
    np.testing.assert_allclose(means[[0, 1, 9]], [2.0, 5.0, 2.0])
    assert np.isnan(means[2:9]).all()
    with pytest.raises(ValueError, match="Expected one label per error"):
        comparison.digit_means(errors, labels[:-1])


def test_sample_indices_pick_the_first_image_of_each_digit() -> None:
    labels = np.array([7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5, 9, 7, 3, 4])  # The first 20 test labels.
    indices = comparison.sample_indices(labels, 8)
    assert list(indices) == [3, 2, 1, 18, 4, 8, 11, 0]
    assert list(labels[indices]) == list(range(8))
    with pytest.raises(ValueError, match="Expected an image of digit 8"):
        comparison.sample_indices(labels, 9)
    with pytest.raises(ValueError, match="Expected 1 to 10. Received count=11"):
        comparison.sample_indices(labels, 11)
