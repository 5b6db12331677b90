"""MNIST batches for Keras' `fit`: uint8 images kept as they are, each batch scaled (and corrupted) when drawn.

Giving `fit` float32 arrays costs memory several times over: the scaled copy (188 MB for the 60,000 training
images), then the tensors Keras' array adapter makes of inputs and targets. Batches drawn from the uint8 images
hold 47 MB in all, and work the same on every Keras backend (a `PyDataset`, not a tf.data pipeline, which the
JAX backend on a machine without TensorFlow could not run). Importing this module imports Keras: only worker
processes and tests do.

On the TensorFlow backend, Keras runs a `PyDataset` through `tf.data.Dataset.from_generator`, a new iterator every
epoch, and tearing an iterator down sometimes left the training process idle (no CPU at all) for seconds, its main
thread waiting in the iterator's destructor (py-spy: `~LogicalThreadWrapper` under `RootDataset::Iterator`) for
tf.data's autotuning thread. That thread wakes up at a period that doubles up to 60 s, and now and then it is not
woken when the iterator is cancelled, so the teardown waits out the rest of its period: one epoch in three or four
of `seed` took 41 s instead of 21, and with one iterator for the whole of `fit`, one `denoising` run in three or
four spent 31-41 s after its last epoch. Our pipelines have nothing for autotuning to tune (fixed prefetch, no
parallel map), so `tensorflow_dataset` turns it off (`bench/iterator_teardown.py`: with it on, 6 teardowns in 30
stalled for 2.1 s; with it off, none), and gives `fit` the same batches through one iterator for every epoch.
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

    Training batches shuffle the images themselves, a new order each epoch, and every road trains on an epoch's
    batches in their own order: Keras' adapter (`fit(shuffle=False)`), the tf.data pipelines and `core.jax_loop`.
    So, as in `fit` on arrays, only the last batch of an epoch can be short, which is what lets the live chart
    recover each batch's own loss from Keras' running mean (`core.training.EventCallback`).

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
        self.order = self.epoch_order()

    @property
    def num_batches(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batch(index, self.epoch, self.order)

    def positions(self, index: int, order: np.ndarray | None) -> np.ndarray | slice:
        """Which of `images` batch `index` holds, the images in `order` (None: their own)."""
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return window if order is None else order[window]

    def batch(self, index: int, epoch: int, order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Batch `index` of epoch `epoch` (from 1) of images in `order` (None: their own): (inputs, targets)."""
        clean = scale(self.images[self.positions(index, order)])
        if self.noise.kind == "none":
            return clean, clean
        # Seeded by (seed, epoch, batch), so each batch's noise is fixed whatever order Keras asks for batches in.
        generator = np.random.default_rng([self.seed, epoch if self.fresh_noise else 0, index])
        return add_noise(clean, self.noise.kind, self.noise.amount, seed=generator), clean

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self.epoch_order()

    def epoch_order(self, epoch: int | None = None) -> np.ndarray | None:
        """The images' order in epoch `epoch` (from 1; by default the current one), or None without shuffling."""
        if not self.shuffle:
            return None
        return np.random.default_rng([self.seed, self.epoch if epoch is None else epoch]).permutation(len(self.images))

    def tensorflow_dataset(self, epochs: int) -> Any:
        """These batches for `epochs` epochs as one `tf.data.Dataset`, which `fit` reads through one iterator.

        Keras calls `on_epoch_end` before each epoch, so epoch e (from 1) of the `PyDataset` draws order e; so does
        this pipeline, which runs its epochs one after another: give `fit` its `steps_per_epoch`, and the
        iterator is never torn down between epochs. Validation batches (no shuffle) are one epoch's worth, which
        Keras reads afresh for each evaluation.

        Each epoch's batches come in order, as on every road (see the class's docstring), so a run trains to the
        same weights, to the bit, through this pipeline or through the `PyDataset` (tests/test_batches.py). Without
        noise the pipeline has no Python in it. Noise is NumPy's (`core.noise` is its one home), so Python makes
        each noisy training batch (a `numpy_function` mapped over the batch numbers of every epoch). Noisy
        validation inputs, the same every epoch, are drawn once. Every pipeline runs without tf.data's autotuning
        (see the module's docstring).
        """
        return _without_autotuning(self._tensorflow_pipeline(epochs))

    def _tensorflow_pipeline(self, epochs: int) -> Any:
        import tensorflow as tf

        def scaled(pixels: Any) -> Any:
            return (tf.cast(pixels, tf.float32) / np.float32(255))[..., tf.newaxis]  # As `core.mnist.scale`.

        if self.noise.kind != "none" and self.shuffle:
            # Noise is NumPy's, so Python makes each batch, from its number alone: no generator, whose state
            # would have to follow the epochs.
            orders: dict[int, np.ndarray | None] = {}

            def make(step: np.int64) -> tuple[np.ndarray, np.ndarray]:
                epochs_before, index = divmod(int(step), self.num_batches)
                epoch = epochs_before + 1  # Epochs count from 1, as `epoch_order`'s do.
                if epoch not in orders:
                    orders.clear()  # One epoch's order at a time: the batches come epoch after epoch.
                    orders[epoch] = self.epoch_order(epoch)
                return self.batch(index, epoch, orders[epoch])

            shape = (None, *self.images.shape[1:], 1)

            def made(step: Any) -> tuple[Any, Any]:
                inputs, targets = tf.numpy_function(make, [step], (tf.float32, tf.float32))
                return tf.ensure_shape(inputs, shape), tf.ensure_shape(targets, shape)

            return tf.data.Dataset.range(epochs * self.num_batches).map(made).prefetch(2)
        if self.noise.kind != "none":
            # The same noise every epoch (validation): drawn once here, batch by batch as `__getitem__` draws it,
            # so the inputs are those of the `PyDataset` to the last bit.
            inputs = np.concatenate([self[index][0] for index in range(self.num_batches)])
            pairs = tf.data.Dataset.from_tensor_slices((inputs, self.images)).batch(self.batch_size)
            return pairs.map(lambda noisy, pixels: (noisy, scaled(pixels))).prefetch(2)

        images = tf.constant(self.images)
        if self.shuffle:
            orders = np.stack([self.epoch_order(epoch) for epoch in range(1, epochs + 1)]).astype(np.int32)
            positions = tf.data.Dataset.from_tensor_slices(orders).flat_map(
                lambda order: tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size)
            )
            chosen = positions.map(lambda batch: tf.gather(images, batch))
        else:
            chosen = tf.data.Dataset.from_tensor_slices(images).batch(self.batch_size)

        return chosen.map(lambda pixels: (scaled(pixels),) * 2).prefetch(2)


def evaluation_data(inputs: np.ndarray, targets: np.ndarray, batch_size: int, backend: str) -> dict[str, Any]:
    """What `evaluate` reads for float32 `inputs` and `targets`: the arrays, or on TensorFlow a pipeline of them.

    Keras turns arrays into a tf.data pipeline with autotuning on, whose teardown can wait for seconds (see the
    module's docstring; py-spy caught it after a run's last epoch, in the evaluation of the noisy test set).
    """
    if backend != "tensorflow":
        return {"x": inputs, "y": targets, "batch_size": batch_size}
    import tensorflow as tf

    return {"x": _without_autotuning(tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(batch_size))}


def _without_autotuning(dataset: Any) -> Any:
    """`dataset` with tf.data's autotuning off, so that no autotuning thread delays its iterator's teardown."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def training_batches(images: np.ndarray, batch_size: int, noise: NoiseSpec, seed: int) -> ImageBatches:
    """The batches `fit` trains on: reshuffled, with fresh noise, every epoch."""
    return ImageBatches(images, batch_size, noise, seed, shuffle=True, fresh_noise=True)


def validation_batches(images: np.ndarray, batch_size: int, noise: NoiseSpec, seed: int) -> ImageBatches | None:
    """The batches `fit` validates on, the same every epoch; None when there are no validation images."""
    if len(images) == 0:
        return None
    return ImageBatches(images, batch_size, noise, seed + VALIDATION_NOISE_SEED_OFFSET, shuffle=False,
                        fresh_noise=False)  # fmt: skip
