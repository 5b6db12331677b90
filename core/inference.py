"""Using a trained model: reconstructions, per-image errors, one digit denoised, rankings, feature maps, layer
weights, codes (encode and decode), and the inference worker.

Images here are scaled float32 arrays of shape (n, 28, 28, 1) in [0, 1] (see `core.mnist.scale`).

The functions that run a model take anything called like a Keras model, `model(images, training=False)`: a
`keras.Model` where Keras may be imported (tests, notebooks, the inference worker itself), or a `RemoteModel`, a
handle on a run's model in the inference worker. The dashboard only ever uses the second: its process must never
import Keras (see `core.serving`), and `InferenceWorker` is the client that talks to the worker. This module
imports no Keras.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from core.losses import per_image_binary_crossentropy, per_image_mean_squared_error
from core.noise import add_noise
from core.runs import PROJECT_ROOT, RunInfo, RunStoreError
from core.spec import INPUT_SHAPE
from core.text import describe_exit

SORT_ORDERS = ("worst", "best", "index")
BATCH_SIZE = 1000  # Images per model call: fast on CPU, and small enough that other requests never wait long.
# Seconds one request may take before its worker counts as hung. A cold worker imports TensorFlow and loads the
# model first (a few seconds), and the whole test set takes a few more on 2 CPUs, even beside a training job.
WORKER_TIMEOUT = 300.0


def reconstruct(model: Any, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The model's output for `images`, in chunks of `batch_size`, as float32 (n, 28, 28, 1).

    Uses `predict_on_batch`, Keras' compiled prediction step without `predict`'s set-up of a data adapter and
    callbacks, which for one drawn digit would cost more than the convolutions. Measured on 2 CPUs with the
    seed-fast model: one image in 1.5 ms (9.5 ms called eagerly as `model(images)`), 1,000 in 141 ms (198 ms).
    A `RemoteModel` gets all the images in one request, which the worker splits the same way: one request
    is answered by one version of the model file, even while a run still training rewrites it.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if isinstance(model, RemoteModel):
        return model(images, batch_size=batch_size)
    if len(images) == 0:
        return np.zeros_like(images)
    return _in_chunks(model, images, batch_size)


def _in_chunks(model: Any, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    # A Keras model's compiled prediction step (see `reconstruct`), `batch_size` inputs at a time, as float32.
    predict = getattr(model, "predict_on_batch", None) or (lambda chunk: model(chunk, training=False))
    chunks = [np.asarray(predict(inputs[start : start + batch_size])) for start in range(0, len(inputs), batch_size)]
    return np.concatenate(chunks).astype(np.float32, copy=False)


def encode(model: Any, images: np.ndarray, batch_size: int = BATCH_SIZE, halves: Any = None) -> np.ndarray:
    """The codes of `images`: the encoder's output, the bottleneck the decoder rebuilds each image from.

    Args:
        model: a `RemoteModel`, whose worker encodes, or a `keras.Model` (see `core.model.latent_models`).
        images: (n, 28, 28, 1) or (n, 28, 28) values in [0, 1], n >= 1.
        batch_size: the images per model call.
        halves: for a `keras.Model`, its (encoder, decoder) from `core.model.latent_models`, to reuse.

    Returns:
        float32 (n, height, width, channels): (n, 22, 22, 8) for the `seed` preset.

    Raises:
        ValueError: for no images, or images of another shape.
        RunStoreError: (a `ModelFileError`) for a remote model whose file is missing or damaged.
        InferenceError: for a remote model whose worker stopped or failed, or a model with no bottleneck to cut at.
    """
    images = _check_images(images)
    if isinstance(model, RemoteModel):
        return model.encode(images, batch_size=batch_size)
    encoder, _ = halves if halves is not None else _latent_models(model)
    return _in_chunks(encoder, images, batch_size)


def decode(model: Any, codes: np.ndarray, batch_size: int = BATCH_SIZE, halves: Any = None) -> np.ndarray:
    """The decoder's output for `codes`, as `encode` gives them: decode(encode(x)) is the model's output for x.

    Args:
        model: a `RemoteModel`, whose worker decodes, or a `keras.Model` (see `core.model.latent_models`).
        codes: (n, height, width, channels), the shape of the model's code, n >= 1.
        batch_size: the codes per model call.
        halves: for a `keras.Model`, its (encoder, decoder) from `core.model.latent_models`, to reuse.

    Returns:
        float32 (n, 28, 28, 1) in [0, 1] for a sigmoid output layer.

    Raises:
        ValueError: for no codes, or codes whose shape is not the model's code shape.
        RunStoreError: (a `ModelFileError`) for a remote model whose file is missing or damaged.
        InferenceError: for a remote model whose worker stopped or failed (codes of another shape included).
    """
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim != 4 or len(codes) == 0:
        raise ValueError(
            "Invalid shape for argument `codes`. Expected (n, height, width, channels) with n >= 1. "
            f"Received shape={codes.shape}."
        )
    if isinstance(model, RemoteModel):
        return model.decode(codes, batch_size=batch_size)
    _, decoder = halves if halves is not None else _latent_models(model)
    expected = tuple(decoder.input_shape[1:])
    if codes.shape[1:] != expected:
        raise ValueError(
            f"Invalid shape for argument `codes`. Expected (n, {', '.join(map(str, expected))}), this model's code "
            f"shape. Received shape={codes.shape}."
        )
    return _in_chunks(decoder, codes, batch_size)


def _latent_models(model: Any) -> Any:
    from core.model import latent_models

    return latent_models(model)


def _check_images(images: np.ndarray) -> np.ndarray:
    # (n, 28, 28) or (n, 28, 28, 1) with n >= 1, as float32 (n, 28, 28, 1).
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[1:] != INPUT_SHAPE or len(images) == 0:
        raise ValueError(
            "Invalid shape for argument `images`. Expected (n, 28, 28, 1) or (n, 28, 28) with n >= 1. "
            f"Received shape={images.shape}."
        )
    return images


def per_image_errors(targets: np.ndarray, reconstructions: np.ndarray) -> dict[str, np.ndarray]:
    """Binary cross-entropy and mean squared error of each image, averaged over its pixels as Keras does.

    Returns:
        {"bce": (n,) float64, "mse": (n,) float64}.
    """
    return {
        "bce": per_image_binary_crossentropy(targets, reconstructions),
        "mse": per_image_mean_squared_error(targets, reconstructions),
    }


@dataclass(frozen=True)
class TestSetReport:
    """Reconstructions of the 10,000 test images with their labels and per-image errors.

    For a denoiser evaluated on corrupted inputs, `inputs` holds what the model was given; the errors are
    always measured against the clean `images`.
    """

    images: np.ndarray  # (10000, 28, 28, 1) float32, scaled: the clean targets.
    reconstructions: np.ndarray  # Same shape.
    labels: np.ndarray  # (10000,) uint8.
    bce: np.ndarray  # (10000,) per-image binary cross-entropy.
    mse: np.ndarray  # (10000,) per-image mean squared error.
    inputs: np.ndarray | None = None  # The noisy inputs of a denoising evaluation; None when they are `images`.

    __test__ = False  # Its name would make pytest try to collect it from test modules.

    def errors(self, loss: str) -> np.ndarray:
        """Per-image errors for "bce"/"binary_crossentropy" or "mse"."""
        return self.bce if loss in ("bce", "binary_crossentropy") else self.mse

    def class_means(self, loss: str = "bce") -> np.ndarray:
        """Mean error of each digit class 0-9."""
        errors = self.errors(loss)
        return np.array([errors[self.labels == digit].mean() for digit in range(10)])

    @cached_property
    def bce_floors(self) -> np.ndarray:
        """Each image's binary cross-entropy against itself: the lowest BCE any model can reach on it.

        Grey pixels cost their entropy even when predicted exactly, so the floor differs from image to image;
        its mean over the test set is `core.losses.test_floor("binary_crossentropy")`.
        """
        return per_image_errors(self.images, self.images)["bce"]

    def floors(self, loss: str) -> np.ndarray:
        """Per-image floors for "bce"/"binary_crossentropy" (see `bce_floors`) or "mse" (all zero)."""
        return self.bce_floors if loss in ("bce", "binary_crossentropy") else np.zeros(len(self.labels))

    def class_floors(self, loss: str = "bce") -> np.ndarray:
        """Mean floor of each digit class 0-9."""
        floors = self.floors(loss)
        return np.array([floors[self.labels == digit].mean() for digit in range(10)])


def evaluate_test_set(
    model: Any, *, noise_kind: str = "none", noise_amount: float = 0.0, seed: int = 0
) -> TestSetReport:
    """Reconstructs the whole MNIST test set and measures each image's error.

    Args:
        model: an autoencoder taking (n, 28, 28, 1) images in [0, 1]: a `RemoteModel`, or a `keras.Model`.
        noise_kind: "none" to reconstruct the clean images, or a kind of `core.noise.add_noise` to corrupt the
            inputs first, as a denoiser is meant to be used; errors are still measured against the clean images.
        noise_amount: the strength of the noise, in [0, 1].
        seed: the seed of the noise, so that the same run always sees the same corrupted images.

    Returns:
        The report; its `inputs` are the corrupted images, or None without noise.

    Raises:
        ValueError: for an unknown noise kind or an amount outside [0, 1].
        RunStoreError: (a `ModelFileError`) for a remote model whose file is missing or cannot be read.
        InferenceError: for a remote model whose worker stopped or failed.
    """
    from core.mnist import load_mnist, scale

    mnist = load_mnist()
    images = scale(mnist.x_test)
    inputs = None if noise_kind == "none" else add_noise(images, noise_kind, noise_amount, seed=seed)
    reconstructions = reconstruct(model, images if inputs is None else inputs)
    errors = per_image_errors(images, reconstructions)
    return TestSetReport(images, reconstructions, mnist.y_test, errors["bce"], errors["mse"], inputs)


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value.
class Denoised:
    """One clean digit, the noisy input made from it, the model's output and how far that is from the clean digit.

    Attributes:
        clean: (28, 28) float32, the digit before noise (the target).
        noisy: (28, 28) float32, what the model was given.
        output: (28, 28) float32, the model's reconstruction of `noisy`.
        error: (28, 28) float32, |output - clean| per pixel.
        bce: binary cross-entropy of `output` against `clean`, averaged over the pixels as Keras does.
        mse: mean squared error of `output` against `clean`.
    """

    clean: np.ndarray
    noisy: np.ndarray
    output: np.ndarray
    error: np.ndarray
    bce: float
    mse: float


def denoise(
    model: Any, clean: np.ndarray, noise_kind: str = "none", noise_amount: float = 0.0, seed: int = 0
) -> Denoised:
    """Adds noise to one clean digit, runs the model on it and measures its error against the clean digit.

    Args:
        model: an autoencoder taking (batch, 28, 28, 1) images in [0, 1], called like a Keras model: in the
            dashboard a `RemoteModel`, whose inference worker runs it.
        clean: one digit, (28, 28) or (28, 28, 1), with values in [0, 1].
        noise_kind: one of `core.noise.NOISE_KINDS`: "none", "gaussian", "salt_pepper" or "block".
        noise_amount: the noise strength in [0, 1] (see `core.noise.add_noise`).
        seed: the noise's random seed, so the same settings give the same noisy input.

    Returns:
        The `Denoised` images and errors.

    Raises:
        ValueError: for an image that is not 28x28, or an unknown noise kind or amount (from `add_noise`).
        RunStoreError: (a `ModelFileError`) for a remote model whose file is missing or damaged.
        InferenceError: for a remote model whose worker stopped or failed.
    """
    clean = np.asarray(clean, dtype=np.float32)
    if clean.shape not in (INPUT_SHAPE[:2], INPUT_SHAPE):
        raise ValueError(
            f"Invalid shape for argument `clean`. Expected (28, 28) or (28, 28, 1). Received shape={clean.shape}."
        )
    clean = clean.reshape(INPUT_SHAPE[:2])
    noisy = add_noise(clean, noise_kind, noise_amount, seed)
    output = reconstruct(model, noisy[np.newaxis])[0, :, :, 0]  # (1, 28, 28) -> (1, 28, 28, 1) -> (28, 28)
    errors = per_image_errors(clean[np.newaxis], output[np.newaxis])
    return Denoised(
        clean=clean,
        noisy=noisy,
        output=output,
        error=np.abs(output - clean),
        bce=float(errors["bce"][0]),
        mse=float(errors["mse"][0]),
    )


def rank_images(errors: np.ndarray, labels: np.ndarray, order: str = "worst", digit: int | None = None) -> np.ndarray:
    """Indices of the images to show: of one `digit` (or all), sorted by error ("worst", "best") or "index".

    Raises:
        ValueError: for an unknown order or a digit outside 0-9.
    """
    if order not in SORT_ORDERS:
        raise ValueError(
            f"Invalid value for argument `order`. Expected one of {list(SORT_ORDERS)}. Received order={order!r}."
        )
    if digit is not None and digit not in range(10):
        raise ValueError(
            f"Invalid value for argument `digit`. Expected an integer from 0 to 9. Received digit={digit!r}."
        )
    indices = np.arange(len(errors)) if digit is None else np.flatnonzero(labels == digit)
    if order == "index":
        return indices
    ranked = indices[np.argsort(errors[indices], kind="stable")]
    return ranked[::-1] if order == "worst" else ranked


def page_count(total: int, per_page: int) -> int:
    """How many pages of `per_page` items `total` items fill; at least 1, so an empty selection has a page.

    Raises:
        ValueError: if `per_page` is not a positive integer.
    """
    if per_page < 1:
        raise ValueError(f"Invalid value for argument `per_page`. Expected a positive integer. Received {per_page}.")
    return max(1, -(-total // per_page))


def page_of(indices: np.ndarray, page: int, per_page: int) -> np.ndarray:
    """The items of page `page` (counted from 1) of `indices`, `per_page` at a time; the last page may be short.

    Raises:
        ValueError: if `page` is not between 1 and the page count, or `per_page` is not positive.
    """
    pages = page_count(len(indices), per_page)
    if not 1 <= page <= pages:
        raise ValueError(f"Invalid value for argument `page`. Expected a page from 1 to {pages}. Received {page}.")
    return indices[(page - 1) * per_page : page * per_page]


def worst_rank(errors: np.ndarray, index: int) -> int:
    """The rank of image `index` among all images when sorted worst first: 1 for the largest error.

    Ties share the best rank they span, so equal errors never look different.
    """
    return int(np.count_nonzero(errors > errors[index])) + 1


def feature_maps(model: Any, image: np.ndarray, features: Any = None) -> list[tuple[str, np.ndarray]]:
    """Every layer's output for one image, as (layer name, (height, width, channels) array), in order.

    Args:
        model: a `RemoteModel`, whose worker computes the maps, or a `keras.Model` built by `core.model`.
        image: one image, (28, 28) or (28, 28, 1), in [0, 1].
        features: for a `keras.Model`, its `core.model.feature_model` made earlier, to reuse; made here if None.

    Returns:
        The encoder's layers, then the decoder's, the output layer last.
    """
    if isinstance(model, RemoteModel):
        return model.feature_maps(image)
    import keras

    if features is None:
        from core.model import feature_model

        features = feature_model(model)
    outputs = features(np.asarray(image, dtype=np.float32).reshape(1, 28, 28, 1), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    names = [layer.name for layer in model.get_layer("encoder").layers[1:]]
    names += [layer.name for layer in model.get_layer("decoder").layers[1:]]
    # Not `np.asarray`: on PyTorch a layer's output is a tensor that requires grad, which NumPy cannot read.
    return [(name, keras.ops.convert_to_numpy(output)[0]) for name, output in zip(names, outputs, strict=True)]


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value.
class LayerWeights:
    """One layer's weights as Keras holds them, in Keras' own layout.

    Attributes:
        layer: the layer's name ("decoder_2_conv2d_transpose").
        type: its Keras class name: "Conv2D", "Conv2DTranspose", "MaxPooling2D" or "UpSampling2D".
        kernel: float32 (kernel_size, kernel_size, in, out) for a Conv2D, (kernel_size, kernel_size, out, in)
            for a Conv2DTranspose; None for a layer without weights.
        bias: float32 (filters,), or None for a layer without weights.
    """

    layer: str
    type: str
    kernel: np.ndarray | None
    bias: np.ndarray | None

    @property
    def has_weights(self) -> bool:
        return self.kernel is not None


def layer_weights(model: Any, layer: str) -> LayerWeights:
    """The kernel and bias of the layer named `layer` (one that `feature_maps` names) of an autoencoder.

    Args:
        model: a `RemoteModel`, whose worker reads the weights, or a `keras.Model` built by `core.model`.
        layer: the layer's name, such as "encoder_1_conv2d" or "output_conv2d".

    Raises:
        ValueError: for a name that is not one of the encoder's or decoder's layers.
        RunStoreError: (a `ModelFileError`) for a remote model whose file is missing or damaged.
        InferenceError: for a remote model whose worker stopped or failed.
    """
    if isinstance(model, RemoteModel):
        return model.weights(layer)
    import keras

    layers = [*model.get_layer("encoder").layers[1:], *model.get_layer("decoder").layers[1:]]
    found = next((candidate for candidate in layers if candidate.name == layer), None)
    if found is None:
        raise ValueError(
            f"Invalid value for argument `layer`. Expected one of {[candidate.name for candidate in layers]}. "
            f"Received layer={layer!r}."
        )
    kernel, bias = getattr(found, "kernel", None), getattr(found, "bias", None)
    return LayerWeights(
        layer=found.name,
        type=type(found).__name__,
        kernel=None if kernel is None else np.asarray(keras.ops.convert_to_numpy(kernel), dtype=np.float32),
        bias=None if bias is None else np.asarray(keras.ops.convert_to_numpy(bias), dtype=np.float32),
    )


@dataclass(frozen=True)
class ModelInspection:
    """What a loaded model is, as plain data: what `core.model_import` checks before a model becomes a run.

    Attributes:
        input_shapes: each input's shape, batch first (None where any size is taken): ((None, 28, 28, 1),).
        output_shapes: each output's shape, likewise.
        params: the number of weights, trainable or not.
        layers: (name, Keras class name) of every layer in order, the layers of nested models in their place.
        feature_layers: (name, output shape without the batch) of each layer `feature_maps` would show, or None
            for a model `core.model.feature_model` cannot read (one without the "encoder" and "decoder" parts).
    """

    input_shapes: tuple[tuple[int | None, ...], ...]
    output_shapes: tuple[tuple[int | None, ...], ...]
    params: int
    layers: tuple[tuple[str, str], ...]
    feature_layers: tuple[tuple[str, tuple[int | None, ...]], ...] | None


def inspect_model(model: Any) -> ModelInspection:
    """The shapes, parameter count and layers of a loaded `keras.Model` (imports Keras, so only in a worker)."""
    from core.model import feature_model

    try:
        shown = [*model.get_layer("encoder").layers[1:], *model.get_layer("decoder").layers[1:]]
        outputs = feature_model(model).outputs
        feature_layers = tuple(
            (layer.name, tuple(output.shape[1:])) for layer, output in zip(shown, outputs, strict=True)
        )
    except Exception:  # Not our encoder-decoder layout: the Layer explorer cannot read it, and says so.
        feature_layers = None
    return ModelInspection(
        input_shapes=tuple(tuple(tensor.shape) for tensor in model.inputs),
        output_shapes=tuple(tuple(tensor.shape) for tensor in model.outputs),
        params=int(model.count_params()),
        layers=tuple(_layers(model)),
        feature_layers=feature_layers,
    )


def _layers(model: Any) -> Iterator[tuple[str, str]]:
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        if hasattr(layer, "layers"):  # A nested model, such as the studio's encoder and decoder.
            yield from _layers(layer)
        else:
            yield layer.name, type(layer).__name__


# --- The inference worker's client ---------------------------------------------------------------------------


class InferenceError(RuntimeError):
    """The inference worker could not answer: it stopped, could not be started, took too long or failed."""


class ModelFileError(RunStoreError):
    """A model file that does not exist or that Keras cannot read; a `RunStoreError`, as for any damaged run.

    Attributes:
        path: the model file.
        reason: what Keras said about a file it could not read; None when there is no file.
    """

    def __init__(self, message: str, path: Path, reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


class InferenceWorker:
    """The client of one inference worker process (`python -m core.serving`), shared by every thread.

    The worker process starts on the first request, or earlier with `start`, which returns at once and leaves
    the worker importing Keras in the background. It keeps the last few models it loaded (see
    `core.serving.ModelCache`). Requests are answered one at a time: a lock holds each request together with its
    answer, so any number of threads (Streamlit's sessions) may call at once.

    If the worker dies while a request waits for its answer (a crash, SIGKILL, the out-of-memory killer), that
    request raises `InferenceError` saying how it ended, and the next request starts a new worker. A worker found
    dead before a request is sent has lost nothing, so it is replaced without an error.
    """

    def __init__(self, timeout: float = WORKER_TIMEOUT) -> None:
        """Prepares the client; no process starts until `start` or the first request.

        Args:
            timeout: the seconds one request may take before the worker is stopped as hung.

        Raises:
            ValueError: for a timeout that is not positive.
        """
        if not timeout > 0:
            raise ValueError(f"Invalid value for argument `timeout`. Expected seconds > 0. Received timeout={timeout}.")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._request_ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The worker's process id; None before it starts, after `close`, and after a request found it dead."""
        process = self._process
        return None if process is None else process.pid

    def start(self) -> None:
        """Starts the worker if it is not running, without waiting for it: it imports Keras in the background.

        Never raises: a worker that cannot be launched is reported by the first request, which tries again.
        """
        if not self._lock.acquire(blocking=False):
            return  # A request is in flight, so a worker is running or being started for it.
        try:
            self._ensure_running()
        except InferenceError:
            pass  # Only a head start: the first request tries again and reports the problem to its caller.
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stops the worker (it exits when its connection closes) and waits for it; a later request starts another."""
        with self._lock:
            self._discard()

    def __enter__(self) -> InferenceWorker:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def model(self, run: RunInfo) -> RemoteModel:
        """A handle on `run`'s model in the worker, called like a Keras model (see `RemoteModel`)."""
        return RemoteModel(self, run)

    def reconstruct(self, path: Path | str, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The output of the model saved at `path` for `images`, computed in the worker.

        Args:
            path: a saved `.keras` autoencoder.
            images: (n, 28, 28, 1) or (n, 28, 28) values in [0, 1].
            batch_size: the images per model call in the worker.

        Returns:
            float32 (n, 28, 28, 1).

        Raises:
            ValueError: for images of another shape, or a batch size below 1.
            ModelFileError: if there is no file at `path` or Keras cannot read it.
            InferenceError: if the worker stopped, timed out or failed (see the class).
        """
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[..., np.newaxis]
        if images.ndim != 4 or images.shape[1:] != INPUT_SHAPE:
            raise ValueError(
                "Invalid shape for argument `images`. Expected (n, 28, 28, 1) or (n, 28, 28). "
                f"Received shape={images.shape}."
            )
        request = {"images": np.ascontiguousarray(images), "batch_size": _check_batch_size(batch_size)}
        return self._request("reconstruct", _absolute(path), **request)

    def feature_maps(self, path: Path | str, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Every layer's output for one image through the model saved at `path` (see `feature_maps`).

        Raises:
            ValueError: for an image that is not 28x28.
            ModelFileError: if there is no file at `path` or Keras cannot read it.
            InferenceError: if the worker stopped, timed out or failed.
        """
        image = np.asarray(image, dtype=np.float32)
        if image.shape not in ((28, 28), INPUT_SHAPE, (1, *INPUT_SHAPE)):
            raise ValueError(
                f"Invalid shape for argument `image`. Expected (28, 28) or (28, 28, 1). Received shape={image.shape}."
            )
        return self._request("feature_maps", _absolute(path), image=image.reshape(INPUT_SHAPE))

    def weights(self, path: Path | str, layer: str) -> LayerWeights:
        """The kernel and bias of one layer of the model saved at `path` (see `layer_weights`).

        Raises:
            ValueError: for a layer name that is not a non-empty string.
            ModelFileError: if there is no file at `path` or Keras cannot read it.
            InferenceError: if the worker stopped, timed out or failed, or the model has no layer of that name.
        """
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"Invalid value for argument `layer`. Expected a layer name. Received layer={layer!r}.")
        return self._request("weights", _absolute(path), layer=layer)

    def inspect(self, path: Path | str) -> ModelInspection:
        """Loads the model saved at `path` (with Keras' safe mode, as every load) and says what it is, uncached.

        Raises:
            ModelFileError: if there is no file at `path` or Keras cannot read it; `reason` says why.
            InferenceError: if the worker stopped, timed out or failed.
        """
        return self._request("inspect", _absolute(path))

    def encode(self, path: Path | str, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The codes of `images` through the encoder of the model saved at `path` (see `encode`).

        Raises:
            ValueError: for no images, images of another shape, or a batch size below 1.
            ModelFileError: if there is no file at `path` or Keras cannot read it.
            InferenceError: if the worker stopped, timed out or failed, or the model has no bottleneck to cut at.
        """
        request = {"images": np.ascontiguousarray(_check_images(images)), "batch_size": _check_batch_size(batch_size)}
        return self._request("encode", _absolute(path), **request)

    def decode(self, path: Path | str, codes: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The output of the decoder of the model saved at `path` for `codes` (see `decode`).

        Raises:
            ValueError: for codes that are not (n, height, width, channels), or a batch size below 1.
            ModelFileError: if there is no file at `path` or Keras cannot read it.
            InferenceError: if the worker stopped, timed out or failed, or the codes are not this model's shape.
        """
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 4 or len(codes) == 0:
            raise ValueError(
                "Invalid shape for argument `codes`. Expected (n, height, width, channels) with n >= 1. "
                f"Received shape={codes.shape}."
            )
        request = {"codes": np.ascontiguousarray(codes), "batch_size": _check_batch_size(batch_size)}
        return self._request("decode", _absolute(path), **request)

    def info(self) -> dict[str, Any]:
        """What the worker holds: {"pid": ..., "models": [paths, least recently used first], "loads": count}.

        `loads` counts the model files loaded since the worker started, reloads of rewritten files included.

        Raises:
            InferenceError: if the worker stopped, timed out or failed.
        """
        return self._request("info", None)

    def _request(self, operation: str, path: Path | None, **arguments: Any) -> Any:
        request = {"id": next(self._request_ids), "operation": operation, "path": str(path), **arguments}
        with self._lock:
            self._ensure_running()
            process, connection = self._process, self._connection
            assert process is not None and connection is not None
            # A watchdog, not a timeout on `recv` alone: a hung worker can also stop reading a large request.
            expired = threading.Event()

            def expire() -> None:
                expired.set()
                process.kill()

            watchdog = threading.Timer(self.timeout, expire)
            watchdog.daemon = True
            watchdog.start()
            try:
                connection.send(request)
                response = connection.recv()
            except (EOFError, OSError) as error:
                code = self._discard()
                if expired.is_set():
                    raise InferenceError(
                        f"The model worker did not answer within {self.timeout:g} seconds; it was stopped and "
                        "restarts on the next request."
                    ) from error
                raise InferenceError(
                    f"The model worker stopped unexpectedly: {describe_exit(code)}. It restarts on the next request."
                ) from error
            except BaseException:
                # Interrupted between a request and its answer: that answer would be read as the next request's.
                self._discard(kill=True)
                raise
            finally:
                watchdog.cancel()
            if response.get("id") != request["id"]:  # The lock pairs them; never trust a mix-up blindly though.
                self._discard(kill=True)
                raise InferenceError("The model worker answered another request; it restarts on the next request.")
        error = response.get("error")
        if error is None:
            return response["result"]
        message = response.get("message", "")
        if error == "missing":
            raise ModelFileError(f"No model file at {path}.", Path(str(path)))
        if error == "unreadable":
            raise ModelFileError(f"The model file {path} cannot be read: {message}", Path(str(path)), message)
        raise InferenceError(f"The model worker could not answer: {message}")

    def _ensure_running(self) -> None:
        # Called with the lock held.
        if self._process is not None and self._process.poll() is None:
            return
        if self._process is not None:
            code = self._discard()
            print(f"The model worker had stopped: {describe_exit(code)}. Starting a new one.", file=sys.stderr)
        server_end, worker_end = socket.socketpair()
        try:
            # A fresh interpreter (exec, not fork), so the worker shares no state with this process's threads.
            process = subprocess.Popen(
                [sys.executable, "-m", "core.serving", str(worker_end.fileno())],
                pass_fds=(worker_end.fileno(),),
                stdin=subprocess.DEVNULL,
                cwd=PROJECT_ROOT,
                env=_worker_environment(),
            )
        except OSError as error:
            server_end.close()
            raise InferenceError(f"The model worker could not be started: {error}") from error
        finally:
            worker_end.close()  # The worker's copy is its own; ours would hide its death from `recv`.
        self._process = process
        self._connection = Connection(server_end.detach())

    def _discard(self, kill: bool = False) -> int | None:
        # Called with the lock held. Returns the worker's exit code (None if there was no worker).
        connection, process = self._connection, self._process
        self._connection = self._process = None
        if connection is not None:
            connection.close()  # The worker reads the end of its connection and exits.
        if process is None:
            return None
        if kill:
            process.kill()
        try:
            return process.wait(timeout=2)
        except subprocess.TimeoutExpired:  # Still busy (importing Keras, or a long request): it has no caller left.
            process.kill()
            return process.wait()


class RemoteModel:
    """A run's model in the inference worker, called like a Keras model: `model(images, training=False)`.

    Each call sends the images to the worker and returns its output as a NumPy array, so `reconstruct`,
    `evaluate_test_set` and `denoise` take it as they would a `keras.Model`. The worker loads the
    run's `model.keras` on first use and again whenever the file changes, so a handle on a run still training
    follows its epochs. Errors name the run: `ModelFileError` (a `RunStoreError`) for a missing or damaged model
    file, `InferenceError` when the worker failed.
    """

    def __init__(self, worker: InferenceWorker, run: RunInfo) -> None:
        self.worker = worker
        self.run = run

    @property
    def path(self) -> Path:
        """The run's model file."""
        return self.run.path / "model.keras"

    def __call__(self, images: np.ndarray, training: bool = False, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The model's output for (n, 28, 28, 1) `images`, as float32 (see `InferenceWorker.reconstruct`).

        Args:
            images: (n, 28, 28, 1) or (n, 28, 28) values in [0, 1].
            training: must be False, as a Keras model is called for inference.
            batch_size: the images per model call in the worker.

        Raises:
            ValueError: for `training=True` (the worker only runs inference) or images of another shape.
            ModelFileError: if the run has no model file or Keras cannot read it.
            InferenceError: if the worker stopped, timed out or failed.
        """
        if training is not False:
            raise ValueError(
                "Invalid value for argument `training`. Expected False: the model worker only runs inference. "
                f"Received training={training!r}."
            )
        with self._naming_the_run():
            return self.worker.reconstruct(self.path, images, batch_size)

    def feature_maps(self, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Every layer's output for one image (see `core.inference.feature_maps`)."""
        with self._naming_the_run():
            return self.worker.feature_maps(self.path, image)

    def weights(self, layer: str) -> LayerWeights:
        """The kernel and bias of one layer (see `core.inference.layer_weights`)."""
        with self._naming_the_run():
            return self.worker.weights(self.path, layer)

    def encode(self, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The codes of `images` (see `core.inference.encode`)."""
        with self._naming_the_run():
            return self.worker.encode(self.path, images, batch_size)

    def decode(self, codes: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The decoder's output for `codes` (see `core.inference.decode`)."""
        with self._naming_the_run():
            return self.worker.decode(self.path, codes, batch_size)

    @contextlib.contextmanager
    def _naming_the_run(self) -> Iterator[None]:
        try:
            yield
        except ModelFileError as error:
            if error.reason is None:
                message = f"Run {self.run.run_id!r} has no saved model yet (status: {self.run.status})."
            else:
                message = f"The model file of run {self.run.run_id!r} cannot be read: {error.reason}"
            raise ModelFileError(message, error.path, error.reason) from error


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"Invalid value for argument `batch_size`. Expected an integer >= 1. Received batch_size={batch_size!r}."
        )
    return batch_size


def _absolute(path: Path | str) -> Path:
    # The worker runs in the project root and caches by path: one spelling per file.
    return Path(path).resolve()


def _worker_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONFAULTHANDLER"] = "1"  # A crash leaves Python's stack on stderr, not only a signal number.
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # Take GPU memory as needed; training needs it more.
    # `-m core.serving` must find the project wherever the server was started from.
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environment.get("PYTHONPATH")]))
    return environment
