"""MNIST batches for Keras' `fit`: uint8 images kept as they are, each batch scaled (and corrupted) when drawn.

Giving `fit` float32 arrays costs memory several times over: the scaled copy (188 MB for the 60,000 training
images), then the tensors Keras' array adapter makes of inputs and targets. Batches drawn from the uint8 images
hold 47 MB in all, and work the same on every Keras backend (a `PyDataset`, not a tf.data pipeline, which the
JAX backend on a machine without TensorFlow could not run). Importing this module imports Keras: only worker
processes and tests do.

On the TensorFlow backend, Keras runs a `PyDataset` through `tf.data.Dataset.from_generator`, which calls back into
Python from tf.data's threads. Tearing that iterator down at the end of an epoch sometimes left the training
process idle (no CPU at all) for about 20 s, waiting for one of those threads: one epoch in three or four of
`seed` took 41 s instead of 21. `tensorflow_dataset` gives `fit` the same batches as a tf.data pipeline with no
Python in it, where the batches need no noise (NumPy's, `core.noise`, is the one home of noise).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from core.mnist import scale
from core.noise import add_noise
from core.spec import NoiseSpec

VALIDATION_NOISE_SEED_OFFSET = 1  # Validation noise is drawn with the run's seed + 1, the same every epoch.


class ImageBatches(keras.utils.PyDataset):
    """(inputs, targets) batches of an autoencoder: targets are the scaled images, inputs those plus noise.

    Args:
        images: uint8 images, (n, 28, 28).
        batch_size: images a batch; the last batch holds the rest.
        noise: the noise added to inputs; kind "none" makes inputs and targets the same array.
        seed: seeds the shuffle and the noise, so the same seed gives the same batches.
        shuffle: a new order of the images every epoch (training), or their own order every time (validation).
        fresh_noise: new noise every epoch (training, so the model cannot learn it), or the same noise every
            epoch (validation, so that its losses compare across epochs).
    """

    def __init__(
        self,
        images: np.ndarray,
        batch_size: int,
        noise: NoiseSpec,
        seed: int,
        *,
        shuffle: bool,
        fresh_noise: bool,
    ) -> None:
        super().__init__()  # One worker: a batch takes about a millisecond to make, against a step's hundreds.
        if len(images) == 0:
            raise ValueError("Invalid value for argument `images`. Expected at least one image. Received 0.")
        self.images = images
        self.batch_size = batch_size
        self.noise = noise
        self.seed = seed
        self.shuffle = shuffle
        self.fresh_noise = fresh_noise
        self.epoch = 0
        self.order = self._order()

    @property
    def num_batches(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        positions = slice(index * self.batch_size, (index + 1) * self.batch_size)
        chosen = self.images[positions] if self.order is None else self.images[self.order[positions]]
        clean = scale(chosen)
        if self.noise.kind == "none":
            return clean, clean
        # Seeded by (seed, epoch, batch), so each batch's noise is fixed whatever order Keras asks for batches in.
        generator = np.random.default_rng([self.seed, self.epoch if self.fresh_noise else 0, index])
        return add_noise(clean, self.noise.kind, self.noise.amount, seed=generator), clean

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()

    def _order(self, epoch: int | None = None) -> np.ndarray | None:
        if not self.shuffle:
            return None
        return np.random.default_rng([self.seed, self.epoch if epoch is None else epoch]).permutation(len(self.images))

    def tensorflow_dataset(self, epochs: int) -> Any | None:
        """These batches for `epochs` epochs as one `tf.data.Dataset` with no Python in it; None with noise.

        Keras calls `on_epoch_end` before each epoch, so epoch e (from 1) of the `PyDataset` draws order e; so does
        this pipeline, which runs its epochs one after another: give `fit` its `steps_per_epoch`, and the
        iterator is never torn down between epochs. Validation batches (no shuffle) are one epoch's worth, which
        Keras reads afresh for each evaluation. Keras also visits a `PyDataset`'s batches in a random order each
        epoch (`fit(shuffle=True)`, Python's `random`); this pipeline visits them in order. Both are random orders
        of the images, not the same one, so a run's losses differ between the two paths as between two seeds.

        Noise has no pipeline here: it is NumPy's (`core.noise`). A Python generator running through every epoch
        in one iterator was tried for noisy batches (dd04692, reverted): the denoising preset trained no faster
        (124 s and 144 s against 133 s through the `PyDataset`, on a quiet machine) and its shipped model could
        no longer be made again (noisy test BCE 0.0840 against 0.0836, from the other batch order).
        """
        if self.noise.kind != "none":
            return None
        import tensorflow as tf

        images = tf.constant(self.images)
        if self.shuffle:
            orders = np.stack([self._order(epoch) for epoch in range(1, epochs + 1)]).astype(np.int32)
            positions = tf.data.Dataset.from_tensor_slices(orders).flat_map(
                lambda order: tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size)
            )
            chosen = positions.map(lambda batch: tf.gather(images, batch))
        else:
            chosen = tf.data.Dataset.from_tensor_slices(images).batch(self.batch_size)

        def scaled(pixels: Any) -> tuple[Any, Any]:
            clean = (tf.cast(pixels, tf.float32) / np.float32(255))[..., tf.newaxis]  # As `core.mnist.scale`.
            return clean, clean

        return chosen.map(scaled).prefetch(2)


def training_batches(images: np.ndarray, batch_size: int, noise: NoiseSpec, seed: int) -> ImageBatches:
    """The batches `fit` trains on: reshuffled, with fresh noise, every epoch."""
    return ImageBatches(images, batch_size, noise, seed, shuffle=True, fresh_noise=True)


def validation_batches(images: np.ndarray, batch_size: int, noise: NoiseSpec, seed: int) -> ImageBatches | None:
    """The batches `fit` validates on, the same every epoch; None when there are no validation images."""
    if len(images) == 0:
        return None
    return ImageBatches(images, batch_size, noise, seed + VALIDATION_NOISE_SEED_OFFSET, shuffle=False,
                        fresh_noise=False)  # fmt: skip
