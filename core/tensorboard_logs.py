"""TensorBoard logs of a training run, written without the `tensorboard` package: `tensorboard --logdir runs`.

On the TensorFlow backend, `TensorBoardLogs` writes to `RUN_DIR/tensorboard/` the scalars `loss` and `val_loss`
each epoch, `batch_loss` each batch, and `reconstructions` each epoch: the first test digits beside the model's
output. It uses TensorFlow's own `tf.summary.write` with the metadata that TensorBoard's scalar and image plugins
read, because `tf.summary.scalar` and `tf.summary.image` are implemented in the `tensorboard` package, which
training does not need. On the JAX and PyTorch backends, which may run without TensorFlow, `tensorboard_callback`
gives None and no logs are written. Importing this module imports Keras: only worker processes and tests do.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import keras
import numpy as np

LOG_DIRECTORY = "tensorboard"  # Inside the run directory, so `tensorboard --logdir runs` names each run by its id.


class TensorBoardLogs(keras.callbacks.Callback):
    """Writes a run's scalars and reconstruction images as TensorBoard event files (TensorFlow backend only).

    Args:
        log_dir: the directory of the event files; made if missing.
        batch_size: the run's batch size, to recover each batch's own loss from Keras' running mean.
        train_images: images a full epoch trains on (the last batch holds the rest).
        preview: scaled test images (n, 28, 28, 1) shown with their reconstructions after each epoch.
        async_safe: as the run's event callback: on a GPU, Keras may call `on_train_batch_end` from other threads
            and out of order; batches are then logged in order.
    """

    def __init__(
        self, log_dir: Path, batch_size: int, train_images: int, preview: np.ndarray, async_safe: bool = False
    ) -> None:
        super().__init__()
        import tensorflow as tf

        self.tf = tf
        self.log_dir = Path(log_dir)
        self.batch_size = batch_size
        self.train_images = train_images
        self.preview = preview
        self.async_safe = async_safe
        self.writer: Any = None
        self._lock = threading.Lock()
        self._pending: dict[int, float] = {}
        self._next_batch = 0
        self._epoch_images = 0
        self._previous_mean = 0.0
        self._global_step = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.writer = self.tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        with self._lock:
            self._pending.clear()
            self._next_batch = 0
            self._epoch_images = 0
            self._previous_mean = 0.0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        with self._lock:
            self._pending[batch] = float((logs or {}).get("loss", np.nan))
            while self._next_batch in self._pending:
                self._log_batch(self._pending.pop(self._next_batch))
                self._next_batch += 1

    def _log_batch(self, mean_loss: float) -> None:
        batch_images = min(self.batch_size, self.train_images - self._epoch_images)
        if batch_images <= 0:
            return
        # Keras reports the epoch's running mean weighted by batch size; recover this batch's own loss.
        batch_loss = mean_loss * (self._epoch_images + batch_images) - self._previous_mean * self._epoch_images
        batch_loss /= batch_images
        self._previous_mean = mean_loss
        self._epoch_images += batch_images
        self._global_step += 1
        self._scalar("batch_loss", batch_loss, self._global_step)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._epoch_images < self.train_images:
            return  # A partial epoch (a stop or a NaN loss) is not an epoch of the run's history either.
        logs = logs or {}
        for name in ("loss", "val_loss"):
            if name in logs:
                self._scalar(name, float(logs[name]), epoch + 1)
        reconstructions = keras.ops.convert_to_numpy(self.model(self.preview, training=False))
        pairs = np.concatenate([self.preview, reconstructions.astype(np.float32)], axis=2)  # (n, 28, 56, 1)
        self._images("reconstructions", pairs, epoch + 1)
        self.writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.writer is not None:
            self.writer.close()

    def _scalar(self, tag: str, value: float, step: int) -> None:
        with self.writer.as_default():
            self.tf.summary.write(tag, self.tf.constant(value, self.tf.float32), step=step,
                                  metadata=_metadata(self.tf, "scalars", tag))  # fmt: skip

    def _images(self, tag: str, images: np.ndarray, step: int) -> None:
        # The image plugin's tensor: width and height as strings, then one PNG per image.
        pixels = np.clip(np.rint(images * 255), 0, 255).astype(np.uint8)
        height, width = pixels.shape[1:3]
        encoded = [self.tf.io.encode_png(image) for image in pixels]
        tensor = self.tf.stack([self.tf.constant(str(width)), self.tf.constant(str(height)), *encoded])
        with self.writer.as_default():
            self.tf.summary.write(tag, tensor, step=step, metadata=_metadata(self.tf, "images", tag))


def _metadata(tf: Any, plugin: str, tag: str) -> Any:
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    metadata.display_name = tag
    return metadata


def tensorboard_callback(
    run_dir: Path, batch_size: int, train_images: int, preview: np.ndarray, async_safe: bool = False
) -> TensorBoardLogs | None:
    """The callback that writes the run's TensorBoard logs, or None on a backend other than TensorFlow."""
    if keras.backend.backend() != "tensorflow":
        return None
    return TensorBoardLogs(Path(run_dir) / LOG_DIRECTORY, batch_size, train_images, preview, async_safe)
