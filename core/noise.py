"""Corrupting scaled images for denoising experiments: `add_noise` and the kinds of noise it makes.

Training runs and the Draw page both corrupt their inputs here; it imports only NumPy and `core.spec`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from core.spec import TRAINING_NOISE_KINDS, TrainingSpec

TEST_NOISE_SEED_OFFSET = 2  # A run's noisy test images are drawn with its seed + 2 (validation uses + 1).

# Every noise `add_noise` makes: the training kinds, and "block", which the Draw page offers to erase a patch.
NOISE_KINDS = (*TRAINING_NOISE_KINDS, "block")


def add_noise(
    images: np.ndarray,
    kind: str,
    amount: float,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """A noisy copy of scaled images, for training and showing denoising autoencoders.

    Kinds:
        "none": an unchanged copy.
        "gaussian": adds normal noise with standard deviation `amount`, then clips to [0, 1].
        "salt_pepper": sets each pixel with probability `amount` to 0 or 1, half of them each.
        "block": erases (sets to 0) one square per image covering about `amount` of its area, at a random place.

    Args:
        images: float images in [0, 1]: one image (28, 28) or (28, 28, 1), or a batch (n, 28, 28) or
            (n, 28, 28, 1). The last axis counts as channels when it has size 1.
        kind: one of "none", "gaussian", "salt_pepper", "block".
        amount: the strength, in [0, 1]; 0 leaves the images unchanged for every kind.
        seed: an integer for reproducible noise, or a `numpy.random.Generator` to draw from.

    Returns:
        A new float32 array of the same shape as `images`.

    Raises:
        ValueError: for an unknown `kind` or an `amount` outside [0, 1].
    """
    if kind not in NOISE_KINDS:
        raise ValueError(
            f"Invalid value for argument `kind`. Expected one of {list(NOISE_KINDS)}. Received kind={kind!r}."
        )
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real) or not 0 <= amount <= 1:
        raise ValueError(
            f"Invalid value for argument `amount`. Expected a number in [0, 1]. Received amount={amount!r}."
        )
    noisy = np.array(images, dtype=np.float32, copy=True)
    if noisy.ndim < 2:
        raise ValueError(
            f"Invalid shape for argument `images`. Expected (28, 28), (n, 28, 28) or (n, 28, 28, 1). "
            f"Received shape={noisy.shape}."
        )
    if kind == "none" or amount == 0:
        return noisy
    generator = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    if kind == "gaussian":
        noisy += np.float32(amount) * generator.standard_normal(noisy.shape, dtype=np.float32)
        return np.clip(noisy, 0, 1, out=noisy)
    if kind == "salt_pepper":
        hit = generator.random(noisy.shape, dtype=np.float32) < amount
        salt = generator.random(noisy.shape, dtype=np.float32) < 0.5
        noisy[hit] = salt[hit].astype(np.float32)
        return noisy
    _erase_blocks(noisy, amount, generator)
    return noisy


def noisy_test_images(images: np.ndarray, training: TrainingSpec) -> np.ndarray:
    """The test images corrupted with a run's training noise, the same in every process that draws them.

    The training worker measures a denoiser's `test_noisy_loss` on these, and the dashboard shows the same
    images, so the two figures agree.
    """
    return add_noise(images, training.noise.kind, training.noise.amount, seed=training.seed + TEST_NOISE_SEED_OFFSET)


def _erase_blocks(images: np.ndarray, amount: float, generator: np.random.Generator) -> None:
    has_channels = images.ndim >= 3 and images.shape[-1] == 1
    height, width = images.shape[-3:-1] if has_channels else images.shape[-2:]
    batch = images.reshape(-1, height, width, images.shape[-1] if has_channels else 1)  # a view of the copy
    side = min(height, width, max(1, round(math.sqrt(amount * height * width))))
    tops = generator.integers(0, height - side + 1, size=len(batch))
    lefts = generator.integers(0, width - side + 1, size=len(batch))
    rows = np.arange(height)
    columns = np.arange(width)
    in_rows = (rows >= tops[:, None]) & (rows < tops[:, None] + side)  # (batch, height)
    in_columns = (columns >= lefts[:, None]) & (columns < lefts[:, None] + side)  # (batch, width)
    batch[in_rows[:, :, None] & in_columns[:, None, :]] = 0  # (batch, height, width) mask over every channel
