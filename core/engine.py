"""The training engine: one job at a time per process, off the caller's thread, watched through events.

`TrainingEngine.start` trains a spec on a background thread with Keras' own `model.fit` and a callback that
publishes events: "batch" (step and loss), "epoch" (loss, val_loss, seconds, images per second, a preview of
reconstructions) and "end" (status and message). Any number of watchers read them with `snapshot(since)` or
block for new ones with `wait(since, timeout)`. `stop` takes effect after the batch in progress. A NaN loss or
an exception ends the job as "failed" with a message; it never takes the process down. The run is written
through `core.runs` after every epoch, so the store always holds what the job has done so far.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core import runs
from core.spec import ExperimentSpec, SpecError, validate

JOB_STATUSES = ("idle", "preparing", "running", "stopping", "completed", "stopped", "failed")
FINAL_STATUSES = ("completed", "stopped", "failed")
PREVIEW_IMAGES = 8  # The first test digits, shown with their reconstructions after each epoch.


# Every engine of this process, so that only one job runs at a time in the whole process.
_ALL_ENGINES: weakref.WeakSet = weakref.WeakSet()
_SHARED_LOCK = threading.RLock()  # shared_engine() holds it while an engine registers itself.


class EngineBusyError(RuntimeError):
    """A job is already running; the engine runs one at a time."""


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of the job's state, safe to read from any thread.

    `events` holds the events from index `since` (as asked) to `next_index`; pass `next_index` back as `since`
    to read only what is new.
    """

    job_id: int
    status: str
    message: str
    run_id: str | None
    spec: ExperimentSpec | None
    epoch: int  # Epochs completed.
    epochs: int
    step: int  # Steps completed in the current epoch.
    steps_per_epoch: int
    train_images: int
    started_at: float | None
    ended_at: float | None
    result: dict[str, Any]
    events: tuple[dict[str, Any], ...]
    next_index: int

    @property
    def active(self) -> bool:
        return self.status in ("preparing", "running", "stopping")

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass
class _Job:
    job_id: int
    spec: ExperimentSpec
    limit: int | None
    runs_dir: Path
    status: str = "preparing"
    message: str = "Loading MNIST and building the model."
    run_id: str | None = None
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    train_images: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    stop_requested: bool = False


class TrainingEngine:
    """Runs training jobs one at a time on a background thread and publishes their events."""

    def __init__(self, runs_dir: Path | str = runs.DEFAULT_RUNS_DIR) -> None:
        self.runs_dir = Path(runs_dir)
        self._condition = threading.Condition()
        self._job: _Job | None = None
        self._thread: threading.Thread | None = None
        self._job_count = 0
        with _SHARED_LOCK:
            _ALL_ENGINES.add(self)

    # --- Control -------------------------------------------------------------------------------------------

    def start(self, spec: ExperimentSpec, limit: int | None = None) -> int:
        """Starts training `spec` on a background thread and returns the job id.

        Args:
            spec: the experiment; validated here, so a bad spec fails before any thread starts.
            limit: train on only the first `limit` of the 60,000 training images (before the validation
                split, which holds out the last fraction as Keras' `validation_split` does).

        Raises:
            SpecError: if the spec or `limit` is invalid.
            EngineBusyError: if a job is already running.
        """
        validate(spec)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise SpecError(
                f"Invalid value for argument `limit`. Expected a strictly positive integer. Received limit={limit!r}."
            )
        with _SHARED_LOCK, self._condition:
            busy = next((engine for engine in _ALL_ENGINES if engine._active_job() is not None), None)
            if busy is not None:
                job = busy._active_job()
                where = f"run {job.run_id}" if job.run_id else "a job being prepared"
                raise EngineBusyError(
                    f"A training job is already running ({where}, epoch {job.epoch + 1}/{job.spec.training.epochs}). "
                    "Stop it or wait for it to finish."
                )
            self._job_count += 1
            self._job = _Job(job_id=self._job_count, spec=spec, limit=limit, runs_dir=self.runs_dir)
            self._thread = threading.Thread(target=self._run, args=(self._job,), name="training-job", daemon=True)
            self._thread.start()
            return self._job.job_id

    def _active_job(self) -> _Job | None:
        job = self._job
        return job if job is not None and job.status in ("preparing", "running", "stopping") else None

    def stop(self) -> bool:
        """Asks the running job to stop after its current batch. Returns False if nothing is running."""
        with self._condition:
            job = self._job
            if job is None or job.status not in ("preparing", "running"):
                return False
            job.stop_requested = True
            job.status = "stopping"
            job.message = "Stopping after the current batch."
            self._condition.notify_all()
            return True

    def join(self, timeout: float | None = None) -> JobSnapshot:
        """Waits for the background thread to end (or `timeout` seconds) and returns a snapshot."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot()

    # --- Watching ------------------------------------------------------------------------------------------

    def snapshot(self, since: int = 0) -> JobSnapshot:
        """The current job's state and its events from index `since` on (an "idle" snapshot if none ran)."""
        with self._condition:
            return self._snapshot(since)

    def wait(self, since: int = 0, timeout: float = 1.0) -> JobSnapshot:
        """Blocks until there are events after `since`, the status changes to final, or `timeout` passes."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._job is None or len(self._job.events) > since or self._job.status in FINAL_STATUSES,
                timeout=timeout,
            )
            return self._snapshot(since)

    def _snapshot(self, since: int) -> JobSnapshot:
        job = self._job
        if job is None:
            return JobSnapshot(0, "idle", "No training job has run yet.", None, None, 0, 0, 0, 0, 0, None, None, {},
                               (), 0)  # fmt: skip
        since = max(0, min(since, len(job.events)))
        return JobSnapshot(
            job_id=job.job_id,
            status=job.status,
            message=job.message,
            run_id=job.run_id,
            spec=job.spec,
            epoch=job.epoch,
            epochs=job.spec.training.epochs,
            step=job.step,
            steps_per_epoch=job.steps_per_epoch,
            train_images=job.train_images,
            started_at=job.started_at,
            ended_at=job.ended_at,
            result=dict(job.result),
            events=tuple(job.events[since:]),
            next_index=len(job.events),
        )

    def _publish(self, job: _Job, kind: str, **data: Any) -> None:
        with self._condition:
            job.events.append({"kind": kind, "time": time.time(), **data})
            self._condition.notify_all()

    def _set(self, job: _Job, **changes: Any) -> None:
        with self._condition:
            if changes.get("status") == "running" and job.stop_requested:
                changes["status"] = "stopping"  # A stop that came in while the job was being prepared.
            for name, value in changes.items():
                setattr(job, name, value)
            self._condition.notify_all()

    # --- The job itself ------------------------------------------------------------------------------------

    def _run(self, job: _Job) -> None:
        try:
            self._train(job)
        except Exception as error:  # Anything at all: the job fails, the process lives on.
            # A run created before the error is in the store: mark it failed rather than leave it "running".
            path = job.runs_dir / job.run_id if job.run_id is not None else None
            message = _explain(error, job.spec)
            detail = traceback.format_exc(limit=5)
            self._finish(job, path, "failed", message, {"error": detail})

    def _train(self, job: _Job) -> Path | None:
        from core.data import load_mnist, scale

        spec = job.spec
        training = spec.training
        mnist = load_mnist()
        images = mnist.x_train if job.limit is None else mnist.x_train[: job.limit]
        x_train, x_validation = split_validation(scale(images), training.validation_split)
        x_test = scale(mnist.x_test)
        if job.stop_requested:
            self._finish(job, None, "stopped", "Stopped before training began.", {})
            return None

        import keras

        from core.model import build_model

        keras.utils.set_random_seed(training.seed)
        steps_per_epoch = math.ceil(len(x_train) / training.batch_size)
        model = build_model(spec, steps_per_epoch=steps_per_epoch)
        params = model.count_params()
        train_data, validation_data = _fit_inputs(x_train, x_validation, spec)
        path = runs.create_run(
            spec,
            job.runs_dir,
            settings={"limit": job.limit, "train_images": len(x_train), "validation_images": len(x_validation)},
            summary={
                "params": params,
                "epochs_planned": training.epochs,
                "epochs_completed": 0,
                "train_images": len(x_train),
                "validation_images": len(x_validation),
                "denoiser": training.noise.kind != "none",
                "versions": library_versions(),
            },
        )
        self._set(
            job,
            run_id=path.name,
            status="running",
            message=f"Training {spec.name}: {params:,} parameters on {len(x_train):,} images.",
            steps_per_epoch=steps_per_epoch,
            train_images=len(x_train),
            started_at=time.time(),
        )
        self._publish(job, "start", run_id=path.name, params=params, steps_per_epoch=steps_per_epoch,
                      train_images=len(x_train), validation_images=len(x_validation))  # fmt: skip

        callback = _EngineCallback(self, job, path, x_test[:PREVIEW_IMAGES])
        fit_started = time.perf_counter()
        denoising = training.noise.kind != "none"  # Then `train_data` is a batched, shuffled tf.data pipeline.
        model.fit(
            train_data,
            None if denoising else x_train,
            batch_size=None if denoising else training.batch_size,
            epochs=training.epochs,
            validation_data=validation_data,
            shuffle=not denoising,
            verbose=0,
            callbacks=[callback],
        )
        train_seconds = time.perf_counter() - fit_started

        if callback.nan_at is not None:
            epoch, step = callback.nan_at
            message = (
                f"The loss became NaN at epoch {epoch}, step {step}, so training stopped. Try a lower learning "
                f"rate (it was {training.learning_rate}) or a different optimizer."
            )
            self._finish(job, path, "failed", message, callback.metrics(train_seconds))
            return path

        if callback.images_seen > callback.images_saved:
            runs.save_model(path, model)  # Stopped mid-epoch: keep the weights as they are now.
        metrics = callback.metrics(train_seconds)
        metrics["test_loss"] = float(model.evaluate(x_test, x_test, batch_size=1000, verbose=0))
        if training.noise.kind != "none":
            from core.data import add_noise

            noisy = add_noise(x_test, training.noise.kind, training.noise.amount, seed=training.seed + 2)
            metrics["test_noisy_loss"] = float(model.evaluate(noisy, x_test, batch_size=1000, verbose=0))
        if job.stop_requested:
            self._finish(job, path, "stopped", f"Stopped after {callback.describe_progress()}.", metrics)
        else:
            self._finish(job, path, "completed", f"Completed {plural(training.epochs, 'epoch')}.", metrics)
        return path

    def _finish(self, job: _Job, path: Path | None, status: str, message: str, metrics: dict[str, Any]) -> None:
        ended = time.time()
        if path is not None:
            try:
                runs.update_summary(
                    path, status=status, message=message, ended_at=_iso(ended),
                    **{key: value for key, value in metrics.items() if key != "error"},
                )  # fmt: skip
            except OSError as error:  # The store's disk went away; the job still ends cleanly.
                message += f" (The run's summary could not be written: {error}.)"
        with self._condition:
            job.status = status
            job.message = message
            job.ended_at = ended
            job.result = dict(metrics)
            job.events.append({"kind": "end", "time": ended, "status": status, "message": message, **metrics})
            self._condition.notify_all()


def _make_callback_class() -> type:
    # The class is made on first use so that importing the engine does not import Keras.
    import keras

    class EngineCallback(keras.callbacks.Callback):
        """Publishes batch and epoch events, writes the run each epoch, and honours stop requests."""

        def __init__(self, engine: TrainingEngine, job: _Job, path: Path, preview: np.ndarray) -> None:
            super().__init__()
            self.engine = engine
            self.job = job
            self.path = path
            self.preview = preview
            self.batch_size = job.spec.training.batch_size
            self.history: list[dict[str, Any]] = []
            self.images_seen = 0
            self.images_saved = 0
            self.global_step = 0
            self.nan_at: tuple[int, int] | None = None
            self.epoch_started = 0.0
            self.epoch_images = 0
            self.previous_mean = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch_started = time.perf_counter()
            self.epoch_images = 0
            self.previous_mean = 0.0

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            mean_loss = float((logs or {}).get("loss", math.nan))
            step = batch + 1
            batch_images = min(self.batch_size, self.job.train_images - self.epoch_images)
            # Keras reports the epoch's running mean weighted by batch size; recover this batch's own loss.
            batch_loss = mean_loss * (self.epoch_images + batch_images) - self.previous_mean * self.epoch_images
            batch_loss /= batch_images
            self.previous_mean = mean_loss
            self.epoch_images += batch_images
            self.images_seen += batch_images
            self.global_step += 1
            epoch = self.job.epoch + 1
            self.engine._publish(self.job, "batch", epoch=epoch, step=step, global_step=self.global_step,
                                 loss=batch_loss, mean_loss=mean_loss)  # fmt: skip
            self.engine._set(self.job, step=step)
            if not math.isfinite(mean_loss):
                self.nan_at = (epoch, step)
                self.model.stop_training = True
            if self.job.stop_requested:
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            seconds = time.perf_counter() - self.epoch_started
            complete = self.epoch_images >= self.job.train_images
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
            runs.save_model(self.path, self.model)
            self.images_saved = self.images_seen
            runs.update_summary(self.path, epochs_completed=epoch + 1, loss=record["loss"], val_loss=record["val_loss"])
            reconstructions = np.asarray(self.model(self.preview, training=False))
            self.engine._set(self.job, epoch=epoch + 1, step=0)
            self.engine._publish(self.job, "epoch", **record, preview=self.preview[..., 0],
                                 reconstructions=reconstructions[..., 0])  # fmt: skip

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

    return EngineCallback


def _EngineCallback(engine: TrainingEngine, job: _Job, path: Path, preview: np.ndarray) -> Any:  # noqa: N802
    global _CALLBACK_CLASS
    if _CALLBACK_CLASS is None:
        _CALLBACK_CLASS = _make_callback_class()
    return _CALLBACK_CLASS(engine, job, path, preview)


_CALLBACK_CLASS: type | None = None


# --- Helpers -----------------------------------------------------------------------------------------------


def split_validation(images: np.ndarray, validation_split: float) -> tuple[np.ndarray, np.ndarray]:
    """Holds out the last `validation_split` of `images`, exactly as Keras' `fit(validation_split=...)` does.

    Raises:
        SpecError: if either part would be empty.
    """
    split_at = int(math.floor(len(images) * (1.0 - validation_split)))
    train, validation = images[:split_at], images[split_at:]
    if len(train) == 0 or (validation_split > 0 and len(validation) == 0):
        raise SpecError(
            f"Invalid value for argument `validation_split`. With {len(images)} images, "
            f"validation_split={validation_split} leaves {len(train)} for training and {len(validation)} for "
            "validation; both need at least one. Use more images or another split."
        )
    return train, validation


def _fit_inputs(x_train: np.ndarray, x_validation: np.ndarray, spec: ExperimentSpec) -> tuple[Any, Any]:
    """The training input for `fit` (a noisy tf.data pipeline when denoising) and the validation pair.

    Denoising draws fresh noise for every batch of every epoch, so the model cannot memorise the noise;
    validation noise is drawn once with a fixed seed so that validation losses are comparable across epochs.
    """
    training = spec.training
    noise = training.noise
    validation = (x_validation, x_validation) if len(x_validation) else None
    if noise.kind == "none":
        return x_train, validation
    import tensorflow as tf

    from core.data import add_noise

    if validation is not None:
        validation = (add_noise(x_validation, noise.kind, noise.amount, seed=training.seed + 1), x_validation)
    generator = tf.random.Generator.from_seed(training.seed)

    def corrupt(clean: Any) -> tuple[Any, Any]:
        if noise.kind == "gaussian":
            noisy = clean + generator.normal(tf.shape(clean), stddev=noise.amount)
        else:  # salt_pepper: `amount` of the pixels become black or white, half each.
            hit = generator.uniform(tf.shape(clean)) < noise.amount
            salt = tf.cast(generator.uniform(tf.shape(clean)) < 0.5, clean.dtype)
            noisy = tf.where(hit, salt, clean)
        return tf.clip_by_value(noisy, 0.0, 1.0), clean

    dataset = tf.data.Dataset.from_tensor_slices(x_train)
    dataset = dataset.shuffle(len(x_train), seed=training.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(training.batch_size).map(corrupt).prefetch(2)
    return dataset, validation


def library_versions() -> dict[str, str]:
    """Versions of the libraries a run depends on, stored in its summary."""
    import platform

    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__}  # fmt: skip


def _explain(error: Exception, spec: ExperimentSpec) -> str:
    from core.data import DataError

    if isinstance(error, (SpecError, DataError, runs.RunStoreError)):
        return str(error)
    text = f"{type(error).__name__}: {error}".strip()
    if "OOM" in text or isinstance(error, MemoryError):
        return f"Training ran out of memory ({text}). Try a smaller batch size (now {spec.training.batch_size})."
    return f"Training failed with {text}"


def plural(count: int, noun: str) -> str:
    """ "1 epoch", "3 epochs"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _iso(timestamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


_SHARED_ENGINES: dict[Path, TrainingEngine] = {}


def shared_engine(runs_dir: Path | str = runs.DEFAULT_RUNS_DIR) -> TrainingEngine:
    """The one engine of this process for `runs_dir`, shared by every session and page."""
    key = Path(runs_dir).resolve()
    with _SHARED_LOCK:
        if key not in _SHARED_ENGINES:
            _SHARED_ENGINES[key] = TrainingEngine(key)
        return _SHARED_ENGINES[key]
