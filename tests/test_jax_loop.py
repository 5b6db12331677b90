"""Tests for core.jax_loop: the engine's training loop on JAX trains exactly as Keras' `fit` does, reads losses late.

They run where Keras runs on JAX: `tests/test_backends.py` runs this file in a process with `KERAS_BACKEND=jax`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from core import batches
from core.model import build_model
from core.presets import preset
from core.spec import ExperimentSpec, NoiseSpec
from core.training import _fit_data

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="the loop is the JAX backend's road")

if keras.backend.backend() == "jax":
    from core import jax_loop

SPEC = preset("strided").with_training(batch_size=100, epochs=2, learning_rate=0.003, dtype_policy="float32", seed=5)
NOISY = SPEC.with_training(noise=NoiseSpec(kind="gaussian", amount=0.3))


class Recorder(keras.callbacks.Callback):
    """Keeps every hook's logs, predicts at each epoch's end as the engine's preview does, and stops when told."""

    def __init__(self, stop_at_batch: int | None = None) -> None:
        super().__init__()
        self.stop_at_batch = stop_at_batch
        self.batches: list[tuple[int, float]] = []
        self.epochs: list[dict[str, Any]] = []
        self.previews: list[np.ndarray] = []

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.batches.append((batch, float(logs["loss"])))
        if batch == self.stop_at_batch:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epochs.append(dict(logs))
        self.previews.append(self.model.predict_on_batch(PREVIEW))  # Keras donates the variables' buffers here.


IMAGES = np.random.default_rng(0).integers(0, 256, size=(350, 28, 28), dtype=np.uint8)
PREVIEW = IMAGES[:4, ..., None].astype("float32") / 255


def train(spec: ExperimentSpec, road: str, lag: int = 0, stop_at_batch: int | None = None) -> tuple[Recorder, list]:
    """Trains `spec` on the fixture's images as the engine sets it up, by `fit` or by the loop; the recorder and
    the final weights."""
    training = spec.training
    train_images, validation_images = IMAGES[:280], IMAGES[280:]  # Batches of 100, 100 and 80.
    keras.utils.set_random_seed(training.seed)
    train_data = batches.training_batches(train_images, training.batch_size, training.noise, training.seed)
    validation = batches.validation_batches(validation_images, training.batch_size, training.noise, training.seed)
    model = build_model(spec, steps_per_epoch=train_data.num_batches, dtype_policy=training.dtype_policy)
    recorder = Recorder(stop_at_batch)
    if road == "fit":
        model.fit(**_fit_data(train_data, validation, training.epochs, "jax"), epochs=training.epochs, verbose=0,
                  callbacks=[recorder])  # fmt: skip
    else:
        jax_loop.fit(model, train_data, validation, training.epochs, [recorder], loss_lag_steps=lag)
    return recorder, [np.asarray(weight) for weight in model.get_weights()]


@pytest.mark.parametrize("spec", [SPEC, NOISY], ids=["clean", "noisy"])
def test_the_loop_trains_to_the_bit_what_fit_trains(spec: ExperimentSpec) -> None:
    by_fit, fit_weights = train(spec, "fit")
    by_loop, loop_weights = train(spec, "loop")
    assert by_loop.batches == by_fit.batches and len(by_loop.batches) == 6  # Batch numbers and running means.
    assert by_loop.epochs == by_fit.epochs and set(by_loop.epochs[0]) == {"loss", "val_loss"}
    assert all(np.array_equal(a, b) for a, b in zip(loop_weights, fit_weights, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(by_loop.previews, by_fit.previews, strict=True))
    assert by_loop.epochs[1]["loss"] < by_loop.epochs[0]["loss"]


def test_reading_losses_late_changes_when_they_arrive_not_what_they_are() -> None:
    at_once, weights = train(SPEC, "loop")
    late, late_weights = train(SPEC, "loop", lag=3)
    assert late.batches == at_once.batches and late.epochs == at_once.epochs
    assert all(np.array_equal(a, b) for a, b in zip(late_weights, weights, strict=True))


def test_a_stop_ends_the_epoch_and_every_batch_trained_gets_its_hook() -> None:
    at_once, _ = train(SPEC, "loop", stop_at_batch=1)
    assert [batch for batch, _ in at_once.batches] == [0, 1]  # Read at once: nothing runs past the stop.
    assert len(at_once.epochs) == 1 and "val_loss" not in at_once.epochs[0]  # A partial epoch is not validated.
    late, _ = train(SPEC, "loop", lag=2, stop_at_batch=0)
    # Batch 0's loss is read once batches 1 and 2 are queued: those trained too, and are reported in order.
    assert [batch for batch, _ in late.batches] == [0, 1, 2]
    assert late.batches[:2] == at_once.batches[:2] and len(late.epochs) == 1
