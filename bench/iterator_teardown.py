"""How long tearing down a training pipeline's tf.data iterator takes, with tf.data's autotuning on and off.

    .venv/bin/python -m bench.iterator_teardown [--trials 30] [--seconds 3]

Each trial makes `core.batches`' noisy training pipeline (the `denoising` preset's: batch 128, Gaussian noise), reads
batches from one iterator for `--seconds` while a small matrix product stands in for the training step, then times
`del iterator`. Trials alternate between the pipeline as `tensorflow_dataset` gives it (autotuning off) and the
same pipeline with autotuning turned back on (tf.data's default). With it on, the teardown now and then waits for
tf.data's autotuning thread to finish its current period (which doubles up to 60 s the longer the iterator lives):
at the end of a 9-epoch `fit` that was 31-41 s. Prints one line per trial and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STALL_SECONDS = 0.1  # A teardown takes under a millisecond when nothing waits.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="trials of each setting")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long each iterator is read")
    arguments = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from core.batches import training_batches
    from core.spec import NoiseSpec

    images = np.random.default_rng(0).integers(0, 256, (48_000, 28, 28), dtype=np.uint8)
    batches = training_batches(images, 128, NoiseSpec(kind="gaussian", amount=0.4), seed=0)
    weights = tf.random.normal((784, 784))
    autotuning = tf.data.Options()
    autotuning.autotune.enabled = True
    teardowns: dict[str, list[float]] = {"autotuning off": [], "autotuning on": []}
    for trial in range(arguments.trials):
        for setting, seconds in teardowns.items():
            pipeline = batches.tensorflow_dataset(epochs=1000)
            if setting == "autotuning on":
                pipeline = pipeline.with_options(autotuning)
            assert pipeline.options().autotune.enabled == (setting == "autotuning on")
            iterator = iter(pipeline)
            started = time.perf_counter()
            while time.perf_counter() - started < arguments.seconds:
                inputs, _ = next(iterator)
                tf.matmul(tf.reshape(inputs, (-1, 784)), weights)
            started = time.perf_counter()
            del iterator
            seconds.append(time.perf_counter() - started)
            print(f"trial {trial + 1}, {setting}: teardown {seconds[-1] * 1000:.1f} ms", flush=True)

    summary = {
        setting: {
            "trials": len(seconds),
            "median_ms": round(statistics.median(seconds) * 1000, 2),
            "max_ms": round(max(seconds) * 1000, 1),
            "stalls_over_100_ms": sum(second > STALL_SECONDS for second in seconds),
        }
        for setting, seconds in teardowns.items()
    }
    print(json.dumps({"seconds_read": arguments.seconds, **summary}))


if __name__ == "__main__":
    main()
