"""The reconstruction losses measured outside Keras, as Keras measures them, and the floors training cannot pass.

Binary cross-entropy is written once, in `binary_crossentropy`, with the prediction clipped to `EPSILON` as in
Keras; the per-image errors of `core.inference` and the floors here both use it. `reconstruction_floor` is the loss
of a perfect reconstruction of some images, `test_floor` that of the MNIST test set.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from core.spec import LOSSES

EPSILON = 1e-7  # keras.config.epsilon(), which Keras' binary crossentropy clips predictions to.
LOSS_NAMES = {"binary_crossentropy": "binary cross-entropy", "mse": "mean squared error"}  # As people say them.


def binary_crossentropy(targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """The binary cross-entropy of each pixel, as Keras computes it before averaging.

    As in Keras, the prediction is clipped to [1e-7, 1 - 1e-7] and the target is not.

    Args:
        targets: values in [0, 1], any shape.
        predictions: values in [0, 1], the same shape.

    Returns:
        A float64 array of that shape: -(target log prediction + (1 - target) log(1 - prediction)).
    """
    targets = np.asarray(targets, dtype=np.float64)
    predictions = np.clip(np.asarray(predictions, dtype=np.float64), EPSILON, 1 - EPSILON)
    return -(targets * np.log(predictions) + (1 - targets) * np.log(1 - predictions))


def per_image_binary_crossentropy(targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """The binary cross-entropy of each image, averaged over its pixels as Keras does.

    Args:
        targets: n images with values in [0, 1], any shape per image.
        predictions: the same number of pixels per image.

    Returns:
        (n,) float64.
    """
    count = len(targets)
    pixels = binary_crossentropy(np.reshape(targets, (count, -1)), np.reshape(predictions, (count, -1)))
    return pixels.mean(axis=1)


def per_image_mean_squared_error(targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """The mean squared error of each image, averaged over its pixels as Keras does.

    Returns:
        (n,) float64.
    """
    count = len(targets)
    targets = np.asarray(targets, dtype=np.float64).reshape(count, -1)
    return ((targets - np.asarray(predictions, dtype=np.float64).reshape(count, -1)) ** 2).mean(axis=1)


def reconstruction_floor(loss: str, images: np.ndarray) -> float:
    """The loss of a perfect reconstruction (output equal to target), the lowest value training can reach.

    For "mse" it is 0. For "binary_crossentropy" it is not: a gray pixel x costs its entropy
    -(x log x + (1 - x) log(1 - x)) even when predicted exactly. As in Keras, the prediction is clipped to
    [1e-7, 1 - 1e-7] and the target is not, so black and white pixels cost about 1e-7 each.

    Args:
        loss: "binary_crossentropy" or "mse".
        images: scaled images with values in [0, 1], any shape.

    Returns:
        The mean loss over all pixels, as Keras averages it.

    Raises:
        ValueError: for an unknown loss or images outside [0, 1].
    """
    if loss not in LOSSES:
        raise ValueError(f"Invalid value for argument `loss`. Expected one of {list(LOSSES)}. Received loss={loss!r}.")
    pixels = np.asarray(images).reshape(-1)
    if pixels.size == 0:
        raise ValueError("Invalid value for argument `images`. Expected at least one pixel. Received an empty array.")
    low, high = float(pixels.min()), float(pixels.max())
    if not 0 <= low <= high <= 1:
        raise ValueError(
            f"Invalid value for argument `images`. Expected scaled images with values in [0, 1]. "
            f"Received values from {low} to {high}."
        )
    if loss == "mse":
        return 0.0
    total = 0.0
    for chunk in _chunks(pixels):
        total += float(binary_crossentropy(chunk, chunk).sum())
    return total / pixels.size


# The floors of the MNIST test set. Every source of MNIST is checked against the sha256 of Keras' arrays
# (`core.mnist.ARRAY_SHA256`), so these are facts of the data, like its hashes: `tests/test_losses.py` recomputes
# them with `reconstruction_floor`. Knowing them spares the dashboard's server loading MNIST and some 200 MB of
# float64 temporaries just to draw a line on the loss chart.
TEST_FLOORS = {"binary_crossentropy": 0.058079782324082695, "mse": 0.0}


def test_floor(loss: str) -> float:
    """`reconstruction_floor` over the 10,000 scaled MNIST test images: the lowest test loss training can reach.

    Raises:
        ValueError: for an unknown loss.
    """
    if loss not in TEST_FLOORS:
        raise ValueError(f"Invalid value for argument `loss`. Expected one of {list(LOSSES)}. Received loss={loss!r}.")
    return TEST_FLOORS[loss]


test_floor.__test__ = False  # type: ignore[attr-defined]  # Its name would make pytest collect it from test modules.


def _chunks(pixels: np.ndarray, size: int = 1 << 22) -> Iterator[np.ndarray]:
    # Bounded pieces keep the float64 temporaries small even for all 47 million training pixels.
    for start in range(0, pixels.size, size):
        yield pixels[start : start + size]


def describe_test_loss(loss: str) -> str:
    """What a run's test loss is, in words: its loss on the test set, and the floor no model can go below.

    Raises:
        ValueError: for an unknown loss.
    """
    floor = test_floor(loss)
    why = ", because the targets are grey, not binary" if floor > 0 else ""
    return (
        f"The {LOSS_NAMES[loss]} (the run's training loss) on the 10,000 MNIST test images. A perfect reconstruction "
        f"scores {floor:.4f}{why}."
    )
