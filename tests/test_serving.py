"""The inference worker (`core.serving`) through its client (`core.inference.InferenceWorker`).

Every test here talks to a real worker process. The models are built, never trained, with a fixed seed: equality
with the same model called in this process is all these checks need.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from core import inference, runs, serving
from core.drawing import to_mnist
from core.explorer import expected_layers
from core.inference import InferenceError, InferenceWorker, ModelFileError, RemoteModel
from core.mnist import load_mnist, scale
from core.model import build_model, feature_model
from core.presets import preset
from core.runs import RunInfo, RunStoreError
from tests.drawings import SEVEN, drawing
from tests.workers import KILLED, killed_during_next_request, wait_until_gone

pytestmark = pytest.mark.slow  # Every test here trains or starts a worker process.

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
as_array = keras.ops.convert_to_numpy  # Not np.asarray: on PyTorch a model's output is a tensor that requires grad.


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, keras.Model]]:
    """Two different `strided` models, each saved as `<name>/model.keras` like a run's, with the model itself."""
    directory = tmp_path_factory.mktemp("models")
    saved = {}
    for seed, name in enumerate(("first", "second")):
        keras.utils.set_random_seed(seed)
        model = build_model(preset("strided"), compile=False)
        (directory / name).mkdir()
        runs.save_model(directory / name, model)
        saved[name] = (directory / name / "model.keras", model)
    return saved


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """1,500 test images: more than one chunk of 1,000."""
    return scale(load_mnist().x_test[:1500])


@pytest.fixture(scope="module")
def worker() -> Iterator[InferenceWorker]:
    with InferenceWorker() as client:
        yield client


def _run(model_file: Path, status: str = "completed") -> RunInfo:
    return RunInfo(model_file.parent.name, model_file.parent, status, model_file.parent.name)


def _copy(model_file: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(model_file, directory / "model.keras"))


def test_the_worker_reconstructs_what_the_model_computes_in_process(
    worker: InferenceWorker, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    for path, model in models.values():
        reconstructions = worker.reconstruct(path, images)
        assert reconstructions.shape == (1500, 28, 28, 1) and reconstructions.dtype == np.float32
        np.testing.assert_allclose(reconstructions, inference.reconstruct(model, images), atol=1e-6)
    assert worker.pid != os.getpid()


def test_a_remote_model_stands_in_for_the_keras_model(
    worker: InferenceWorker, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    path, model = models["first"]
    remote = worker.model(_run(path))
    assert isinstance(remote, RemoteModel) and remote.path == path
    np.testing.assert_allclose(remote(images[:3]), as_array(model(images[:3], training=False)), atol=1e-6)
    np.testing.assert_allclose(inference.reconstruct(remote, images), inference.reconstruct(model, images), atol=1e-6)
    clean = to_mnist(drawing(SEVEN))
    remotely = inference.denoise(remote, clean, "gaussian", 0.3, seed=2)
    locally = inference.denoise(model, clean, "gaussian", 0.3, seed=2)
    np.testing.assert_allclose(remotely.output, locally.output, atol=1e-6)
    assert remotely.bce == pytest.approx(locally.bce, abs=1e-6)


def test_feature_maps_come_back_named_in_order_and_equal(
    worker: InferenceWorker, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    path, model = models["second"]
    expected = inference.feature_maps(model, images[0])
    for maps in (worker.feature_maps(path, images[0]), inference.feature_maps(worker.model(_run(path)), images[0])):
        assert [name for name, _ in maps] == [name for name, _ in expected]
        for (_, remote), (_, local) in zip(maps, expected, strict=True):
            assert remote.shape == local.shape
            np.testing.assert_allclose(remote, local, atol=1e-6)


def _shipped_model() -> tuple[Path, RunInfo]:
    run = runs.read_run(next(runs.PRETRAINED_DIR.glob("*-seed-fast")), read_only=True)
    return run.path / "model.keras", run


@pytest.fixture(scope="module")
def upsampling_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, keras.Model]:
    """An `upsampling` model, whose decoder has layers without weights, saved like a run's."""
    keras.utils.set_random_seed(3)
    model = build_model(preset("upsampling"), compile=False)
    directory = tmp_path_factory.mktemp("upsampling")
    runs.save_model(directory, model)
    return directory / "model.keras", model


def test_feature_maps_of_the_shipped_model_have_the_inferred_shapes_and_keras_values(
    worker: InferenceWorker, images: np.ndarray
) -> None:
    # The Layer explorer's maps and captions: the worker's maps against core.shapes and a direct Keras call on
    # the same file's model, outside the worker.
    path, run = _shipped_model()
    model = keras.saving.load_model(path, compile=False)
    direct = feature_model(model)(images[:1], training=False)
    maps = worker.feature_maps(path, images[0])
    assert [(name, array.shape) for name, array in maps] == expected_layers(run.spec)
    assert [name for name in feature_model(model).output_names] == [name for name, _ in maps]
    for (_, remote), local in zip(maps, direct, strict=True):
        np.testing.assert_allclose(remote, as_array(local)[0], atol=1e-5)
    assert maps[-1][1].shape == (28, 28, 1)


def test_feature_maps_of_layers_without_weights_have_the_inferred_shapes(
    worker: InferenceWorker, upsampling_model: tuple[Path, keras.Model], images: np.ndarray
) -> None:
    path, model = upsampling_model
    maps = worker.feature_maps(path, images[1])
    assert [(name, array.shape) for name, array in maps] == expected_layers(preset("upsampling"))
    for (_, remote), local in zip(maps, feature_model(model)(images[1:2], training=False), strict=True):
        np.testing.assert_allclose(remote, as_array(local)[0], atol=1e-5)


def test_weights_equal_the_model_files_weights(worker: InferenceWorker) -> None:
    path, run = _shipped_model()
    model = keras.saving.load_model(path, compile=False)  # Read here, in this process, from the same file.
    names = [name for name, _ in expected_layers(run.spec)]
    for name in names:
        weights = worker.weights(path, name)
        part = "encoder" if name.startswith("encoder") else "decoder"
        kernel, bias = model.get_layer(part).get_layer(name).get_weights()
        layer = model.get_layer(part).get_layer(name)
        assert weights.layer == name and weights.type == type(layer).__name__
        assert weights.kernel.dtype == np.float32 and weights.kernel.shape == kernel.shape
        np.testing.assert_array_equal(weights.kernel, kernel)
        np.testing.assert_array_equal(weights.bias, bias)
    # Keras keeps a Conv2DTranspose kernel as (k, k, out, in): decoder_2 takes 8 channels to 16.
    assert worker.weights(path, "decoder_2_conv2d_transpose").kernel.shape == (3, 3, 16, 8)
    assert worker.weights(path, "encoder_2_conv2d").kernel.shape == (3, 3, 32, 16)
    output = model.get_layer("decoder").get_layer("output_conv2d")
    remote = inference.layer_weights(worker.model(_run(path)), "output_conv2d")
    np.testing.assert_array_equal(remote.bias, output.get_weights()[1])


def test_layers_without_weights_say_so_and_unknown_layers_are_refused(
    worker: InferenceWorker, upsampling_model: tuple[Path, keras.Model]
) -> None:
    path, model = upsampling_model
    upsampling = worker.weights(path, "decoder_1_up_sampling2d")
    assert upsampling.type == "UpSampling2D" and not upsampling.has_weights and upsampling.bias is None
    convolution = worker.weights(path, "decoder_2_conv2d")
    np.testing.assert_array_equal(convolution.kernel, model.get_layer("decoder").get_layer("decoder_2_conv2d").kernel)
    with pytest.raises(InferenceError) as raised:
        worker.weights(path, "decoder_9_conv2d")
    assert "Invalid value for argument `layer`. Expected one of ['encoder_1_conv2d', " in str(raised.value)
    assert str(raised.value).endswith("Received layer='decoder_9_conv2d'.")
    worker.weights(path, "output_conv2d")  # The worker carries on.


def test_a_loaded_model_is_reused(
    worker: InferenceWorker, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    path, _ = models["first"]
    worker.reconstruct(path, images[:1])
    loads = worker.info()["loads"]
    worker.reconstruct(path, images[:5])
    worker.feature_maps(path, images[0])
    info = worker.info()
    assert info["loads"] == loads
    assert info["models"][-1] == str(path) and info["pid"] == worker.pid


def test_a_rewritten_model_file_is_loaded_again(
    worker: InferenceWorker, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray, tmp_path: Path
) -> None:
    (first, first_model), (second, second_model) = models["first"], models["second"]
    path = _copy(first, tmp_path / "training-run")
    np.testing.assert_allclose(worker.reconstruct(path, images[:8]), as_array(first_model(images[:8])), atol=1e-6)
    loads = worker.info()["loads"]
    # As a training worker saves each epoch: a new file renamed over the old one. The modification time is moved
    # on explicitly, so the test does not depend on the file system's clock resolution.
    shutil.copy2(second, tmp_path / "next.keras")
    os.replace(tmp_path / "next.keras", path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    np.testing.assert_allclose(worker.reconstruct(path, images[:8]), as_array(second_model(images[:8])), atol=1e-6)
    assert worker.info()["loads"] == loads + 1
    assert worker.info()["models"].count(str(path)) == 1  # The old version left the cache.


def test_the_least_recently_used_model_leaves_the_cache(
    worker: InferenceWorker, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray, tmp_path: Path
) -> None:
    paths = [_copy(models["first"][0], tmp_path / f"run-{index}") for index in range(serving.CACHE_SIZE + 1)]
    for path in paths:
        worker.reconstruct(path, images[:1])
    info = worker.info()
    assert info["models"] == [str(path) for path in paths[1:]]
    worker.reconstruct(paths[0], images[:1])
    assert worker.info()["loads"] == info["loads"] + 1


DAMAGES = {
    "missing": (lambda path: path.unlink(), "No model file at {path}."),
    "not a zip": (lambda path: path.write_bytes(b"not a keras archive"), "The model file {path} cannot be read: "),
    "truncated": (lambda path: path.write_bytes(path.read_bytes()[:500]), "The model file {path} cannot be read: "),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_missing_or_damaged_model_file_is_a_clear_error_and_the_worker_carries_on(
    worker: InferenceWorker,
    models: dict[str, tuple[Path, keras.Model]],
    images: np.ndarray,
    tmp_path: Path,
    damage: str,
) -> None:
    path = _copy(models["first"][0], tmp_path / "run")
    spoil, message = DAMAGES[damage]
    spoil(path)
    pid = worker.pid
    with pytest.raises(ModelFileError) as raised:
        worker.reconstruct(path, images[:2])
    assert str(raised.value).startswith(message.format(path=path))
    assert isinstance(raised.value, RunStoreError) and raised.value.path == path
    with pytest.raises(ModelFileError):
        worker.feature_maps(path, images[0])
    with pytest.raises(ModelFileError):
        worker.weights(path, "encoder_1_conv2d")
    assert worker.pid == pid  # The same worker answers the next request.
    worker.reconstruct(models["first"][0], images[:2])
    assert worker.pid == pid


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "Run 'run' has no saved model yet (status: running)."),
        ("not a zip", "The model file of run 'run' cannot be read: "),
    ],
)
def test_errors_of_a_remote_model_name_its_run(
    worker: InferenceWorker,
    models: dict[str, tuple[Path, keras.Model]],
    images: np.ndarray,
    tmp_path: Path,
    damage: str,
    message: str,
) -> None:
    path = _copy(models["first"][0], tmp_path / "run")
    DAMAGES[damage][0](path)
    remote = worker.model(_run(path, status="running"))
    for call in (
        lambda: remote(images[:2]),
        lambda: inference.feature_maps(remote, images[0]),
        lambda: inference.layer_weights(remote, "encoder_1_conv2d"),
    ):
        with pytest.raises(ModelFileError) as raised:
            call()
        assert str(raised.value).startswith(message)


def test_a_worker_killed_during_a_request_fails_that_request_and_the_next_one_starts_a_new_worker(
    worker: InferenceWorker, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    path, model = models["first"]
    worker.reconstruct(path, images[:1])
    killed = worker.pid
    with killed_during_next_request(worker), pytest.raises(InferenceError) as raised:
        worker.reconstruct(path, images)
    assert str(raised.value) == KILLED
    np.testing.assert_allclose(worker.reconstruct(path, images[:4]), as_array(model(images[:4])), atol=1e-6)
    assert worker.pid not in (None, killed)


def test_a_worker_found_dead_between_requests_is_replaced_without_an_error(
    worker: InferenceWorker, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    path, model = models["second"]
    worker.reconstruct(path, images[:1])
    killed = worker.pid
    os.kill(killed, signal.SIGKILL)
    wait_until_gone(killed)
    np.testing.assert_allclose(worker.reconstruct(path, images[:4]), as_array(model(images[:4])), atol=1e-6)
    assert worker.pid not in (None, killed)


def test_a_worker_that_does_not_answer_in_time_is_stopped_and_replaced(
    models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    path, model = models["first"]
    with InferenceWorker() as worker:
        worker.reconstruct(path, images[:1])
        hung = worker.pid
        os.kill(hung, signal.SIGSTOP)  # Stands in for a worker stuck in a request.
        worker.timeout = 1.0
        with pytest.raises(InferenceError) as raised:
            worker.reconstruct(path, images[:1])
        assert str(raised.value) == (
            "The model worker did not answer within 1 seconds; it was stopped and restarts on the next request."
        )
        wait_until_gone(hung)
        worker.timeout = inference.WORKER_TIMEOUT
        np.testing.assert_allclose(worker.reconstruct(path, images[:2]), as_array(model(images[:2])), atol=1e-6)


def test_concurrent_requests_from_many_threads_get_their_own_answers(
    worker: InferenceWorker, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    expected = {name: inference.reconstruct(model, images[:200]) for name, (_, model) in models.items()}
    failures: list[str] = []

    def ask(thread: int) -> None:
        try:
            for request in range(6):
                name = ("first", "second")[(thread + request) % 2]
                start = (thread * 7 + request * 13) % 150
                count = 1 + (thread + request) % 50
                answer = worker.reconstruct(models[name][0], images[start : start + count])
                np.testing.assert_allclose(answer, expected[name][start : start + count], atol=1e-6)
        except Exception as error:  # Collected: an assertion in a thread would not fail the test.
            failures.append(f"thread {thread}: {error!r}")

    threads = [threading.Thread(target=ask, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    assert not any(thread.is_alive() for thread in threads)


def test_close_ends_the_worker_and_a_later_request_starts_another(
    models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    path, model = models["first"]
    worker = InferenceWorker()
    worker.start()
    first = worker.pid
    worker.close()
    wait_until_gone(first)
    assert worker.pid is None
    np.testing.assert_allclose(worker.reconstruct(path, images[:2]), as_array(model(images[:2])), atol=1e-6)
    second = worker.pid
    worker.close()
    wait_until_gone(second)


def test_the_worker_ends_with_the_process_that_started_it() -> None:
    # A server killed outright (SIGKILL) runs no clean-up: its end of the connection closes with it.
    script = "import time\nfrom core.inference import InferenceWorker\n" + (
        "worker = InferenceWorker()\nworker.start()\nprint(worker.pid, flush=True)\ntime.sleep(600)\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY_ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPOSITORY_ROOT, env=environment, stdout=subprocess.PIPE, text=True
    )
    try:
        worker_pid = int(server.stdout.readline())
    finally:
        server.kill()
        server.wait()
        server.stdout.close()
    wait_until_gone(worker_pid, timeout=60)


def test_a_worker_that_cannot_import_keras_says_so(
    monkeypatch: pytest.MonkeyPatch, models: dict[str, tuple[Path, keras.Model]], images: np.ndarray
) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "no-such-backend")
    with InferenceWorker() as worker:
        for _ in range(2):  # It answers every request, and stays up.
            with pytest.raises(InferenceError, match="^The model worker could not answer: The model worker cannot "
                               "import Keras: ValueError: Unable to import backend : no-such-backend"):  # fmt: skip
                worker.reconstruct(models["first"][0], images[:1])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda worker: worker.reconstruct("model.keras", np.zeros((2, 32, 32))), "Received shape=(2, 32, 32, 1)."),
        (lambda worker: worker.reconstruct("model.keras", np.zeros(784)), "Received shape=(784,)."),
        (lambda worker: worker.reconstruct("model.keras", np.zeros((1, 28, 28)), batch_size=0), "batch_size=0."),
        (lambda worker: worker.feature_maps("model.keras", np.zeros((2, 28, 28))), "Received shape=(2, 28, 28)."),
        (lambda worker: worker.weights("model.keras", ""), "Expected a layer name. Received layer=''."),
        (lambda worker: InferenceWorker(timeout=0), "Expected seconds > 0. Received timeout=0."),
        (lambda worker: serving.ModelCache(capacity=0), "Expected at least 1. Received capacity=0."),
    ],
)
def test_invalid_arguments_are_refused_before_any_request(call: object, message: str) -> None:
    worker = InferenceWorker()
    with pytest.raises(ValueError) as raised:
        call(worker)
    assert message in str(raised.value) and str(raised.value).startswith("Invalid ")
    assert worker.pid is None  # Nothing was sent: no worker was started.


def test_an_unknown_operation_is_answered_with_an_error() -> None:
    answer = serving.handle({"id": 3, "operation": "fog"}, serving.ModelCache())
    assert answer == {
        "id": 3,
        "error": "failed",
        "message": "Invalid value for argument `operation`. Expected one of ['reconstruct', 'feature_maps', 'weights', "
        "'encode', 'decode', 'inspect', 'info']. Received operation='fog'.",
    }
