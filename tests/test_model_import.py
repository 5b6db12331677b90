"""Tests for core.model_import: a `.keras` upload becomes an imported run, or is refused with the reason and leaves
nothing in the store.

Files refused before the model worker is asked (too large, foreign, truncated, a zip bomb) are checked with a
worker that is never started; the others go through a real inference worker process.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from core import runs
from core.explorer import expected_layers
from core.inference import InferenceWorker, ModelInspection
from core.model_import import MAX_UPLOAD_BYTES, ModelImportError, check_image_shapes, import_model, run_name
from tests.test_runs import completed_run, write_zip_bomb

SHIPPED_MODEL = next(runs.PRETRAINED_DIR.glob("*-seed-fast")) / "model.keras"  # 12,785 parameters.


def store_contents(root: Path) -> list[str]:
    """Every path in the store, hidden ones included, relative to it."""
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*"))


@pytest.fixture(scope="module")
def worker() -> Iterator[InferenceWorker]:
    with InferenceWorker() as client:
        yield client


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Models Keras saves but the studio must refuse: a Lambda layer, the wrong input, the wrong output."""
    import keras

    directory = tmp_path_factory.mktemp("bad-models")
    image = keras.Input((28, 28, 1))
    models = {
        "lambda layer": keras.Model(image, keras.layers.Lambda(lambda images: images * 1.0)(image)),
        "wrong input": keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(1, 3, padding="same")]),
        "wrong output": keras.Sequential([image, keras.layers.Flatten(), keras.layers.Dense(10)]),
        "flat autoencoder": keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="squeeze"),  # (14, 14, 4)
                keras.layers.Conv2DTranspose(
                    1, 3, strides=2, padding="same", activation="sigmoid", name="grow"
                ),  # (28, 28, 1)
            ]
        ),
    }
    saved = {}
    for name, model in models.items():
        path = directory / f"{name.replace(' ', '-')}.keras"
        model.save(path)
        saved[name] = path.read_bytes()
    return saved


# --- Refused before the worker is asked ------------------------------------------------------------------------


def hdf5_file(path: Path) -> bytes:
    with h5py.File(path, "w") as handle:  # What Keras 2's model.save("model.h5") writes: an HDF5 file.
        handle.create_dataset("model_weights", data=np.zeros(4, dtype=np.float32))
    return path.read_bytes()


def zip_of(path: Path, members: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path.read_bytes()


EARLY_REFUSALS = {
    "too big": (
        lambda path: bytes(MAX_UPLOAD_BYTES + 1),
        "Invalid model file. Expected at most 10,485,760 bytes (10 MB), the upload limit. Received 10,485,761 bytes.",
    ),
    "a PNG renamed": (
        lambda path: b"\x89PNG\r\n\x1a\n" + bytes(64),
        "Invalid model file. Expected a Keras `.keras` archive (a zip file, as `model.save` writes it). Received a "
        "PNG image.",
    ),
    "an h5": (
        hdf5_file,
        "Invalid model file. Expected a Keras `.keras` archive (a zip file, as `model.save` writes it). Received an "
        "HDF5 file, such as Keras 2's `.h5` format: load it in Keras and save it again with "
        '`model.save("model.keras")`.',
    ),
    "truncated": (
        lambda path: SHIPPED_MODEL.read_bytes()[: SHIPPED_MODEL.stat().st_size // 2],
        "Invalid model file. Expected a complete `.keras` archive. Received a zip archive that is truncated or "
        "damaged: its directory, at the end of the file, is missing.",
    ),
    "empty": (
        lambda path: b"",
        "Invalid model file. Expected a Keras `.keras` archive (a zip file, as `model.save` writes it). Received an "
        "empty file.",
    ),
    "a zip of something else": (
        lambda path: zip_of(path, {"notes.txt": b"hello"}),
        "Invalid model file. Expected a Keras `.keras` archive, with config.json and model.weights.h5. Received a zip "
        "archive without config.json (it holds notes.txt).",
    ),
}


@pytest.mark.parametrize("case", list(EARLY_REFUSALS))
def test_a_file_that_is_not_a_keras_model_is_refused_with_the_reason_before_any_model_is_loaded(
    runs_dir: Path, tmp_path: Path, case: str
) -> None:
    make, message = EARLY_REFUSALS[case]
    data = make(tmp_path / "upload")
    completed_run(runs_dir)
    before = store_contents(runs_dir)
    worker = InferenceWorker()
    with pytest.raises(ModelImportError) as refused:
        import_model(data, "friend.keras", worker, runs_dir)
    assert str(refused.value) == message
    assert worker.pid is None  # No model worker was asked, so none was started.
    assert store_contents(runs_dir) == before  # Nothing left behind, nothing already saved lost.


def test_a_zip_bomb_is_refused_by_its_directory_before_any_model_is_loaded(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "MAX_MODEL_BYTES", 1_000_000)  # Scaled down a thousand times from 1 GB.
    write_zip_bomb(tmp_path / "bomb.keras", 2_000_000)
    data = (tmp_path / "bomb.keras").read_bytes()
    assert len(data) < 10_000
    worker = InferenceWorker()
    with pytest.raises(ModelImportError) as refused:
        import_model(data, "bomb.keras", worker, runs_dir)
    assert str(refused.value) == (
        "Invalid model file: it would unpack to 2,000,002 bytes, more than the 1,000,000 of the largest model."
    )
    assert worker.pid is None
    assert store_contents(runs_dir) == []


@pytest.mark.parametrize(
    ("inputs", "outputs", "message"),
    [
        (((None, 28, 28, 1),), ((None, 28, 28, 1),), None),
        (((None, 32, 32, 3),), ((None, 32, 32, 1),), "Invalid model input. Expected shape (None, 28, 28, 1), a "
         "batch of 28x28x1 images, as an MNIST autoencoder's. Received shape=(None, 32, 32, 3)."),
        (((None, 28, 28, 1),), ((None, 10),), "Invalid model output. Expected shape (None, 28, 28, 1), a batch of "
         "28x28x1 images, as an MNIST autoencoder's. Received shape=(None, 10)."),
        (((None, 28, 28),), ((None, 28, 28, 1),), "Received shape=(None, 28, 28)."),
        (((None, 28, 28, 1), (None, 10)), ((None, 28, 28, 1),), "Invalid model input. Expected one input of shape "
         "(None, 28, 28, 1), a batch of 28x28x1 images. Received 2 inputs: (None, 28, 28, 1), (None, 10)."),
    ],
    ids=["28x28x1", "wrong input", "wrong output", "no channel axis", "two inputs"],
)  # fmt: skip
def test_only_one_28x28x1_input_and_output_pass_the_shape_check(
    inputs: tuple, outputs: tuple, message: str | None
) -> None:
    inspection = ModelInspection(inputs, outputs, 10, (("conv2d", "Conv2D"),), None)
    if message is None:
        check_image_shapes(inspection)
        return
    with pytest.raises(ModelImportError) as refused:
        check_image_shapes(inspection)
    assert message in str(refused.value) and str(refused.value).startswith("Invalid model ")


@pytest.mark.parametrize(
    ("file_name", "name"),
    [("friend.keras", "friend"), ("My Model.KERAS", "My Model"), (".keras", "imported model"), ("x" * 90, "x" * 64)],
    ids=["plain", "upper case", "no name", "long"],
)
def test_the_run_is_named_after_the_file(file_name: str, name: str) -> None:
    assert run_name(file_name) == name


# --- Through the model worker ----------------------------------------------------------------------------------


@pytest.mark.slow  # Starts the inference worker, which imports TensorFlow.
def test_the_shipped_model_is_imported_as_a_run_with_its_file_and_shapes(
    runs_dir: Path, worker: InferenceWorker
) -> None:
    data = SHIPPED_MODEL.read_bytes()
    run = import_model(data, "C:\\Users\\someone\\seed-fast.keras", worker, runs_dir)
    assert (run.status, run.name, run.imported_from, run.spec) == ("imported", "seed-fast", "seed-fast.keras", None)
    assert (run.path / "model.keras").read_bytes() == data
    assert sorted(item.name for item in run.path.iterdir()) == ["config.json", "model.keras", "summary.json"]
    config = runs.read_config(run.path)
    assert config["spec"] is None and config["imported"]["file_name"] == "seed-fast.keras"
    assert config["imported"]["bytes"] == len(data)
    shipped = runs.read_run(SHIPPED_MODEL.parent, read_only=True)
    layers = [name for name, _ in expected_layers(shipped.spec)]  # The names `core.spec` gives them.
    assert [name for name, _ in config["imported"]["layers"]] == layers
    assert config["imported"]["layer_count"] == len(layers)
    assert run.summary["params"] == 12_785
    assert run.summary["input_shape"] == run.summary["output_shape"] == [None, 28, 28, 1]
    assert run.summary["explorable"] is True
    assert [listed.run_id for listed in runs.list_runs(runs_dir, include_pretrained=False)] == [run.run_id]
    files = [f"{run.run_id}/{name}" for name in ("config.json", "model.keras", "summary.json")]
    assert store_contents(runs_dir) == [run.run_id, *files]  # The staging directory is gone.
    reconstructed = worker.reconstruct(run.path / "model.keras", np.zeros((2, 28, 28, 1), dtype=np.float32))
    assert reconstructed.shape == (2, 28, 28, 1)


@pytest.mark.slow
def test_a_model_of_another_layout_is_imported_but_not_offered_to_the_explorer(
    runs_dir: Path, worker: InferenceWorker, bad_models: dict[str, bytes]
) -> None:
    run = import_model(bad_models["flat autoencoder"], "flat.keras", worker, runs_dir)
    assert run.status == "imported" and run.summary["explorable"] is False
    layers = runs.read_config(run.path)["imported"]["layers"]
    assert layers == [["squeeze", "Conv2D"], ["grow", "Conv2DTranspose"]]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("lambda layer", "Invalid model file. Expected a model without Lambda layers. Received one with a Lambda "
         "layer, whose Python code would run as the model loads: Keras' safe mode (safe_mode=True), which the studio "
         "always loads models with, refuses it. Rebuild the model with Keras' own layers instead."),
        ("wrong input", "Invalid model input. Expected shape (None, 28, 28, 1), a batch of 28x28x1 images, as an "
         "MNIST autoencoder's. Received shape=(None, 32, 32, 3)."),
        ("wrong output", "Invalid model output. Expected shape (None, 28, 28, 1), a batch of 28x28x1 images, as an "
         "MNIST autoencoder's. Received shape=(None, 10)."),
    ],
    ids=["lambda layer", "wrong input", "wrong output"],
)  # fmt: skip
def test_a_model_keras_refuses_or_of_the_wrong_shape_is_refused_and_leaves_nothing(
    runs_dir: Path, worker: InferenceWorker, bad_models: dict[str, bytes], model: str, message: str
) -> None:
    completed_run(runs_dir)
    before = store_contents(runs_dir)
    with pytest.raises(ModelImportError) as refused:
        import_model(bad_models[model], f"{model}.keras", worker, runs_dir)
    assert str(refused.value) == message
    assert store_contents(runs_dir) == before


# --- The run store's side ------------------------------------------------------------------------------------


def test_an_imported_run_is_read_without_a_spec_but_a_trained_run_without_one_is_damaged(runs_dir: Path) -> None:
    with runs.staging_directory(runs_dir) as staging:
        (staging / "model.keras").write_bytes(b"checked elsewhere")
        path = runs.register_imported_run(staging, "friend", {"file_name": "friend.keras"}, {"params": 3})
    run = runs.load_run(path.name, runs_dir)
    assert (run.status, run.spec, run.imported_from, run.summary["params"]) == ("imported", None, "friend.keras", 3)
    assert runs.rename_run(run.run_id, "a friend's model", runs_dir).name == "a friend's model"
    assert runs.annotate_run(run.run_id, "from Ada", "shared", runs_dir).tags == ("shared",)

    trained = completed_run(runs_dir)
    config = json.loads((trained / "config.json").read_text())
    (trained / "config.json").write_text(json.dumps({**config, "spec": None}))
    assert runs.load_run(trained.name, runs_dir).status == "damaged"
    runs.delete_run(run.run_id, runs_dir)
    assert not path.exists()


def test_a_staging_directory_left_by_a_dead_server_is_removed_by_the_next_import(runs_dir: Path) -> None:
    left = runs_dir / f"{runs.STAGING_PREFIX}left"
    left.mkdir()
    (left / "model.keras").write_bytes(b"half")
    fresh = runs_dir / f"{runs.STAGING_PREFIX}fresh"  # Another import, still under way.
    fresh.mkdir()
    old = left.stat().st_mtime - runs.STALE_STAGING_SECONDS - 60
    os.utime(left, (old, old))
    with runs.staging_directory(runs_dir) as staging:
        assert staging.is_dir() and staging.name.startswith(runs.STAGING_PREFIX)
    assert not staging.exists() and not left.exists() and fresh.exists()
    assert runs.list_runs(runs_dir, include_pretrained=False) == []
