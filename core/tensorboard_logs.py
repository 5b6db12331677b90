"""TensorBoard logs of a training run, written without the `tensorboard` package: `tensorboard --logdir runs`.

On the TensorFlow backend, `TensorBoardLogs` mirrors the run's events (`core.events`) into `RUN_DIR/tensorboard/`:
each "batch" event's own loss as `batch_loss`, each "epoch" event's `loss` and `val_loss`, and its preview as
`reconstructions` (the first test digits beside the model's output). The training callback computes those events
once (each batch's loss, their order, which epochs count), and both the event log and these files take them
from it. It uses TensorFlow's own `tf.summary.write` with the metadata that TensorBoard's scalar and image plugins
read, because `tf.summary.scalar` and `tf.summary.image` are implemented in the `tensorboard` package, which
training does not need. On the JAX and PyTorch backends, which may run without TensorFlow, `tensorboard_logs`
gives None and no logs are written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

LOG_DIRECTORY = "tensorboard"  # Inside the run directory, so `tensorboard --logdir runs` names each run by its id.


class TensorBoardLogs:
    """Writes a run's events as TensorBoard event files (TensorFlow backend only); `write` takes what
    `core.events.EventWriter.write` takes.

    Args:
        log_dir: the directory of the event files; made if missing.
    """

    def __init__(self, log_dir: Path) -> None:
        import tensorflow as tf

        self.tf = tf
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self.writer = tf.summary.create_file_writer(str(log_dir))

    def write(self, kind: str, **fields: Any) -> None:
        """Logs a "batch" or "epoch" event; other kinds have nothing for TensorBoard."""
        if kind == "batch":
            self._scalar("batch_loss", fields["loss"], fields["global_step"])
        elif kind == "epoch":
            for name in ("loss", "val_loss"):
                if fields.get(name) is not None:
                    self._scalar(name, fields[name], fields["epoch"])
            pairs = np.concatenate([fields["preview"], fields["reconstructions"]], axis=2)  # (n, 28, 56)
            self._images("reconstructions", pairs[..., np.newaxis].astype(np.float32), fields["epoch"])
            self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def _scalar(self, tag: str, value: float, step: int) -> None:
        with self.writer.as_default():
            self.tf.summary.write(tag, self.tf.constant(float(value), self.tf.float32), step=step,
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


def tensorboard_logs(run_dir: Path, backend: str) -> TensorBoardLogs | None:
    """The run's TensorBoard logs on the TensorFlow backend, or None on another backend."""
    return TensorBoardLogs(Path(run_dir) / LOG_DIRECTORY) if backend == "tensorflow" else None
