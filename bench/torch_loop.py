"""The baseline: a plain PyTorch training loop of the `seed` model, the best a hand-written loop does on this device.

    python -m bench.torch_loop [--epochs 6] [--variants eager-float32,compiled-float32,eager-bf16,compiled-bf16]
                              [--limit N] [--json FILE]

The reference recipe written directly in PyTorch, with nothing of Keras: the same layers and parameter count
(12,785), He-normal kernels, Adam (learning rate 0.001, epsilon 1e-7 as Keras), binary cross-entropy, batch 1000,
the last 20% of the training images held out for validation as `validation_split=0.2` does. What makes it the best
plain loop, not a naive one: the images live on the device, the loss is read once an epoch (never `.item()` a
step), the loss is computed from the logits (`binary_cross_entropy_with_logits`, which bf16 autocast allows),
Adam is fused on a GPU, and the model and batches are channels-last.

Four variants: eager or `torch.compile`d, float32 or bf16 autocast. An epoch is timed as Keras' `fit` times one,
training and validation, with the device synchronised at its end; the steady rate is the training images over the
median epoch from the second on (the first holds compilation). Prints one JSON line per variant, with its test BCE
on the 10,000 test images (probabilities clipped to [1e-7, 1 - 1e-7], as Keras' loss).
This is the GPU baseline of `bench.gpu`; it runs on a CPU too, slowly.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from core.mnist import load_mnist, scale, split_validation

VARIANTS = ("eager-float32", "compiled-float32", "eager-bf16", "compiled-bf16")
SEED_PARAMETERS = 12_785
BATCH_SIZE = 1000
EPSILON = 1e-7  # Keras' Adam epsilon and its loss's clipping.


def seed_model() -> nn.Sequential:
    """The `seed` architecture, its sigmoid left to the loss (logits out); He-normal kernels, zero biases."""
    layers: list[nn.Module] = []
    for in_channels, filters in ((1, 32), (32, 16), (16, 8)):
        layers += [nn.Conv2d(in_channels, filters, 3), nn.ReLU()]
    for in_channels, filters in ((8, 8), (8, 16), (16, 32)):
        layers += [nn.ConvTranspose2d(in_channels, filters, 3), nn.ReLU()]
    layers.append(nn.Conv2d(32, 1, 3, padding=1))
    model = nn.Sequential(*layers)
    for layer in model:
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            # PyTorch's fan-in of a transposed kernel (in, out, h, w) is out*h*w, as Keras' of (h, w, out, in).
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    assert parameters == SEED_PARAMETERS, f"the seed model has {SEED_PARAMETERS:,} parameters, this one {parameters:,}"
    return model


def test_loss(model: nn.Module, images: torch.Tensor) -> float:
    """Binary cross-entropy of the reconstructions of `images`, as Keras computes it from probabilities."""
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(images), BATCH_SIZE):
            batch = images[start : start + BATCH_SIZE]
            probabilities = torch.sigmoid(model(batch).float()).clamp(EPSILON, 1 - EPSILON)
            total += float(functional.binary_cross_entropy(probabilities, batch, reduction="sum"))
    return total / images.numel()


def train_variant(variant: str, epochs: int, limit: int | None, device: torch.device) -> dict:
    """Trains a fresh model `epochs` epochs as `variant` says; returns its rates, epoch times and test BCE."""
    compiled, precision = variant.split("-")[0] == "compiled", variant.split("-")[1]
    torch.manual_seed(0)
    mnist = load_mnist()
    train_numpy, validation_numpy = split_validation(scale(mnist.x_train[:limit]), 0.2)

    def on_device(images: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)  # NHWC -> NCHW, same memory.
        return tensor.to(device).contiguous(memory_format=torch.channels_last)

    train, validation, test = on_device(train_numpy), on_device(validation_numpy), on_device(scale(mnist.x_test))
    model = seed_model().to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, eps=EPSILON, fused=device.type == "cuda")
    forward = torch.compile(model) if compiled else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step(batch: torch.Tensor) -> torch.Tensor:
        with autocast:
            loss = functional.binary_cross_entropy_with_logits(forward(batch).float(), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def validation_loss() -> torch.Tensor:
        total = torch.zeros((), device=device)
        with torch.no_grad(), autocast:
            for start in range(0, len(validation), BATCH_SIZE):
                batch = validation[start : start + BATCH_SIZE]
                total += functional.binary_cross_entropy_with_logits(forward(batch).float(), batch, reduction="sum")
        return total / validation.numel()

    epoch_seconds, history = [], []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(train), device=device)
        loss_sum = torch.zeros((), device=device)
        for start in range(0, len(train), BATCH_SIZE):
            loss_sum += step(train[order[start : start + BATCH_SIZE]])
        val_loss = validation_loss()
        losses = torch.stack([loss_sum / -(-len(train) // BATCH_SIZE), val_loss]).tolist()  # One read an epoch.
        epoch_seconds.append(time.perf_counter() - started)
        history.append({"loss": losses[0], "val_loss": losses[1]})
    steady = statistics.median(epoch_seconds[1:] or epoch_seconds)
    return {
        "variant": f"{variant} channels-last",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "train_images": len(train),
        "epochs": epochs,
        "images_per_second": len(train) / steady,
        "first_epoch_seconds": epoch_seconds[0],
        "epoch_seconds": epoch_seconds,
        "total_seconds": sum(epoch_seconds),
        "history": history,
        "test_loss": test_loss(forward, test),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6, help="epochs per variant, the first one untimed (default 6)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N of the 60,000 images")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    arguments = parser.parse_args()
    variants = [variant.strip() for variant in arguments.variants.split(",") if variant.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or arguments.epochs < 1:
        parser.error(f"Invalid value for argument `variants` or `epochs`: {unknown or arguments.epochs}. "
                     f"Expected variants of {list(VARIANTS)} and at least 1 epoch.")  # fmt: skip
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = []
    for variant in variants:
        result = train_variant(variant, arguments.epochs, arguments.limit, device)
        print(json.dumps({key: value for key, value in result.items() if key != "history"}), flush=True)
        results.append(result)
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
