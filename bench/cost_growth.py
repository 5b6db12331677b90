"""How training cost grows: throughput against batch size, and epoch time against parameter count, per backend.

    .venv/bin/python -m bench.cost_growth [--backends tensorflow,jax] [--images 4000] [--out bench/results]
    .venv/bin/python -m bench.cost_growth --merge gpu-out/cost_growth/cost_growth.json   # a GPU machine's points
    .venv/bin/python -m bench.cost_growth --backends jax --series parameters --models "seed x4" --images 1000  # one

Each point runs in a fresh process (Keras picks its backend once, at import): the model built by `core.model`
(float32), fed by `core.batches` from the MNIST training images, two warm-up steps (tracing, compilation), then
timed steps covering at least `--images` images (and at least two steps). One pass measures every point, so the
machine's drift touches them alike.

- Batch size: the `seed` model at batch 32 to 4,096, full batches only (on JAX a smaller last batch is compiled anew).
- Parameters: every preset's model, and the `seed` model with 2 and 4 times its filters, at batch 1000 (`seed-fast`
  is `seed`'s architecture, so it is left out); an epoch is 48,000 images at the measured rate.

Writes `cost_growth.json` (keeping the points of backends and devices not measured this time, so that each can be
measured on its own machine with its own `--images`; `--merge` adds another machine's) and two Plotly charts as PNG
(`cost_growth_batch.png`, `cost_growth_parameters.png`) into `--out`; BENCHMARKS.md links them. Saving PNGs takes
`kaleido` (in `requirements-dev.txt`) and a Chromium.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

from bench.backends import ROOT, run_on_backend
from core.presets import PRESETS, preset
from core.spec import ExperimentSpec

BATCH_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)
WIDENINGS = (2, 4)  # The seed model with this many times its filters.
SERIES = ("batch", "parameters")
EPOCH_IMAGES = 48_000  # The reference's training split: 60,000 images less a validation split of 0.2.

MEASURE = """
import json, math, sys, time
import keras
from core import batches, mnist
from core.backends import describe_device
from core.model import build_model
from core.spec import ExperimentSpec
spec = ExperimentSpec.from_dict(json.loads(sys.argv[1]))
batch_size, images = int(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
model = build_model(spec, dtype_policy="float32")
# Full batches only: on JAX a last, smaller batch is a new shape, compiled inside the timing (2 s on a GPU).
full_batches = 48_000 // batch_size
data = batches.training_batches(mnist.load_mnist().x_train[: full_batches * batch_size], batch_size,
                                spec.training.noise, 0)
steps = min(full_batches, max(2, math.ceil(images / batch_size)))
model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)
started = time.perf_counter()
model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
seconds = time.perf_counter() - started
print(json.dumps({"images_per_second": steps * batch_size / seconds, "params": model.count_params(),
                  "device": describe_device()}))
"""


def widened(factor: int) -> ExperimentSpec:
    """The `seed` spec with `factor` times the filters of every layer but the output."""
    seed = preset("seed")

    def wider(layers: tuple) -> tuple:
        return tuple(replace(layer, filters=layer.filters * factor) for layer in layers)

    return replace(seed, name=f"seed x{factor}", encoder=wider(seed.encoder), decoder=wider(seed.decoder))


def measure(backend: str, spec: ExperimentSpec, batch_size: int, images: int) -> dict:
    return run_on_backend(MEASURE, backend, json.dumps(spec.to_dict()), str(batch_size), str(images))


def points(
    backends: list[str], images: int, series: tuple[str, ...] = SERIES, names: tuple[str, ...] | None = None
) -> list[dict]:
    """Every measurement of `series` (of the models `names` only, if given), printed as it is taken."""
    models = [spec for name, spec in PRESETS.items() if name != "seed-fast"] + [widened(factor) for factor in WIDENINGS]
    plan = [("batch", PRESETS["seed"], size) for size in BATCH_SIZES] + [("parameters", spec, 1000) for spec in models]
    plan = [point for point in plan if point[0] in series and (names is None or point[1].name in names)]
    results = []
    for backend in backends:
        for series, spec, batch_size in plan:
            figures = measure(backend, spec, batch_size, images)
            point = {"series": series, "backend": backend, "model": spec.name, "batch_size": batch_size, **figures,
                     "epoch_seconds": EPOCH_IMAGES / figures["images_per_second"]}  # fmt: skip
            print(json.dumps(point), flush=True)
            results.append(point)
    return results


def merged(earlier: list[dict], new: list[dict]) -> list[dict]:
    """`new` points, and the `earlier` ones of every other point (series, backend, device, model and batch size): each
    is measured on its own machine, with its own `--images`, and a slow one may be measured alone (`--models`)."""

    def key(point: dict) -> tuple[str, str, str, str, int]:
        return point["series"], point["backend"], point["device"], point["model"], point["batch_size"]

    measured = {key(point) for point in new}
    return [point for point in earlier if key(point) not in measured] + new


def charts(results: list[dict], out: Path) -> list[Path]:
    """The two charts, one line (or set of markers) per backend and device, saved as PNG.

    Both axes are logarithmic: the backends differ by 10 to 250 times on a CPU, and the models by 30 times.
    """
    import plotly.graph_objects as go

    by_batch, by_parameters = go.Figure(), go.Figure()
    for backend, device in sorted({(point["backend"], point["device"]) for point in results}):
        label = f"{backend}, {device}"
        mine = [point for point in results if (point["backend"], point["device"]) == (backend, device)]
        batch = [point for point in mine if point["series"] == "batch"]
        by_batch.add_trace(go.Scatter(x=[point["batch_size"] for point in batch], mode="lines+markers", name=label,
                                      y=[point["images_per_second"] for point in batch]))  # fmt: skip
        models = sorted((point for point in mine if point["series"] == "parameters"), key=lambda point: point["params"])
        by_parameters.add_trace(go.Scatter(
            x=[point["params"] for point in models], y=[point["epoch_seconds"] for point in models], name=label,
            mode="markers+text", text=[point["model"] for point in models], textposition="top center",
        ))  # fmt: skip
    by_batch.update_layout(title="Training throughput of the seed model against batch size (float32)",
                           xaxis={"title": "batch size", "type": "log", "dtick": math.log10(2)},
                           yaxis={"title": "images per second (log)", "type": "log"})  # fmt: skip
    by_parameters.update_layout(title=f"Epoch time ({EPOCH_IMAGES:,} images, batch 1000) against parameters",
                                xaxis={"title": "parameters", "type": "log"},
                                yaxis={"title": "seconds per epoch (log)", "type": "log"})  # fmt: skip
    paths = [out / "cost_growth_batch.png", out / "cost_growth_parameters.png"]
    for figure, path in zip((by_batch, by_parameters), paths, strict=True):
        figure.update_layout(template="plotly_white", width=900, height=520, showlegend=True)
        figure.write_image(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="tensorflow,jax", help="comma-separated Keras backends")
    parser.add_argument("--images", type=int, default=4000, help="images timed a point, at least (default 4000)")
    parser.add_argument("--series", default=",".join(SERIES), help=f"comma-separated, of {', '.join(SERIES)}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--models", default=None, help="comma-separated model names (default: every one)")
    parser.add_argument("--charts-only", action="store_true", help="redraw the charts from --out's JSON")
    parser.add_argument("--no-charts", action="store_true", help="write the JSON only (no Chromium on a GPU machine)")
    parser.add_argument(
        "--merge",
        type=Path,
        action="append",
        default=[],
        help="add the points of another run's cost_growth.json (say, a GPU machine's) to --out's",
    )
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    data = arguments.out / "cost_growth.json"
    earlier = json.loads(data.read_text()) if data.exists() else []
    if arguments.charts_only:
        results = earlier
    elif arguments.merge:
        results = merged(earlier, [point for path in arguments.merge for point in json.loads(path.read_text())])
    else:
        series = tuple(arguments.series.split(","))
        names = tuple(arguments.models.split(",")) if arguments.models else None
        results = merged(earlier, points(arguments.backends.split(","), arguments.images, series, names))
    data.write_text(json.dumps(results, indent=1) + "\n")
    if arguments.no_charts:
        return
    for path in charts(results, arguments.out):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
