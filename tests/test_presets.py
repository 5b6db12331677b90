"""The `denoising` preset is the one its search chose, and the denoiser shipped in `pretrained/` is that preset's run.

The shipped run's figures are the claim BENCHMARKS.md makes: at least as good as the keras-io denoising example.
"""

from __future__ import annotations

from dataclasses import replace

from bench.denoise_search import BEFORE, CANDIDATES, KERAS_IO_NOISY_BCE
from core import runs
from core.presets import preset
from core.shapes import infer_shapes
from core.spec import NoiseSpec


def test_the_denoising_preset_is_the_search_s_choice() -> None:
    assert replace(CANDIDATES["mid64-dec32-16-lr3-e9"], name="denoising") == preset("denoising")
    # The search began where the preset was: the strided architecture with Gaussian noise, as it still is.
    assert preset("strided").with_training(noise=NoiseSpec(kind="gaussian", amount=0.4)) == BEFORE
    assert infer_shapes(preset("denoising")).bottleneck_shape == (7, 7, 32)  # The keras-io denoiser's code size.


def test_the_shipped_denoiser_is_the_preset_trained_and_beats_keras_io() -> None:
    (path,) = runs.PRETRAINED_DIR.glob("*-denoising")
    run = runs.read_run(path, read_only=True)
    assert run.status == "completed" and run.has_model
    assert run.spec == preset("denoising")
    assert run.summary["epochs_completed"] == preset("denoising").training.epochs
    assert run.summary["test_noisy_loss"] <= KERAS_IO_NOISY_BCE
    assert sorted(child.name for child in path.iterdir()) == [
        "config.json",
        "history.jsonl",
        "model.keras",
        "summary.json",
    ]  # No worker log, events or TensorBoard logs: `make pretrained` removes them.
