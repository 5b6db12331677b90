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
Python in it, or, where the batches need noise (NumPy's, `core.noise`, is the one home of noise), one Python
generator for all epochs, so that no iterator is torn down at an epoch's end.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
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

    def tensorflow_dataset(self, epochs: int) -> Any:
        """These batches for `epochs` epochs as one `tf.data.Dataset`, for `fit` on the TensorFlow backend.

        Keras calls `on_epoch_end` before each epoch, so epoch e (from 1) of the `PyDataset` draws order e; so does
        this pipeline, which runs its epochs one after another: give `fit` its `steps_per_epoch`, and the
        iterator is never torn down between epochs. Validation batches (no shuffle) are one epoch's worth, which
        Keras reads afresh for each evaluation.

        Without noise the pipeline has no Python in it. Noise stays NumPy's (`core.noise` is its one home): noisy
        training batches come from one Python generator that runs through every epoch, and noisy validation inputs,
        the same every epoch, are drawn once.
        """
        import tensorflow as tf

        if self.noise.kind == "none":
            return self._clean_dataset(tf, epochs)
        if self.shuffle:
            inputs = tf.TensorSpec((None, *self.images.shape[1:], 1), tf.float32)
            return tf.data.Dataset.from_generator(
                lambda: self._batches_of_epochs(epochs), output_signature=(inputs, inputs)
            ).prefetch(2)
        noisy = np.concatenate([self[index][0] for index in range(self.num_batches)])
        pairs = tf.data.Dataset.from_tensor_slices((noisy, self.images)).batch(self.batch_size)
        return pairs.map(lambda inputs, pixels: (inputs, _scaled(tf, pixels))).prefetch(2)

    def _batches_of_epochs(self, epochs: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for epoch in range(1, epochs + 1):
            self.epoch = epoch
            self.order = self._order()
            for index in range(self.num_batches):
                yield self[index]

    def _clean_dataset(self, tf: Any, epochs: int) -> Any:
        images = tf.constant(self.images)
        if self.shuffle:
            orders = np.stack([self._order(epoch) for epoch in range(1, epochs + 1)]).astype(np.int32)
            positions = tf.data.Dataset.from_tensor_slices(orders).flat_map(
                lambda order: tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size)
            )
            chosen = positions.map(lambda batch: tf.gather(images, batch))
        else:
            chosen = tf.data.Dataset.from_tensor_slices(images).batch(self.batch_size)
        return chosen.map(lambda pixels: (_scaled(tf, pixels),) * 2).prefetch(2)


def _scaled(tf: Any, pixels: Any) -> Any:
    return (tf.cast(pixels, tf.float32) / np.float32(255))[..., tf.newaxis]  # As `core.mnist.scale`.


def training_batches(images: np.ndarray, batch_size: int, noise: NoiseSpec, seed: int) -> ImageBatches:
    """The batches `fit` trains on: reshuffled, with fresh noise, every epoch."""
    return ImageBatches(images, batch_size, noise, seed, shuffle=True, fresh_noise=True)


def validation_batches(images: np.ndarray, batch_size: int, noise: NoiseSpec, seed: int) -> ImageBatches | None:
    """The batches `fit` validates on, the same every epoch; None when there are no validation images."""
    if len(images) == 0:
        return None
    return ImageBatches(images, batch_size, noise, seed + VALIDATION_NOISE_SEED_OFFSET, shuffle=False,
                        fresh_noise=False)  # fmt: skip
