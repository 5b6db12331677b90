"""Using a trained model: reconstructions, per-image errors, rankings and feature maps.

Images here are scaled float32 arrays of shape (n, 28, 28, 1) in [0, 1] (see `core.data.scale`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

EPSILON = 1e-7  # Keras clips predictions to [epsilon, 1 - epsilon] inside binary cross-entropy.
SORT_ORDERS = ("worst", "best", "index")


def reconstruct(model: Any, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The model's output for `images`, in chunks of `batch_size`, as float32 (n, 28, 28, 1).

    Calls the model directly rather than `predict`, which for one drawn digit would cost more in set-up than
    the convolution itself.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    chunks = [
        np.asarray(model(images[start : start + batch_size], training=False))
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros_like(images)


def per_image_errors(targets: np.ndarray, reconstructions: np.ndarray) -> dict[str, np.ndarray]:
    """Binary cross-entropy and mean squared error of each image, averaged over its pixels as Keras does.

    Returns:
        {"bce": (n,) float64, "mse": (n,) float64}.
    """
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    predictions = np.clip(np.asarray(reconstructions, dtype=np.float64).reshape(len(targets), -1), EPSILON, 1 - EPSILON)
    bce = -(targets * np.log(predictions) + (1 - targets) * np.log(1 - predictions)).mean(axis=1)
    mse = ((targets - np.asarray(reconstructions, dtype=np.float64).reshape(len(targets), -1)) ** 2).mean(axis=1)
    return {"bce": bce, "mse": mse}


@dataclass(frozen=True)
class TestSetReport:
    """Reconstructions of the 10,000 test images with their labels and per-image errors."""

    images: np.ndarray  # (10000, 28, 28, 1) float32, scaled.
    reconstructions: np.ndarray  # Same shape.
    labels: np.ndarray  # (10000,) uint8.
    bce: np.ndarray  # (10000,) per-image binary cross-entropy.
    mse: np.ndarray  # (10000,) per-image mean squared error.

    def errors(self, loss: str) -> np.ndarray:
        """Per-image errors for "bce"/"binary_crossentropy" or "mse"."""
        return self.bce if loss in ("bce", "binary_crossentropy") else self.mse

    def class_means(self, loss: str = "bce") -> np.ndarray:
        """Mean error of each digit class 0-9."""
        errors = self.errors(loss)
        return np.array([errors[self.labels == digit].mean() for digit in range(10)])


def evaluate_test_set(model: Any) -> TestSetReport:
    """Reconstructs the whole MNIST test set and measures each image's error."""
    from core.data import load_mnist, scale

    mnist = load_mnist()
    images = scale(mnist.x_test)
    reconstructions = reconstruct(model, images)
    errors = per_image_errors(images, reconstructions)
    return TestSetReport(images, reconstructions, mnist.y_test, errors["bce"], errors["mse"])


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


def feature_maps(model: Any, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Every layer's output for one image, as (layer name, (height, width, channels) array), in order."""
    from core.model import feature_model

    features = feature_model(model)
    outputs = features(np.asarray(image, dtype=np.float32).reshape(1, 28, 28, 1), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    names = [layer.name for layer in model.get_layer("encoder").layers[1:]]
    names += [layer.name for layer in model.get_layer("decoder").layers[1:]]
    return [(name, np.asarray(output)[0]) for name, output in zip(names, outputs, strict=True)]
