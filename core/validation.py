"""Whole-spec validation: every argument, then the shape flow, and the one argument change that fixes it; then
whether training fits in this machine's memory.

`core.spec` checks arguments one by one and `core.shapes` computes shapes; this module puts them together and
adds the rule that makes the model an autoencoder: its output must be 28x28x1 again, like its input. When it is
not, the error carries a `Fix` found by trying the nearby alternatives, which the Build page applies in one click.
A model and batch whose memory estimate (`estimate_memory`) is beyond the machine are refused before training.
The Build and Train pages, the job runner, the CLI and the model builder all ask `validate` (or `spec_problem`),
so a spec is judged the same way everywhere. Nothing here imports TensorFlow or Streamlit.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

from core.backends import DEFAULT_BACKEND
from core.shapes import ShapeReport, describe_shape, infer_shapes
from core.spec import INPUT_SHAPE, ExperimentSpec, Fix, LayerSpec, SpecError, describe_location, validate_arguments

BYTES_PER_VALUE = 4  # float32
# Each layer's output is kept for the backward pass, which makes a gradient of the same size.
ACTIVATION_COPIES = 2
# Each weight has a gradient and, with Adam (the largest of our optimizers' states), two moment estimates.
WEIGHT_COPIES = 4


def validate(spec: ExperimentSpec, backend: str = DEFAULT_BACKEND) -> None:
    """Checks the whole spec: every argument (`core.spec.validate_arguments`), the rules of the backend it will
    train on (`check_backend_rules`), the shape flow, then memory.

    Raises:
        SpecError: the first problem found, with where it is and, where one argument change cures it, that fix.
    """
    validate_arguments(spec)
    check_backend_rules(spec, backend)
    check_memory(spec, check_shapes(spec, backend))


def check_backend_rules(spec: ExperimentSpec, backend: str = DEFAULT_BACKEND) -> None:
    """Checks every layer against the rules that only `backend` needs (see `check_layer_on_backend`)."""
    for part, index, layer in spec.layers():
        check_layer_on_backend(layer, backend, part, index)


def check_layer_on_backend(layer: LayerSpec, backend: str, part: str = "spec", index: int | None = None) -> None:
    """Refuses a layer that Keras accepts but `backend` cannot run. Each rule is here because a test
    (`tests/test_validation.py`) shows that backend failing and the others running the same layer.

    TensorFlow: a Conv2DTranspose with padding="same", an even (effective) kernel and output_padding=0 builds but
    fails when called: TensorFlow's op checks that a "same" convolution of the output gives back the input, which
    that layer misses by one. JAX and PyTorch run it, with the size Keras' formula gives.

    Raises:
        SpecError: naming the layer, the argument, the backend and the fix.
    """
    if backend != "tensorflow" or layer.type != "Conv2DTranspose" or layer.output_padding != 0:
        return
    effective_kernel = (layer.kernel_size - 1) * layer.dilation_rate + 1
    if layer.padding != "same" or effective_kernel % 2 == 1:
        return
    expected = {1: "None", 2: "None or 1"}.get(layer.strides, f"None or an integer from 1 to {layer.strides - 1}")
    raise SpecError(
        f"Invalid value for argument `output_padding` of {describe_location(part, index)}. Expected {expected}: "
        f"TensorFlow cannot run padding='same' with an even kernel (effective size {effective_kernel}) and "
        "output_padding=0. Received output_padding=0.",
        part=part,
        index=index,
        argument="output_padding",
        fix=Fix(part, index, "output_padding", None) if part in ("encoder", "decoder", "output") else None,
        hint="use an odd kernel_size, or train on JAX or PyTorch",
    )


@dataclass(frozen=True)
class MemoryEstimate:
    """The memory one training step needs, at least: what the model's layers hold for one batch, and its weights.

    Attributes:
        activations: bytes of the layer outputs of one batch and their gradients (float32).
        weights: bytes of the weights, their gradients and the optimizer's state (float32).
    """

    activations: int
    weights: int

    @property
    def total(self) -> int:
        return self.activations + self.weights


def estimate_memory(spec: ExperimentSpec, report: ShapeReport | None = None) -> MemoryEstimate:
    """A lower bound of the memory that training `spec` takes: TensorFlow needs this and more (its workspace).

    Args:
        spec: a spec whose shapes are valid.
        report: its shape flow, if already computed.
    """
    report = report or infer_shapes(spec)
    values_per_image = math.prod(INPUT_SHAPE) + sum(math.prod(layer.output_shape) for layer in report.layers)
    activations = spec.training.batch_size * values_per_image * BYTES_PER_VALUE * ACTIVATION_COPIES
    return MemoryEstimate(activations, report.params * BYTES_PER_VALUE * WEIGHT_COPIES)


def machine_memory() -> int | None:
    """The physical memory of this machine in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def describe_bytes(count: float) -> str:
    """A size in words: "512 kB", "37.1 MB", "4.6 GB", "1.2 TB" (powers of 1000)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{math.ceil(count / 1e3)} kB"


def check_memory(spec: ExperimentSpec, report: ShapeReport | None = None) -> MemoryEstimate:
    """Refuses, before any training, a spec whose memory estimate is beyond this machine's memory.

    Returns:
        The `MemoryEstimate` of a spec that fits.

    Raises:
        SpecError: naming the estimate, its parts and the machine's memory, with what to lower.
    """
    estimate = estimate_memory(spec, report)
    available = machine_memory()
    if available is not None and estimate.total > available:
        raise SpecError(
            f"Invalid value for argument `batch_size` of training settings. Expected a model and batch that fit in "
            f"this machine's {describe_bytes(available)} of memory. Received batch_size={spec.training.batch_size}, "
            f"which needs at least {describe_bytes(estimate.total)} to train "
            f"({describe_bytes(estimate.activations)} for the layer outputs of one batch, "
            f"{describe_bytes(estimate.weights)} for the weights and the optimizer's state).",
            part="training",
            argument="batch_size",
            hint="lower batch_size, or the filters of the largest layers",
        )
    return estimate


def spec_problem(spec: ExperimentSpec, backend: str = DEFAULT_BACKEND) -> SpecError | None:
    """The first problem of `spec` (its message, place and fix), or None when it can be trained.

    The Train page disables its Start button with `str(problem)` as the reason; the Build page marks
    `problem.part`, `problem.index` and `problem.argument` in its editors and offers `problem.fix`.
    """
    try:
        validate(spec, backend)
    except SpecError as error:
        return error
    return None


def check_shapes(spec: ExperimentSpec, backend: str = DEFAULT_BACKEND) -> ShapeReport:
    """The shape flow of `spec`, checking that the model maps 28x28x1 back to 28x28x1.

    Returns:
        The `ShapeReport` of `core.shapes.infer_shapes`.

    Raises:
        SpecError: if a layer cannot be built (see `infer_shapes`), or the output is not 28x28x1. The latter names
            where the encoder and the decoder end and, where a single argument change fixes it, that change.
    """
    report = infer_shapes(spec)
    output_shape = report.layers[-1].output_shape
    if output_shape != INPUT_SHAPE:
        decoder_end = [layer for layer in report.layers if layer.part == "decoder"][-1].output_shape
        fix = suggest_fix(spec, backend)
        message = (
            f"Invalid architecture: the output is {describe_shape(output_shape)} but must match the input, "
            f"{describe_shape(INPUT_SHAPE)}. The encoder ends at {describe_shape(report.bottleneck_shape)}, the "
            f"decoder at {describe_shape(decoder_end)}."
        )
        message += f" Fix: {fix.describe()}." if fix else " Change the decoder so that it grows back to 28x28."
        raise SpecError(message, part="output", fix=fix)
    return report


def suggest_fix(spec: ExperimentSpec, backend: str = DEFAULT_BACKEND) -> Fix | None:
    """One argument change that makes the output 28x28x1, or None if no single change does.

    Tries the changes users most often need, in order: `output_padding` on a strided transpose, `padding`,
    then `kernel_size` (nearest the current size first), first in the decoder (last layers first), then the output
    layer, then the encoder. Changes that `core.spec.validate_layer` rejects, or that `backend` cannot run
    (`check_layer_on_backend`), are never suggested.
    """
    places = [*reversed([("decoder", index) for index in range(len(spec.decoder))]), ("output", None)]
    places += [("encoder", index) for index in reversed(range(len(spec.encoder)))]
    candidates: list[Fix] = []
    for part, index in places:
        layer = spec.layer_at(part, index)
        if layer.type == "Conv2DTranspose" and layer.strides > 1:
            candidates += [Fix(part, index, "output_padding", value) for value in range(layer.strides)]
    for part, index in places:
        layer = spec.layer_at(part, index)
        if layer.type != "UpSampling2D":
            candidates += [Fix(part, index, "padding", value) for value in ("same", "valid")]
    for part, index in places:
        layer = spec.layer_at(part, index)
        if layer.has_weights:
            nearest_first = sorted(range(1, 8), key=lambda size: abs(size - layer.kernel_size))
            candidates += [Fix(part, index, "kernel_size", value) for value in nearest_first]
    for fix in candidates:
        layer = spec.layer_at(fix.part, fix.index)
        if getattr(layer, fix.argument) == fix.value:
            continue
        changed = spec.with_layer(fix.part, fix.index, replace(layer, **{fix.argument: fix.value}))
        try:
            report = infer_shapes(changed)  # It checks every layer's arguments: a change Keras rejects is no fix.
            check_layer_on_backend(changed.layer_at(fix.part, fix.index), backend, fix.part, fix.index)
        except SpecError:
            continue
        if report.layers[-1].output_shape == INPUT_SHAPE:
            return fix
    return None
