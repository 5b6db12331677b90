"""Keras' own training step on JAX, driven by a loop without `fit`'s per-step Python: the engine's road on JAX.

On a GPU, Keras' `fit` spends about as long on the host each step as the seed model's step takes on the device, and
longer in bfloat16: an H200 trained the seed model through `fit` at 195,000-232,000 images/s in either precision, and
at 238,000 (float32) and 313,000 (mixed_bfloat16) when a plain loop called a jitted step of it with the images
already on the device, the GPU busy 95% of the time (BENCHMARKS.md, `bench.gpu`'s levers). So on JAX the engine trains
with this loop, which made the runner 234,000 and 310,000 images/s there:

- the step is Keras' `model.train_step`, jitted: the same loss, optimizer, loss scaling and running mean;
- clean images are put on the device once; each step sends only its batch's positions and gathers the batch there.
  Noisy inputs are made on the host by `core.batches` (NumPy's noise has one home) and sent batch by batch;
- each epoch's batches come in their order, as `fit` takes them (`ImageBatches`), so a run trains to what `fit`
  would train it to;
- the callbacks get Keras' hooks with the same logs as in `fit`. On a GPU a batch's loss is read only once
  `LOSS_LAG_STEPS` later steps are queued, so the device never waits for the host; the live chart still gets every
  batch, a few milliseconds late, and a stop request takes effect within that many batches;
- the model's variables are updated from the loop's state before every epoch hook, so saving the model and the
  preview see the epoch's weights.

Several devices (data-parallel) still train through `fit`, which splits each batch between them.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import jax
import keras

from core.batches import ImageBatches
from core.mnist import scale

LOSS_LAG_STEPS = 8  # On a GPU: steps queued ahead of the one whose loss is read (a seed step takes ~4 ms on an H200).


def fit(
    model: keras.Model,
    train: ImageBatches,
    validation: ImageBatches | None,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
    loss_lag_steps: int = 0,
) -> None:
    """Trains the compiled `model` on `train` for `epochs`, as `model.fit` would with `core.training._fit_data`'s
    arguments (`shuffle=False`: the batches shuffle their images themselves).

    Args:
        model: a compiled, built Keras model on the JAX backend.
        train: the training batches (shuffled, fresh noise every epoch).
        validation: the validation batches, or None for none.
        epochs: epochs to train; fewer if a callback sets `model.stop_training`.
        callbacks: get `on_epoch_begin`, `on_train_batch_end` and `on_epoch_end`, with `fit`'s logs.
        loss_lag_steps: steps dispatched ahead of the one whose loss the callbacks get; 0 reads each at once.
    """
    for callback in callbacks:
        callback.set_model(model)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.reset_metrics()
    fresh_metrics = [variable.value for variable in model.metrics_variables]
    train_step = jax.jit(model.train_step)
    test_step = jax.jit(model.test_step)
    gather = jax.jit(lambda images, positions: (images[positions],) * 2)
    # Clean batches are positions into the images on the device; noisy ones are made on the host.
    clean = train.noise.kind == "none"
    images = jax.device_put(scale(train.images)) if clean else None
    validation_batches = [] if validation is None else [jax.device_put(validation[index])
                                                        for index in range(validation.num_batches)]  # fmt: skip
    state = _model_state(model, fresh_metrics)
    model.stop_training = False
    for epoch in range(1, epochs + 1):
        for callback in callbacks:
            callback.on_epoch_begin(epoch - 1)
        order = train.epoch_order(epoch)
        pending: deque[tuple[int, Any]] = deque()
        for step in range(train.num_batches):
            data = gather(images, train.positions(step, order)) if clean else train.batch(step, epoch, order)
            logs, state = train_step(state, data)
            pending.append((step, logs))
            while len(pending) > loss_lag_steps and not model.stop_training:
                _batch_end(callbacks, *pending.popleft())
            if model.stop_training:
                break
        while pending:  # Every dispatched step is a batch trained: each gets its event, even after a stop.
            _batch_end(callbacks, *pending.popleft())
        epoch_logs = {"loss": float(logs["loss"])}
        if validation_batches and not model.stop_training:
            epoch_logs["val_loss"] = _evaluate(test_step, state, fresh_metrics, validation_batches)
        _update_model(model, state)
        for callback in callbacks:
            callback.on_epoch_end(epoch - 1, epoch_logs)
        # Keras' own calls in the hooks (`predict_on_batch`) donate the variables' buffers and put new ones in them:
        # the next epoch starts from the variables, and from fresh metrics.
        state = _model_state(model, fresh_metrics)
        if model.stop_training:
            break


def _variable_groups(model: keras.Model) -> tuple[list[Any], ...]:
    """The model's variables in the groups `train_step`'s state holds: trainable, non-trainable, optimizer."""
    return model.trainable_variables, model.non_trainable_variables, model.optimizer.variables


def _model_state(model: keras.Model, metrics: list[Any]) -> tuple[list[Any], ...]:
    """The state `train_step` takes, from the model's variables, with the epoch's metrics (fresh: the running mean
    starts anew)."""
    return tuple([variable.value for variable in variables] for variables in _variable_groups(model)) + (metrics,)


def _batch_end(callbacks: list[keras.callbacks.Callback], step: int, logs: dict[str, Any]) -> None:
    """`on_train_batch_end` with the batch's logs as numbers: reading them waits for that step alone."""
    numbers = {name: float(value) for name, value in logs.items()}
    for callback in callbacks:
        callback.on_train_batch_end(step, numbers)


def _evaluate(test_step: Any, state: tuple, fresh_metrics: list, batches: list) -> float:
    """The mean validation loss of the state's weights, weighted by batch size, as `fit`'s validation reports it."""
    evaluation = (state[0], state[1], fresh_metrics)
    for data in batches:
        logs, evaluation = test_step(evaluation, data)
    return float(logs["loss"])


def _update_model(model: keras.Model, state: tuple) -> None:
    """Gives the model's variables the loop's values (no copy), so that saving it and predicting see them."""
    for variables, values in zip(_variable_groups(model), state[:3], strict=True):
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
