"""Whole-spec validation: the shape errors word for word, the fixes they carry, and the one-way imports.

`core.spec` checks arguments, `core.shapes` computes shapes and `core.validation` judges the whole spec; reading a
spec (`ExperimentSpec.from_dict`, which every run listing calls for every run) must stay as cheap as the first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from core import jobs, shapes, validation
from core.backends import installed_backends
from core.presets import PRESETS, preset
from core.shapes import infer_shapes
from core.spec import INPUT_SHAPE, ExperimentSpec, Fix, SpecError, conv2d, conv2d_transpose
from core.train import resolve_spec
from core.validation import check_shapes, describe_bytes, estimate_memory, spec_problem, suggest_fix, validate
from tests.conftest import REPOSITORY_ROOT

# --- Output shape errors -----------------------------------------------------------------------------------


def _with_last_decoder_layer(name: str, **changes: object) -> ExperimentSpec:
    spec = preset(name)
    return replace(spec, decoder=(*spec.decoder[:-1], replace(spec.decoder[-1], **changes)))


@dataclass(frozen=True)
class ShapeErrorCase:
    id: str
    spec: ExperimentSpec
    message: str
    fix: Fix | None


def _mismatch(output: int, bottleneck: str, decoder_end: str, advice: str) -> str:
    return (
        f"Invalid architecture: the output is {output}x{output}x1 but must match the input, 28x28x1. "
        f"The encoder ends at {bottleneck}, the decoder at {decoder_end}. {advice}"
    )


GENERIC_ADVICE = "Change the decoder so that it grows back to 28x28."

SHAPE_ERROR_CASES = [
    ShapeErrorCase(
        "strided-valid-padding",
        _with_last_decoder_layer("strided", padding="valid"),
        _mismatch(29, "7x7x8", "29x29x32", "Fix: set padding='same' on decoder layer 2."),
        Fix("decoder", 1, "padding", "same"),
    ),
    ShapeErrorCase(
        "strided-output-padding-off-by-one",
        _with_last_decoder_layer("strided", output_padding=0),
        _mismatch(27, "7x7x8", "27x27x32", "Fix: set output_padding=1 on decoder layer 2."),
        Fix("decoder", 1, "output_padding", 1),
    ),
    ShapeErrorCase(
        # The nearest kernel size is suggested, not the smallest (a 1x1 stride-2 transpose leaves gaps).
        "strided-kernel-off-by-one",
        _with_last_decoder_layer("strided", kernel_size=4, output_padding=1),
        _mismatch(27, "7x7x8", "27x27x32", "Fix: set kernel_size=3 on decoder layer 2."),
        Fix("decoder", 1, "kernel_size", 3),
    ),
    ShapeErrorCase(
        "seed-kernel-off-by-one",
        _with_last_decoder_layer("seed", kernel_size=4),
        _mismatch(29, "22x22x8", "29x29x32", "Fix: set kernel_size=3 on decoder layer 3."),
        Fix("decoder", 2, "kernel_size", 3),
    ),
    ShapeErrorCase(
        "seed-decoder-too-short",
        replace(preset("seed"), decoder=preset("seed").decoder[:2]),
        # Padding is tried before kernel sizes, so growing the bottleneck by 2 wins over a 5x5 decoder kernel.
        _mismatch(26, "22x22x8", "26x26x16", "Fix: set padding='same' on encoder layer 3."),
        Fix("encoder", 2, "padding", "same"),
    ),
    ShapeErrorCase(
        "output-kernel-fits-exactly",
        ExperimentSpec(
            encoder=(conv2d(8, 3, strides=2, padding="same"),) * 4,  # 28 -> 14 -> 7 -> 4 -> 2
            decoder=(conv2d_transpose(8, 3, strides=14, padding="same"),),  # 2 -> 28
            output=conv2d(1, 28, activation="sigmoid"),  # 28 - 28 + 1 = 1
        ),
        "Invalid architecture: the output is 1x1x1 but must match the input, 28x28x1. The encoder ends at "
        "2x2x8, the decoder at 28x28x8. Fix: set padding='same' on output layer.",
        Fix("output", None, "padding", "same"),
    ),
    ShapeErrorCase(
        "upsampling-once",
        replace(preset("upsampling"), decoder=preset("upsampling").decoder[:2]),
        _mismatch(14, "7x7x8", "14x14x16", GENERIC_ADVICE),
        None,
    ),
    ShapeErrorCase(
        # Only padding="same" on the decoder layer would give 28, but TensorFlow cannot run that layer with an
        # even kernel and output_padding=0, so there is no fix to suggest.
        "no-fix-that-keras-rejects",
        ExperimentSpec(
            encoder=(conv2d(8, 14),),  # 28 -> 15
            decoder=(conv2d_transpose(8, 4, strides=2, output_padding=0),),  # 15 -> 32
            output=conv2d(1, padding="same", activation="sigmoid"),
        ),
        _mismatch(32, "15x15x8", "32x32x8", GENERIC_ADVICE),
        None,
    ),
]


@pytest.mark.parametrize("case", SHAPE_ERROR_CASES, ids=lambda case: case.id)
def test_output_mismatch_names_decoder_end_and_fix(case: ShapeErrorCase) -> None:
    for check in (check_shapes, validate):
        with pytest.raises(SpecError) as error:
            check(case.spec)
        assert str(error.value) == case.message
        assert (error.value.part, error.value.index, error.value.argument, error.value.fix) == (
            "output",
            None,
            None,
            case.fix,
        )
    assert suggest_fix(case.spec) == case.fix
    assert spec_problem(case.spec).fix == case.fix


@pytest.mark.parametrize("case", [case for case in SHAPE_ERROR_CASES if case.fix], ids=lambda case: case.id)
def test_suggested_fix_works(case: ShapeErrorCase) -> None:
    # Apply the fix from its fields alone, without `core.edits`, and check that the whole spec is then valid.
    fix = case.fix
    layer = case.spec.layer_at(fix.part, fix.index)
    fixed = case.spec.with_layer(fix.part, fix.index, replace(layer, **{fix.argument: fix.value}))
    validate(fixed)
    assert infer_shapes(fixed).layers[-1].output_shape == INPUT_SHAPE


def test_check_shapes_returns_the_report_of_a_valid_spec() -> None:
    assert check_shapes(preset("seed")) == infer_shapes(preset("seed"))
    assert spec_problem(preset("seed")) is None


@pytest.mark.parametrize(
    ("fix", "words"),
    [
        (Fix("decoder", 1, "output_padding", 1), "set output_padding=1 on decoder layer 2"),
        (Fix("output", None, "activation", "sigmoid"), "set activation='sigmoid' on output layer"),
        (Fix("encoder", 0, "output_padding", None), "set output_padding=None on encoder layer 1"),
    ],
)
def test_fix_describes_itself(fix: Fix, words: str) -> None:
    assert fix.describe() == words


# --- Reading a spec checks its arguments only --------------------------------------------------------------

BAD_SHAPE = _with_last_decoder_layer("seed", kernel_size=4)  # Valid arguments; the output is 29x29x1.


def test_from_dict_does_not_infer_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(spec: ExperimentSpec) -> None:
        raise AssertionError("ExperimentSpec.from_dict inferred shapes")

    monkeypatch.setattr(shapes, "infer_shapes", refuse)
    monkeypatch.setattr(shapes, "walk_shapes", refuse)
    assert ExperimentSpec.from_dict(preset("strided").to_dict()) == preset("strided")
    # A spec whose layers do not fit together still reads; `validate` is what refuses it.
    assert ExperimentSpec.from_json(BAD_SHAPE.to_json()) == BAD_SHAPE


def test_spec_does_not_import_shapes_or_validation() -> None:
    # A fresh interpreter: this test process has long imported both.
    script = (
        "import sys\n"
        "import core.spec\n"
        "core.spec.ExperimentSpec.from_dict({'encoder': [{'type': 'Conv2D', 'filters': 8}], "
        "'decoder': [{'type': 'Conv2DTranspose', 'filters': 8}], "
        "'output': {'type': 'Conv2D', 'filters': 1, 'activation': 'sigmoid'}})\n"
        "print(','.join(sorted(name for name in ('core.shapes', 'core.validation') if name in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_shapes_do_not_import_validation() -> None:
    script = "import sys\nimport core.shapes\nprint('core.validation' in sys.modules)\n"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


# --- Everywhere a spec enters, a bad shape is still refused ------------------------------------------------


def test_submit_refuses_a_bad_shape_before_anything_is_written(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    with pytest.raises(SpecError, match=r"^Invalid architecture: the output is 29x29x1"):
        jobs.submit(BAD_SHAPE, None, runs_dir, start=False)
    assert not runs_dir.exists() or list(runs_dir.iterdir()) == []


def test_cli_config_with_a_bad_shape_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad-shape.json"
    config.write_text(json.dumps(BAD_SHAPE.to_dict()))
    arguments = argparse.Namespace(config=config, preset=None, epochs=None, seed=None, limit=None)
    with pytest.raises(SpecError) as error:
        resolve_spec(arguments)
    assert str(error.value).startswith(f"{config}: Invalid architecture: the output is 29x29x1")


# --- Memory: a model beyond the machine is refused before training, with the estimate ----------------------

# Twelve Conv2D layers of 1024 filters that keep 28x28, then one back to a single channel: every argument is in
# range and the shapes fit, but a batch of 1000 needs 77 GB for its layer outputs alone.
HUGE = replace(
    preset("seed"),
    encoder=tuple(conv2d(1024, 3, padding="same") for _ in range(12)),
    decoder=(conv2d_transpose(8, 3, padding="same"),),
)


def test_the_memory_estimate_counts_every_layer_output_and_the_weights() -> None:
    spec = preset("seed")
    report = infer_shapes(spec)
    values_per_image = 28 * 28 + sum(
        height * width * channels for height, width, channels in (layer.output_shape for layer in report.layers)
    )
    estimate = estimate_memory(spec)
    assert values_per_image == 76_800
    assert estimate.activations == 1000 * 76_800 * 4 * 2  # float32, output and its gradient.
    assert estimate.weights == 12_785 * 4 * 4  # Weights, gradients and Adam's two moments.
    assert estimate.total == estimate.activations + estimate.weights
    assert describe_bytes(estimate.total) == "614.6 MB"


@pytest.mark.parametrize(
    ("count", "words"),
    [(0, "0 kB"), (1, "1 kB"), (204_560, "205 kB"), (614_604_560, "614.6 MB"), (25.3e9, "25.3 GB"), (4.6e12, "4.6 TB")],
)
def test_describe_bytes(count: float, words: str) -> None:
    assert describe_bytes(count) == words


def test_a_model_beyond_the_machines_memory_is_refused_with_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "machine_memory", lambda: 16_000_000_000)
    with pytest.raises(SpecError) as error:
        validate(HUGE)
    assert str(error.value) == (
        "Invalid value for argument `batch_size` of training settings. Expected a model and batch that fit in this "
        "machine's 16.0 GB of memory. Received batch_size=1000, which needs at least 78.8 GB to train (77.1 GB for "
        "the layer outputs of one batch, 1.7 GB for the weights and the optimizer's state)."
    )
    assert (error.value.part, error.value.argument) == ("training", "batch_size")
    assert error.value.hint == "lower batch_size, or the filters of the largest layers"
    assert spec_problem(HUGE) is not None  # The Train page disables Start with this message.
    validate(HUGE.with_training(batch_size=100))  # 9.4 GB: a smaller batch fits.


def test_every_preset_fits_in_4_gb_and_an_unknown_memory_refuses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "machine_memory", lambda: 4_000_000_000)
    for name in PRESETS:
        validate(preset(name))
    monkeypatch.setattr(validation, "machine_memory", lambda: None)
    validate(HUGE)


def test_ten_thousand_filters_are_refused_by_the_argument_check() -> None:
    spec = preset("seed")
    spec = spec.with_layer("encoder", 0, replace(spec.encoder[0], filters=10_000))
    with pytest.raises(SpecError, match=r"Expected an integer from 1 to 1024\. Received filters=10000\.$"):
        validate(spec)


def test_submit_refuses_a_model_beyond_the_machine_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validation, "machine_memory", lambda: 16_000_000_000)
    runs_dir = tmp_path / "runs"
    with pytest.raises(SpecError, match=r"which needs at least 78\.8 GB to train"):
        jobs.submit(HUGE, None, runs_dir, start=False)
    assert not runs_dir.exists() or list(runs_dir.iterdir()) == []


# --- Rules only one backend needs -------------------------------------------------------------------------------

EVEN_SAME = ExperimentSpec(  # 28 -> 15 -> 28 -> 28, through a layer TensorFlow cannot run and JAX and PyTorch can.
    encoder=(conv2d(8, 14),),
    decoder=(conv2d_transpose(8, 4, strides=2, padding="same", output_padding=0),),
    output=conv2d(1, padding="same", activation="sigmoid"),
)
TENSORFLOW_RULE = (
    "Invalid value for argument `output_padding` of decoder layer 1. Expected None or 1: TensorFlow cannot run "
    "padding='same' with an even kernel (effective size 4) and output_padding=0. Received output_padding=0."
)


@pytest.mark.parametrize(
    "layer, expected",
    [
        (conv2d_transpose(8, 4, strides=2, padding="same", output_padding=0), "None or 1"),
        (conv2d_transpose(8, 2, dilation_rate=3, padding="same", output_padding=0), "None"),
        (conv2d_transpose(8, 4, strides=3, padding="same", output_padding=0), "None or an integer from 1 to 2"),
    ],
)
def test_the_tensorflow_rule_refuses_even_same_kernels_without_output_padding(layer: object, expected: str) -> None:
    with pytest.raises(SpecError, match=f"Expected {expected}: TensorFlow cannot run") as raised:
        validation.check_layer_on_backend(layer, "tensorflow", "decoder", 0)
    error = raised.value
    assert (error.argument, error.fix) == ("output_padding", Fix("decoder", 0, "output_padding", None))
    assert error.hint == "use an odd kernel_size, or train on JAX or PyTorch"
    for backend in ("jax", "torch"):
        validation.check_layer_on_backend(layer, backend, "decoder", 0)  # Not a rule of theirs.
    for fine in (replace(layer, output_padding=None), replace(layer, kernel_size=3), replace(layer, padding="valid")):
        validation.check_layer_on_backend(fine, "tensorflow", "decoder", 0)


def test_a_spec_is_judged_for_the_backend_it_will_train_on() -> None:
    assert str(validation.spec_problem(EVEN_SAME, "tensorflow")).startswith(TENSORFLOW_RULE)
    assert validation.spec_problem(EVEN_SAME) is not None  # TensorFlow is the default backend.
    assert validation.spec_problem(EVEN_SAME, "jax") is None
    assert ExperimentSpec.from_dict(EVEN_SAME.to_dict()) == EVEN_SAME  # A run saved on JAX still loads anywhere.


def test_a_fix_is_only_suggested_where_the_backend_runs_it() -> None:
    spec = ExperimentSpec(
        encoder=(conv2d(8, 14),),  # 28 -> 15
        decoder=(conv2d_transpose(8, 4, strides=2, output_padding=0),),  # 15 -> 32
        output=conv2d(1, padding="same", activation="sigmoid"),
    )
    assert validation.suggest_fix(spec, "tensorflow") is None
    assert validation.suggest_fix(spec, "jax") == Fix("decoder", 0, "padding", "same")  # 15 -> 28 on JAX.


def test_submit_applies_the_rules_of_the_jobs_backend(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="TensorFlow cannot run"):
        jobs.submit(EVEN_SAME, 600, tmp_path, backend="tensorflow", start=False)
    if "jax" in installed_backends():
        jobs.submit(EVEN_SAME, 600, tmp_path, backend="jax", start=False)


@pytest.mark.slow
@pytest.mark.skipif("jax" not in installed_backends(), reason="JAX is not installed")
def test_the_tensorflow_rule_is_one_tensorflow_needs_and_jax_does_not() -> None:
    # Each backend, in a process of its own, calls the layer the rule refuses on TensorFlow.
    script = (
        "import keras, numpy as np\n"
        "layer = keras.layers.Conv2DTranspose(8, 4, strides=2, padding='same', output_padding=0)\n"
        "try:\n"
        "    print('ran', tuple(layer(np.zeros((1, 7, 7, 8), 'float32')).shape))\n"
        "except Exception as error:\n"
        "    print('failed', type(error).__name__)\n"
    )
    outcomes = {}
    for backend in ("tensorflow", "jax"):
        environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                                timeout=300, check=True)  # fmt: skip
        outcomes[backend] = result.stdout.strip().splitlines()[-1]
    assert outcomes["tensorflow"].startswith("failed")
    # JAX runs it, with the size the shape rule infers: (7 - 1) * 2 + 4 - 2 * 2 + 0 = 12.
    assert outcomes["jax"] == "ran (1, 12, 12, 8)"
    layer = conv2d_transpose(8, 4, strides=2, padding="same", output_padding=0)
    assert shapes.layer_output_shape(layer, (7, 7, 8)) == (12, 12, 8)
