"""`python -m core.train`: train a preset or a spec file headlessly, through the same job runner as the dashboard.

The job joins the store's queue (`core.jobs`) and trains in a worker process; this command watches its events.
If another job of the store is training, it waits its turn.

Exit status: 0 when training completes (or is stopped with Ctrl-C, the run kept as "stopped"), 1 when training
fails (NaN loss, missing data), 2 for invalid input (unknown preset, bad spec file, bad arguments). User errors
print one message on stderr, never a traceback. The progress bar goes to stderr; with `--json` the last line
on stdout is one JSON object describing the run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from core import runs
from core.backends import AUTO_PRECISION, BACKENDS, check_backend, default_backend
from core.jobs import JobRunner
from core.mnist import split_validation
from core.presets import PRESETS, preset
from core.runs import DEFAULT_RUNS_DIR
from core.shapes import infer_shapes
from core.spec import DTYPE_POLICIES, MAX_SPEC_BYTES, TRAIN_IMAGES, ExperimentSpec, SpecError, layer_name
from core.text import plural
from core.validation import validate


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m core.train",
        description="Train a convolutional autoencoder on MNIST and store the run.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=list(PRESETS), help="a named experiment (default: seed)")
    source.add_argument("--config", type=Path, metavar="FILE.json", help="an experiment spec as JSON")
    parser.add_argument("--epochs", type=int, metavar="N", help="override the number of epochs")
    parser.add_argument("--seed", type=int, metavar="N", help="override the random seed")
    parser.add_argument("--limit", type=int, metavar="N", help="train on the first N of the 60,000 images")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="the Keras backend to train on (default: KERAS_BACKEND if set, else tensorflow)",
    )
    parser.add_argument("--dtype-policy", choices=DTYPE_POLICIES, dest="dtype_policy",
                        help=f"override the precision: auto is {AUTO_PRECISION} (the fastest for these models, "
                        "BENCHMARKS.md)")  # fmt: skip
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, metavar="DIR", help="run store (runs/)")
    parser.add_argument("--dry-run", action="store_true", help="print the layers and parameters as JSON, no training")
    parser.add_argument("--print-config", action="store_true", help="print the resolved spec as --config reads it")
    parser.add_argument("--json", action="store_true", help="end stdout with one JSON object describing the run")
    return parser.parse_args(argv)


def resolve_spec(arguments: argparse.Namespace) -> ExperimentSpec:
    """The spec named by `--preset` or read from `--config`, with `--epochs`, `--seed` and `--dtype-policy` applied.

    Raises:
        SpecError: for an unreadable or invalid spec file, invalid overrides, or a backend that is not installed.
    """
    requested = getattr(arguments, "backend", None)
    backend = check_backend(requested) if requested else default_backend()
    if arguments.config is not None:
        try:
            size = arguments.config.stat().st_size
            if size > MAX_SPEC_BYTES:  # Refused by its size, before it is read or parsed.
                raise SpecError(
                    f"{arguments.config}: Invalid config file. Expected a spec of at most {MAX_SPEC_BYTES:,} bytes. "
                    f"Received {size:,} bytes."
                )
            text = arguments.config.read_text()
        except (OSError, UnicodeDecodeError) as error:  # A missing, unreadable or binary file.
            reason = getattr(error, "strerror", None) or error
            raise SpecError(f"Cannot read config file {arguments.config}: {reason}.") from error
        try:
            spec = ExperimentSpec.from_json(text)
            validate(spec, backend)  # `from_json` checks only the arguments; the layers must also fit together.
        except SpecError as error:
            raise SpecError(f"{arguments.config}: {error}", part=error.part, index=error.index) from error
    else:
        spec = preset(arguments.preset or "seed")
    names = ("epochs", "seed", "dtype_policy")
    overrides = {name: getattr(arguments, name) for name in names if getattr(arguments, name) is not None}
    if overrides:
        spec = spec.with_training(**overrides)
        validate(spec, backend)
    if arguments.limit is not None:
        if not 1 <= arguments.limit <= TRAIN_IMAGES:
            raise SpecError(
                f"Invalid value for argument `--limit`. Expected an integer from 1 to {TRAIN_IMAGES}, the MNIST "
                f"training images. Received {arguments.limit}."
            )
        split_validation(range(arguments.limit), spec.training.validation_split)  # Both parts must hold an image.
    return spec


def dry_run(spec: ExperimentSpec) -> dict[str, Any]:
    """Layers with output shapes and parameters, computed without TensorFlow."""
    report = infer_shapes(spec)
    layers = [
        {
            "name": layer_name(shape.part, shape.index, layer),
            "type": shape.type,
            "output_shape": list(shape.output_shape),
            "params": shape.params,
        }
        for shape, (_, _, layer) in zip(report.layers, spec.layers(), strict=True)
    ]
    return {"params": report.params, "layers": layers}


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second, with a line per epoch."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream
        self.last_draw = 0.0
        self.started = time.perf_counter()

    def batch(self, event: dict[str, Any], epochs: int, steps: int) -> None:
        now = time.perf_counter()
        if now - self.last_draw < 0.1 and event["step"] != steps:
            return
        self.last_draw = now
        done = int(24 * event["step"] / max(steps, 1))
        bar = "=" * done + (">" if done < 24 else "") + " " * (23 - done)
        self.stream.write(
            f"\rEpoch {event['epoch']}/{epochs} [{bar}] {event['step']}/{steps} loss {event['mean_loss']:.4f}"
        )
        self.stream.flush()

    def epoch(self, event: dict[str, Any], epochs: int, floor: float | None) -> None:
        validation = f" val_loss {event['val_loss']:.4f}" if event.get("val_loss") is not None else ""
        floor_text = f" (floor {floor:.4f})" if floor else ""
        self.stream.write(
            f"\rEpoch {event['epoch']}/{epochs} loss {event['loss']:.4f}{validation}{floor_text} "
            f"{event['seconds']:.1f}s {event['images_per_second']:,.0f} img/s{' ' * 12}\n"
        )
        self.stream.flush()


def train(
    spec: ExperimentSpec, limit: int | None, runs_dir: Path, quiet: bool = False, backend: str | None = None
) -> dict[str, Any]:
    """Trains `spec` through the job runner, drawing progress on stderr; Ctrl-C stops the job and keeps the run."""
    from core.losses import test_floor
    from core.mnist import DataError, load_mnist

    def report(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        load_mnist(progress=report)  # Fetched and cached here, so the worker finds it at once.
        floor = test_floor(spec.training.loss)
    except DataError as error:
        return {"status": "failed", "message": str(error)}
    runner = JobRunner(runs_dir)
    job_id = runner.start(spec, limit=limit, backend=backend)
    bar = ProgressBar()
    since, told_queued = 0, False
    try:
        while True:
            snapshot = runner.wait(job_id, since, timeout=0.5)
            since = snapshot.next_index
            if snapshot.queued and not told_queued:
                report(f"{snapshot.message} (python -m core.jobs list shows the queue.)")
                told_queued = True
            for event in snapshot.events if not quiet else ():
                if event["kind"] == "batch":
                    bar.batch(event, snapshot.epochs, snapshot.steps_per_epoch)
                elif event["kind"] == "epoch":
                    bar.epoch(event, snapshot.epochs, floor)
            if snapshot.finished:
                break
    except KeyboardInterrupt:
        report("\nStopping after the current batch...")
        runner.stop(job_id)
    snapshot = runner.join(job_id)
    if not quiet:
        sys.stderr.write("\n" if snapshot.steps_per_epoch and snapshot.step else "")
    run_id = snapshot.run_id if snapshot.status != "cancelled" else None
    summary = runs.read_summary(Path(runs_dir) / run_id) if run_id else {}
    return {
        "status": snapshot.status,
        "message": snapshot.message,
        "run_id": run_id,
        "run_dir": str(Path(runs_dir) / run_id) if run_id else None,
        "params": infer_shapes(spec).params,
        "epochs": snapshot.result.get("epochs_completed", 0),
        "train_images": snapshot.train_images,
        "loss_floor": floor,
        **{key: summary.get(key) for key in ("backend", "device", "dtype_policy")},
        **snapshot.result,
    }


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        spec = resolve_spec(arguments)
        report = infer_shapes(spec)
        backend = check_backend(arguments.backend) if arguments.backend else None
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if arguments.print_config:
        print(spec.to_json())
        return 0
    if arguments.dry_run:
        print(json.dumps(dry_run(spec)))
        return 0

    epochs = plural(spec.training.epochs, "epoch")
    print(f"Training {spec.name}: {report.params:,} parameters, {epochs}.", file=sys.stderr)
    try:
        result = train(spec, arguments.limit, arguments.runs_dir, backend=backend)
    except OSError as error:  # The store cannot take the run: a read-only or full disk, or not a directory.
        print(f"error: The run could not be saved in {arguments.runs_dir}: {error.strerror or error}.", file=sys.stderr)
        return 1
    result.pop("error", None)
    status = result["status"]
    if status in ("failed", "interrupted"):
        print(f"error: {result['message']}", file=sys.stderr)
    elif status == "cancelled":
        print(result["message"], file=sys.stderr)
    else:
        floor = result.get("loss_floor")
        print(
            f"{result['message']} Run {result['run_id']}: test loss {result.get('test_loss', float('nan')):.4f} "
            f"(a perfect reconstruction scores {floor:.4f}), {result.get('images_per_second') or 0:,.0f} images/s.",
            file=sys.stderr,
        )
    if arguments.json:
        # JSON has no NaN: a metric that is not a number (a diverged loss) is written as null.
        finite = {key: None if isinstance(value, float) and not math.isfinite(value) else value
                  for key, value in result.items()}  # fmt: skip
        print(json.dumps(finite))
    elif result.get("run_dir"):
        print(result["run_dir"])
    return 1 if status in ("failed", "interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
