"""Training speed: our job runner (a worker process) against a plain `model.fit` of the same model, side by side.

    .venv/bin/python -m bench.train_speed [--epochs 2] [--repeats 2] [--skip-fast] [--full]

1. Runner ("engine") vs plain fit: the `seed` preset, batch 1000, validation split 0.2, on all 60,000 training images,
   alternating plain fit and engine `--repeats` times. Both timings are the wall time of the training loop
   (`fit`, validation included; tracing, data loading, model building and test evaluation excluded from
   neither and both alike). Prints images per second of each, their medians and the ratio engine / plain.
2. `seed-fast` with its own default epochs through the job runner: its training time against one reference epoch
   (the median plain-fit epoch time of step 1, measured in the same run), and its test BCE against 0.0605,
   the reference recipe's test loss after 25 epochs.
3. With `--full`, the reference recipe itself (`seed`, 25 epochs) through the job runner, about 500 s here.

Every loss is printed beside 0.0581, the BCE of a perfect reconstruction of the MNIST test set.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from core.jobs import JobRunner
from core.losses import test_floor
from core.mnist import load_mnist, scale
from core.presets import preset

REFERENCE_TEST_LOSS = 0.0605


def plain_fit_seconds(epochs: int) -> float:
    """Seconds for `model.fit` of the seed model exactly as a tutorial would call it."""
    import keras

    from core.model import build_model

    spec = preset("seed")
    x_train = scale(load_mnist().x_train)
    keras.utils.set_random_seed(spec.training.seed)
    model = build_model(spec)
    started = time.perf_counter()
    model.fit(x_train, x_train, batch_size=spec.training.batch_size, epochs=epochs, validation_split=0.2, verbose=0)
    return time.perf_counter() - started


def engine_run(name: str, epochs: int | None, runs_dir: str) -> dict:
    """Trains preset `name` through the job runner (in a worker process) and returns the job's result."""
    spec = preset(name)
    if epochs is not None:
        spec = spec.with_training(epochs=epochs)
    runner = JobRunner(runs_dir)
    snapshot = runner.join(runner.start(spec))
    if snapshot.status != "completed":
        raise SystemExit(f"{name} did not complete: {snapshot.message}")
    return {**snapshot.result, "train_images": snapshot.train_images}


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
    results: dict = {"floor": floor, "plain": [], "engine": []}
    with tempfile.TemporaryDirectory() as runs_dir:
        for repeat in range(arguments.repeats):
            plain = plain_fit_seconds(arguments.epochs)
            results["plain"].append(train_images * arguments.epochs / plain)
            engine = engine_run("seed", arguments.epochs, runs_dir)
            results["engine"].append(engine["images_per_second"])
            print(
                f"trial {repeat + 1}: plain fit {results['plain'][-1]:,.0f} img/s, "
                f"engine {results['engine'][-1]:,.0f} img/s",
                flush=True,
            )
        plain_median = statistics.median(results["plain"])
        engine_median = statistics.median(results["engine"])
        results["ratio"] = engine_median / plain_median
        reference_epoch = train_images / plain_median
        print(f"median: plain fit {plain_median:,.0f} img/s, engine {engine_median:,.0f} img/s, "
              f"engine / plain = {results['ratio']:.3f}")  # fmt: skip
        print(f"one reference epoch (plain fit, 48,000 images, with validation): {reference_epoch:.1f} s")
        results["reference_epoch_seconds"] = reference_epoch

        if not arguments.skip_fast:
            fast = engine_run("seed-fast", None, runs_dir)
            epochs = preset("seed-fast").training.epochs
            budget = 4 * reference_epoch
            results["seed_fast"] = fast
            print(
                f"seed-fast: {epochs} epochs in {fast['train_seconds']:.1f} s "
                f"({fast['train_seconds'] / reference_epoch:.2f} reference epochs, budget 4 = {budget:.1f} s), "
                f"test BCE {fast['test_loss']:.4f} (target <= {REFERENCE_TEST_LOSS}, floor {floor:.4f}): "
                f"{'PASS' if fast['test_loss'] <= REFERENCE_TEST_LOSS and fast['train_seconds'] <= budget else 'FAIL'}"
            )
        if arguments.full:
            full = engine_run("seed", None, runs_dir)
            results["seed_full"] = full
            print(f"seed, 25 epochs: {full['train_seconds']:.0f} s, {full['images_per_second']:,.0f} img/s, "
                  f"test BCE {full['test_loss']:.4f} (floor {floor:.4f})")  # fmt: skip
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
