"""The search that chose `seed-fast`: test BCE of the seed architecture under short training schedules.

    .venv/bin/python -m bench.seed_fast_search [--schedule '{"batch_size": 64, "learning_rate": 0.002, "epochs": 1}']

Trains each schedule below through the job runner on all 60,000 training images (validation split 0.2, seed 0)
and prints one JSON line per schedule with its test BCE, beside 0.0581, a perfect reconstruction's. Training is
deterministic, so the losses repeat exactly; the times depend on what else the machine is doing. `--schedule`
(repeatable) trains the given schedules instead of the list below.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from core.jobs import JobRunner
from core.losses import test_floor
from core.presets import preset

SCHEDULES = [
    {"batch_size": 250, "learning_rate": 0.003, "epochs": 3},
    {"batch_size": 250, "learning_rate": 0.004, "epochs": 3},
    {"batch_size": 250, "learning_rate": 0.005, "epochs": 3},
    {"batch_size": 250, "learning_rate": 0.003, "epochs": 3, "learning_rate_schedule": "cosine"},
    {"batch_size": 250, "learning_rate": 0.005, "epochs": 2, "learning_rate_schedule": "cosine"},
    {"batch_size": 500, "learning_rate": 0.005, "epochs": 3},
    {"batch_size": 200, "learning_rate": 0.004, "epochs": 2},
    {"batch_size": 128, "learning_rate": 0.002, "epochs": 2},
    {"batch_size": 128, "learning_rate": 0.003, "epochs": 2},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedule", action="append", type=json.loads, help="training settings as a JSON object")
    schedules = parser.parse_args().schedule or SCHEDULES
    floor = test_floor("binary_crossentropy")
    with tempfile.TemporaryDirectory() as runs_dir:
        for schedule in schedules:
            runner = JobRunner(runs_dir)
            result = runner.join(runner.start(preset("seed").with_training(**schedule))).result
            print(json.dumps({**schedule, "test_loss": round(result["test_loss"], 6), "floor": round(floor, 6),
                              "train_seconds": round(result["train_seconds"], 1)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
