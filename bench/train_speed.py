"""Training speed: our job runner (a worker process) against a plain `model.fit` of the same model, side by side.

    .venv/bin/python -m bench.train_speed [--epochs 2] [--repeats 2] [--skip-fast] [--full]

1. Runner ("engine") vs plain fit: the `seed` preset, batch 1000, validation split 0.2, on all 60,000 training images,
   alternating plain fit and engine `--repeats` times. Both timings are the wall time of the training loop
   (`fit`, validation included; tracing, data loading, model building and test evaluation excluded from
   neither and both alike). Prints images per second of each, their medians and the ratio engine / plain. The plain
   fit is also timed without what it spends waiting on its input pipeline: before each later epoch's first batch
   and after its last epoch (`PlainFit`), which is where tf.data's iterator teardown stalls.
   The runner trains with the preset's defaults, so its precision is `auto` (mixed_bfloat16 on a CPU with bfloat16
   instructions, else float32); the plain fit is the reference recipe, in float32.
2. `seed-fast` with its own default epochs through the job runner: its training time against one reference epoch
   (the median plain-fit epoch time of step 1, measured in the same run), and its test BCE against 0.0605,
   the reference recipe's test loss after 25 epochs.
3. With `--full`, the reference recipe itself (`seed`, 25 epochs), side by side: as a plain `model.fit` in float32
   and through the job runner with the preset's defaults (precision `auto`), each with its test BCE; about 30
   minutes here.

Every loss is printed beside 0.0581, the BCE of a perfect reconstruction of the MNIST test set.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from core.jobs import JobRunner
from core.losses import test_floor
from core.mnist import load_mnist, scale
from core.presets import preset
from core.runs import read_run

REFERENCE_TEST_LOSS = 0.0605


@dataclass(frozen=True)
class PlainFit:
    """One plain `model.fit`: its wall time, and how much of it went to waiting on the input pipeline."""

    seconds: float  # The whole `fit` call.
    waits: list[float]  # Each epoch after the first: from its start to its first batch's start.
    after_last_epoch: float  # From the last epoch's end to `fit` returning.
    model: object

    @property
    def stall_free_seconds(self) -> float:
        """The fit without those waits: training, validation and the first epoch's tracing."""
        return self.seconds - sum(self.waits) - self.after_last_epoch


def plain_fit(epochs: int) -> PlainFit:
    """`model.fit` of the seed model exactly as a tutorial would call it (float32), timed with a clock per epoch.

    Keras' `fit` on arrays makes a tf.data iterator every epoch with autotuning on, and tearing it down may wait for
    tf.data's autotuning thread: a wait between one epoch's end and the next one's first batch, and after the last.
    """
    import keras

    from core.model import build_model

    class EpochClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epoch_started, self.waits, self.epoch_ended = 0.0, [], 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch_started = time.perf_counter()

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if batch == 0 and self.epoch_ended:  # Not the first epoch, whose first batch is traced.
                self.waits.append(time.perf_counter() - self.epoch_started)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch_ended = time.perf_counter()

    spec = preset("seed")
    x_train = scale(load_mnist().x_train)
    keras.utils.set_random_seed(spec.training.seed)
    model = build_model(spec, dtype_policy="float32")
    clock = EpochClock()
    started = time.perf_counter()
    model.fit(x_train, x_train, batch_size=spec.training.batch_size, epochs=epochs, validation_split=0.2, verbose=0,
              callbacks=[clock])  # fmt: skip
    ended = time.perf_counter()
    return PlainFit(ended - started, clock.waits, ended - clock.epoch_ended, model)


def engine_run(name: str, epochs: int | None, runs_dir: str) -> dict:
    """Trains preset `name` through the job runner (in a worker process) and returns the job's result."""
    spec = preset(name)
    if epochs is not None:
        spec = spec.with_training(epochs=epochs)
    runner = JobRunner(runs_dir)
    snapshot = runner.join(runner.start(spec))
    if snapshot.status != "completed":
        raise SystemExit(f"{name} did not complete: {snapshot.message}")
    summary = read_run(Path(runs_dir) / snapshot.run_id).summary  # Where the worker trained, and how.
    return {**snapshot.result, "train_images": snapshot.train_images, "dtype_policy": summary.get("dtype_policy")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per speed trial (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="trials of each kind, alternating (default 2)")
    parser.add_argument("--skip-fast", action="store_true", help="skip the seed-fast quality check")
    parser.add_argument("--full", action="store_true", help="also train the reference recipe for 25 epochs")
    arguments = parser.parse_args()

    load_mnist()
    floor = test_floor("binary_crossentropy")
    train_images = 48_000
    results: dict = {"floor": floor, "plain": [], "plain_stall_free": [], "engine": []}
    with tempfile.TemporaryDirectory() as runs_dir:
        for repeat in range(arguments.repeats):
            plain = plain_fit(arguments.epochs)
            images = train_images * arguments.epochs
            results["plain"].append(images / plain.seconds)
            results["plain_stall_free"].append(images / plain.stall_free_seconds)
            engine = engine_run("seed", arguments.epochs, runs_dir)
            results["engine"].append(engine["images_per_second"])
            waits = ", ".join(f"{wait:.1f} s" for wait in plain.waits) or "none"
            print(
                f"trial {repeat + 1}: plain fit {results['plain'][-1]:,.0f} img/s (waits before later epochs' first "
                f"batch: {waits}; after the last epoch: {plain.after_last_epoch:.1f} s; without them "
                f"{results['plain_stall_free'][-1]:,.0f} img/s), engine {results['engine'][-1]:,.0f} img/s "
                f"({engine['dtype_policy']})",
                flush=True,
            )
        plain_median = statistics.median(results["plain"])
        stall_free_median = statistics.median(results["plain_stall_free"])
        engine_median = statistics.median(results["engine"])
        results["ratio"] = engine_median / plain_median
        results["ratio_stall_free"] = engine_median / stall_free_median
        reference_epoch = train_images / plain_median
        print(f"median: plain fit {plain_median:,.0f} img/s, engine {engine_median:,.0f} img/s, "
              f"engine / plain = {results['ratio']:.3f}; against the plain fit without its waits "
              f"{results['ratio_stall_free']:.3f}")  # fmt: skip
        stall_free_epoch = train_images / stall_free_median
        print(f"one reference epoch (plain fit, 48,000 images, with validation): {reference_epoch:.1f} s "
              f"({stall_free_epoch:.1f} s without its waits)")  # fmt: skip
        results["reference_epoch_seconds"] = reference_epoch
        results["stall_free_reference_epoch_seconds"] = stall_free_epoch

        if not arguments.skip_fast:
            fast = engine_run("seed-fast", None, runs_dir)
            epochs = preset("seed-fast").training.epochs
            budget = 4 * reference_epoch
            results["seed_fast"] = fast
            print(
                f"seed-fast: {epochs} epochs in {fast['train_seconds']:.1f} s "
                f"({fast['train_seconds'] / reference_epoch:.2f} reference epochs, "
                f"{fast['train_seconds'] / stall_free_epoch:.2f} without their waits; budget 4 = {budget:.1f} s), "
                f"test BCE {fast['test_loss']:.4f} (target <= {REFERENCE_TEST_LOSS}, floor {floor:.4f}): "
                f"{'PASS' if fast['test_loss'] <= REFERENCE_TEST_LOSS and fast['train_seconds'] <= budget else 'FAIL'}"
            )
        if arguments.full:
            epochs = preset("seed").training.epochs
            reference = plain_fit(epochs)
            seconds, model = reference.seconds, reference.model
            x_test = scale(load_mnist().x_test)
            plain_loss = float(model.evaluate(x_test, x_test, batch_size=1000, verbose=0))
            results["plain_full"] = {"train_seconds": seconds, "images_per_second": train_images * epochs / seconds,
                                     "test_loss": plain_loss}  # fmt: skip
            rate = results["plain_full"]["images_per_second"]
            print(f"plain fit, float32, {epochs} epochs: {seconds:.0f} s, {rate:,.0f} img/s, test BCE {plain_loss:.4f}")
            full = engine_run("seed", None, runs_dir)
            results["seed_full"] = full
            ratio, difference = seconds / full["train_seconds"], full["test_loss"] - plain_loss
            results["full_ratio"], results["full_test_loss_difference"] = ratio, difference
            print(
                f"seed through the runner ({full['dtype_policy']}), {epochs} epochs: "
                f"{full['train_seconds']:.0f} s, "
                f"{full['images_per_second']:,.0f} img/s, test BCE {full['test_loss']:.4f} (floor {floor:.4f}); "
                f"{ratio:.2f}x the plain fit's speed, test BCE {difference:+.4f} against it (target within 0.0005)"
            )
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
