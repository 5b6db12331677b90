"""The training procedure a worker process runs: one run of the store trained with Keras' `fit` (on JAX, with the
same training step driven by `core.jax_loop`, which leaves out `fit`'s per-step Python).

`python -m core.training RUN_DIR` is started by the job runner's supervisor (`core.jobs`), never by the dashboard
itself. It reads the run's spec from `config.json`, trains it, and leaves everything in the run directory:
"start", "batch", "epoch" (with a preview of reconstructions) and "end" events in `events.jsonl` (see
`core.events`), one history line and a saved model after every epoch, and the summary's status and metrics.

A stop request is the file `stop` in the run directory (or SIGTERM/SIGINT to this process); it is checked after
every batch, so training stops within one batch (on a GPU with JAX, within `jax_loop.LOSS_LAG_STEPS` more, a few
milliseconds) and keeps its model and history. A NaN loss or an exception ends the run as "failed" with a message.
Importing this module imports Keras: only worker processes and tests do.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np

from core import backends, batches, runs
from core import mnist as mnist_data
from core.events import EventSink, EventWriter, MirroredEvents
from core.model import build_model
from core.noise import noisy_test_images
from core.spec import ExperimentSpec, SpecError
from core.tensorboard_logs import tensorboard_logs
from core.text import plural, portable_paths

PREVIEW_IMAGES = 8  # The first test digits, shown with their reconstructions after each epoch.
# A run's model is saved at the end of its first epoch, then of any epoch at least this long after the last save,
# and when training ends. A save takes 25-40 ms, a seed epoch on an H200 0.2 s: saving each one cost the GPU a
# quarter of its speed (BENCHMARKS.md). On a CPU, where an epoch takes seconds, every epoch is still saved.
SAVE_INTERVAL_SECONDS = 2.0
STOP_FILE = "stop"  # Its presence in a run directory asks the worker training it to stop.


class EventCallback(keras.callbacks.Callback):
    """Writes batch and epoch events, saves the run's model as it goes, and stops training when asked."""

    def __init__(
        self,
        events: EventSink,
        path: Path,
        spec: ExperimentSpec,
        train_images: int,
        preview: np.ndarray,
        stop_requested: Callable[[], bool],
        async_safe: bool = False,
    ) -> None:
        super().__init__()
        # With async_safe, Keras (on JAX and PyTorch) calls on_train_batch_end from a thread pool, so reading each
        # batch's loss does not make a GPU wait at every step (issue 7 measured 42% of its throughput lost to that
        # wait). Those calls may then come out of order; `on_train_batch_end` handles them in order.
        self.async_safe = async_safe
        self._lock = threading.Lock()
        self._pending: dict[int, dict[str, Any]] = {}
        self._next_batch = 0
        self.events = events
        self.path = path
        self.batch_size = spec.training.batch_size
        self.train_images = train_images
        self.preview = preview
        self.stop_requested = stop_requested
        self.history: list[dict[str, Any]] = []
        self.images_seen = 0
        self.images_saved = 0
        self.saved_at = -math.inf
        self.global_step = 0
        self.nan_at: tuple[int, int] | None = None
        self.stopped = False
        self.epoch_started = 0.0
        self.epoch_images = 0
        self.previous_mean = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_started = time.perf_counter()
        self.epoch_images = 0
        self.previous_mean = 0.0
        with self._lock:
            self._pending.clear()
            self._next_batch = 0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        with self._lock:
            self._pending[batch] = dict(logs or {})
            while self._next_batch in self._pending:
                self._record_batch(self._next_batch, self._pending.pop(self._next_batch))
                self._next_batch += 1

    def _record_batch(self, batch: int, logs: dict[str, Any]) -> None:
        mean_loss = float(logs.get("loss", math.nan))
        step = batch + 1
        batch_images = min(self.batch_size, self.train_images - self.epoch_images)
        # Keras reports the epoch's running mean weighted by batch size; recover this batch's own loss. Only an
        # epoch's last batch can be short: every road trains on the batches in their order (`ImageBatches`).
        batch_loss = mean_loss * (self.epoch_images + batch_images) - self.previous_mean * self.epoch_images
        batch_loss /= batch_images
        self.previous_mean = mean_loss
        self.epoch_images += batch_images
        self.images_seen += batch_images
        self.global_step += 1
        epoch = len(self.history) + 1
        self.events.write("batch", epoch=epoch, step=step, global_step=self.global_step, loss=batch_loss,
                          mean_loss=mean_loss)  # fmt: skip
        if not math.isfinite(mean_loss):
            self.nan_at = (epoch, step)
            self.model.stop_training = True
        if self.stop_requested():
            self.stopped = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        seconds = time.perf_counter() - self.epoch_started
        complete = self.epoch_images >= self.train_images
        if self.nan_at is not None or not complete:
            return  # A partial epoch (stop or NaN) is not an epoch of history.
        record = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", math.nan)),
            "val_loss": float(logs["val_loss"]) if "val_loss" in logs else None,
            "seconds": seconds,
            "images_per_second": self.epoch_images / seconds if seconds > 0 else None,
        }
        self.history.append(record)
        runs.append_history(self.path, record)
        if time.perf_counter() - self.saved_at >= SAVE_INTERVAL_SECONDS:
            runs.save_model(self.path, self.model)
            self.images_saved, self.saved_at = self.images_seen, time.perf_counter()
        runs.update_summary(self.path, epochs_completed=epoch + 1, loss=record["loss"], val_loss=record["val_loss"])
        reconstructions = self.reconstruct_preview()
        self.events.write("epoch", **record, preview=self.preview[..., 0], reconstructions=reconstructions[..., 0])

    def reconstruct_preview(self) -> np.ndarray:
        """The model's reconstructions of the preview digits, computed as fast as the device allows."""
        if keras.distribution.distribution() is None:
            # Compiled once, then one call; an eager call runs layer by layer and waits on a GPU at each.
            return self.model.predict_on_batch(self.preview)
        # Data-parallel: 8 digits need not split evenly between the devices, as a compiled predict would have them.
        return keras.ops.convert_to_numpy(self.model(self.preview, training=False))

    def describe_progress(self) -> str:
        return f"{plural(len(self.history), 'full epoch')} and {plural(self.global_step, 'step')} in all"

    def metrics(self, train_seconds: float) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {
            "epochs_completed": len(self.history),
            "steps": self.global_step,
            "loss": last.get("loss"),
            "val_loss": last.get("val_loss"),
            "train_seconds": train_seconds,
            "images_per_second": self.images_seen / train_seconds if train_seconds > 0 else None,
        }


def stop_file_requested(path: Path) -> Callable[[], bool]:
    """A check for the run's stop file: one `stat` a batch, microseconds against a batch's milliseconds."""
    stop_file = path / STOP_FILE
    return lambda: stop_file.exists()


def train_run(path: Path, stop_requested: Callable[[], bool] | None = None) -> str:
    """Trains the run at `path` (queued or just launched) to its end, and returns its final status.

    Never raises for a failing job: the failure is written to the run (summary and "end" event) instead.

    Args:
        path: the run directory, with the spec and settings in `config.json`.
        stop_requested: asked after every batch whether to stop; by default, whether the run's stop file exists.
    """
    stop_requested = stop_requested or stop_file_requested(path)
    with EventWriter(path) as events:
        spec: ExperimentSpec | None = None
        try:
            config = runs.read_config(path)
            spec = ExperimentSpec.from_dict(config["spec"])
            return _train(path, spec, config.get("settings", {}).get("limit"), events, stop_requested)
        except Exception as error:  # Anything at all: the job fails with a message, in its run.
            message = _explain(error, spec)
            _finish(path, events, "failed", message, {"error": portable_traceback()})
            return "failed"


def _train(
    path: Path, spec: ExperimentSpec, limit: int | None, events: EventWriter, stop_requested: Callable[[], bool]
) -> str:
    training = spec.training
    runs.update_summary(path, status="running", worker=runs.process_identity(os.getpid()),
                        message="Loading MNIST and building the model.")  # fmt: skip
    mnist = mnist_data.load_mnist()
    images = mnist.x_train if limit is None else mnist.x_train[:limit]
    train_images, validation_images = mnist_data.split_validation(images, training.validation_split)  # uint8
    x_test = mnist_data.scale(mnist.x_test)
    if stop_requested():
        _finish(path, events, "stopped", "Stopped before training began.", {})
        return "stopped"

    # Several devices on JAX: each batch is split between them (`keras.distribution.DataParallel`), so every batch,
    # the last one too, must split evenly; at most one image fewer than the devices is left out of each set.
    devices = backends.data_parallel_devices(training.batch_size)
    if devices:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        train_images, validation_images, x_test = (_split_evenly(part, len(devices)) for part in
                                                   (train_images, validation_images, x_test))  # fmt: skip
    keras.utils.set_random_seed(training.seed)
    train_data = batches.training_batches(train_images, training.batch_size, training.noise, training.seed)
    validation_data = batches.validation_batches(validation_images, training.batch_size, training.noise,
                                                 training.seed)  # fmt: skip
    steps_per_epoch = train_data.num_batches
    device, on_gpu = backends.describe_device(), backends.device_kind() == "gpu"
    if devices:
        device = f"{device}, data-parallel on {len(devices)} devices"
    backend = keras.backend.backend()
    dtype_policy = backends.resolve_dtype_policy(training.dtype_policy, "gpu" if on_gpu else "cpu", backend)
    model = build_model(spec, steps_per_epoch=steps_per_epoch, dtype_policy=dtype_policy)
    params = model.count_params()
    message = (f"Training {spec.name}: {params:,} parameters on {len(train_images):,} images, "
               f"{backends.describe_placement(backend, device, dtype_policy)}.")  # fmt: skip
    runs.update_summary(
        path,
        message=message,
        params=params,
        epochs_planned=training.epochs,
        epochs_completed=0,
        train_images=len(train_images),
        validation_images=len(validation_images),
        denoiser=training.noise.kind != "none",
        versions=backends.library_versions(),
        backend=backend,
        device=device,
        dtype_policy=dtype_policy,
    )
    events.write("start", run_id=path.name, params=params, steps_per_epoch=steps_per_epoch, message=message,
                 train_images=len(train_images), validation_images=len(validation_images), pid=os.getpid(),
                 backend=backend, device=device, dtype_policy=dtype_policy)  # fmt: skip

    # TensorBoard logs in the run directory mirror the batch and epoch events, on the TensorFlow backend.
    logs = tensorboard_logs(path, backend)
    sink = events if logs is None else MirroredEvents(events, logs)
    callback = EventCallback(sink, path, spec, len(train_images), x_test[:PREVIEW_IMAGES], stop_requested,
                             async_safe=on_gpu)  # fmt: skip
    fit_started = time.perf_counter()
    try:
        if backend == "jax" and not devices:  # Keras' step without `fit`'s per-step Python (`core.jax_loop`).
            from core import jax_loop  # Imports JAX itself: only on that backend.

            lag = jax_loop.LOSS_LAG_STEPS if on_gpu else 0
            jax_loop.fit(model, train_data, validation_data, training.epochs, [callback], loss_lag_steps=lag)
        else:
            model.fit(**_fit_data(train_data, validation_data, training.epochs, backend), epochs=training.epochs,
                      verbose=0, callbacks=[callback])  # fmt: skip
    finally:
        if logs is not None:
            logs.close()
    train_seconds = time.perf_counter() - fit_started

    if callback.nan_at is not None:
        epoch, step = callback.nan_at
        message = (
            f"The loss became NaN at epoch {epoch}, step {step}, so training stopped. Try a lower learning "
            f"rate (it was {training.learning_rate}) or a different optimizer."
        )
        _finish(path, events, "failed", message, callback.metrics(train_seconds))
        return "failed"

    if callback.images_seen > callback.images_saved:
        runs.save_model(path, model)  # Stopped mid-epoch, or epochs since the last save: keep the weights as they are.
    metrics = callback.metrics(train_seconds)
    test_batch = 1000 - 1000 % max(1, len(devices))  # Splits evenly between the devices.

    def test_loss(inputs: np.ndarray) -> float:
        """The model's loss on the test set from `inputs` (clean or noisy) to the clean digits."""
        return float(model.evaluate(**batches.evaluation_data(inputs, x_test, test_batch, backend), verbose=0))

    metrics["test_loss"] = test_loss(x_test)
    if training.noise.kind != "none":
        metrics["test_noisy_loss"] = test_loss(noisy_test_images(x_test, training))
    if callback.stopped:
        _finish(path, events, "stopped", f"Stopped after {callback.describe_progress()}.", metrics)
        return "stopped"
    _finish(path, events, "completed", f"Completed {plural(training.epochs, 'epoch')}.", metrics)
    return "completed"


def _split_evenly(images: np.ndarray, devices: int) -> np.ndarray:
    """The first images of `images`, as many as split evenly between `devices`."""
    return images[: len(images) - len(images) % devices]


def _finish(path: Path, events: EventWriter, status: str, message: str, metrics: dict[str, Any]) -> None:
    """Writes the run's final summary, then the "end" event that watchers wait for."""
    ended_at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        runs.update_summary(
            path, status=status, message=message, ended_at=ended_at,
            **{key: value for key, value in metrics.items() if key != "error"},
        )  # fmt: skip
    except OSError as error:  # The store's disk went away; the job still ends with a message.
        message += f" (The run's summary could not be written: {error}.)"
    events.write("end", status=status, message=message, **metrics)


def _fit_data(
    train: batches.ImageBatches, validation: batches.ImageBatches | None, epochs: int, backend: str
) -> dict[str, Any]:
    """What `fit` reads: the `PyDataset`s, or on TensorFlow their tf.data pipelines (`tensorflow_dataset`).

    The batches shuffle their images every epoch themselves, and `fit` takes them in their order (`ImageBatches`).
    """
    if backend != "tensorflow":
        return {"x": train, "validation_data": validation, "shuffle": False}
    # One iterator for every epoch (the pipeline shuffles each epoch itself), so none is torn down between them.
    return {"x": train.tensorflow_dataset(epochs), "steps_per_epoch": train.num_batches, "shuffle": False,
            "validation_data": None if validation is None else validation.tensorflow_dataset(1)}  # fmt: skip


def portable_traceback() -> str:
    """The last frames of the exception being handled, with no absolute path of this machine in them."""
    return portable_paths(traceback.format_exc(limit=5), runs.PROJECT_ROOT)


def _explain(error: Exception, spec: ExperimentSpec | None) -> str:
    if isinstance(error, (SpecError, mnist_data.DataError, runs.RunStoreError)):
        return str(error)
    text = f"{type(error).__name__}: {error}".strip()
    if backends.is_out_of_memory(error):
        batch = f" (now {spec.training.batch_size})" if spec is not None else ""
        return f"Training ran out of memory ({text}). Try a smaller batch size{batch}."
    return f"Training failed with {text}"


def main(argv: list[str] | None = None) -> int:
    """`python -m core.training RUN_DIR`: train one run; SIGTERM or SIGINT stop it after the current batch."""
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        print("usage: python -m core.training RUN_DIR", file=sys.stderr)
        return 2
    path = Path(arguments[0])
    stop_file = stop_file_requested(path)
    signalled: list[int] = []
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda received, frame: signalled.append(received))
    status = train_run(path, lambda: bool(signalled) or stop_file())
    return 1 if status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
