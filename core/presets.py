"""Named starting points. `seed` is the reference model exactly; the others show other ways to compress."""

from __future__ import annotations

from dataclasses import replace

from core.spec import (
    ExperimentSpec,
    NoiseSpec,
    SpecError,
    TrainingSpec,
    conv2d,
    conv2d_transpose,
    up_sampling2d,
)

# The reference's output layer keeps Keras' default initializer.
_OUTPUT = conv2d(1, activation="sigmoid", padding="same", kernel_initializer="glorot_uniform")


def _seed() -> ExperimentSpec:
    return ExperimentSpec(
        name="seed",
        encoder=(conv2d(32), conv2d(16), conv2d(8)),  # 28 -> 26 -> 24 -> 22, "valid" 3x3 kernels.
        decoder=(conv2d_transpose(8), conv2d_transpose(16), conv2d_transpose(32)),  # 22 -> 24 -> 26 -> 28.
        output=_OUTPUT,
        training=TrainingSpec(
            optimizer="adam",
            learning_rate=0.001,
            loss="binary_crossentropy",
            batch_size=1000,
            epochs=25,
            validation_split=0.2,
        ),
    )


def _seed_fast() -> ExperimentSpec:
    # Small batches at a larger step pass the reference's 25-epoch test loss in one epoch: 750 updates, where the
    # reference makes 48 an epoch (bench.seed_fast_search, BENCHMARKS.md).
    return replace(_seed(), name="seed-fast").with_training(batch_size=64, learning_rate=0.004, epochs=1)


_STRIDED_ENCODER = (
    conv2d(32, strides=2, padding="same"),  # 28 -> 14
    conv2d(16, strides=2, padding="same"),  # 14 -> 7
    conv2d(8, padding="same"),  # 7x7x8 = 392 values, half the 784 pixels.
)
_COMPRESSING_TRAINING = TrainingSpec(learning_rate=0.002, batch_size=250, epochs=10)


def _strided() -> ExperimentSpec:
    return ExperimentSpec(
        name="strided",
        encoder=_STRIDED_ENCODER,
        decoder=(
            conv2d_transpose(16, strides=2, padding="same"),  # 7 -> 14
            conv2d_transpose(32, strides=2, padding="same"),  # 14 -> 28
        ),
        output=_OUTPUT,
        training=_COMPRESSING_TRAINING,
    )


def _upsampling() -> ExperimentSpec:
    return ExperimentSpec(
        name="upsampling",
        encoder=_STRIDED_ENCODER,
        decoder=(
            up_sampling2d(2),  # 7 -> 14, each value repeated; the convolution after it learns to smooth.
            conv2d(16, padding="same"),
            up_sampling2d(2),  # 14 -> 28
            conv2d(32, padding="same"),
        ),
        output=_OUTPUT,
        training=_COMPRESSING_TRAINING,
    )


def _denoising() -> ExperimentSpec:
    # Chosen by bench/denoise_search.py (BENCHMARKS.md): a code as large as the keras-io denoiser's, and width where
    # it is cheap. A layer's cost grows with its output's area, so the 7x7 layers take 64 and 32 channels, and the
    # 28x28 one only 16: it trains in about the time the `strided` preset takes.
    return ExperimentSpec(
        name="denoising",
        encoder=(
            conv2d(32, strides=2, padding="same"),  # 28 -> 14
            conv2d(64, strides=2, padding="same"),  # 14 -> 7
            conv2d(32, padding="same"),  # 7x7x32 = 1,568 values, twice the pixels: it removes noise, not detail.
        ),
        decoder=(
            conv2d_transpose(32, strides=2, padding="same"),  # 7 -> 14
            conv2d_transpose(16, strides=2, padding="same"),  # 14 -> 28
        ),
        output=_OUTPUT,
        training=TrainingSpec(
            learning_rate=0.003,
            batch_size=128,
            epochs=9,  # 10 gained 0.00014 of noisy test BCE for 12 s more, past the 2 minutes it must train in.
            noise=NoiseSpec(kind="gaussian", amount=0.4),  # As the keras-io example: normal noise, clipped to [0, 1].
            # On a CPU with bfloat16, `auto` would train this model 1.15-1.22x faster for 0.0003-0.0006 more noisy test
            # BCE at each of seeds 0, 1 and 2 (BENCHMARKS.md): this preset is for quality.
            dtype_policy="float32",
        ),
    )


PRESETS: dict[str, ExperimentSpec] = {
    spec.name: spec for spec in (_seed(), _seed_fast(), _strided(), _upsampling(), _denoising())
}
PRESET_DESCRIPTIONS: dict[str, str] = {
    "seed": "The reference model: 3 valid 3x3 Conv2D down to 22x22x8, 3 Conv2DTranspose back, 25 epochs.",
    "seed-fast": "The reference architecture with a schedule that reaches its test loss in one epoch.",
    "strided": "A compressing autoencoder: stride-2 Conv2D down to 7x7x8, stride-2 Conv2DTranspose back up.",
    "upsampling": "The strided bottleneck decoded with UpSampling2D + Conv2D instead of transposed convolutions.",
    "denoising": "A denoiser: stride-2 Conv2D down to a 7x7x32 code and back up, trained on inputs with Gaussian noise "
    "against clean targets.",
}


def preset(name: str) -> ExperimentSpec:
    """The preset called `name`.

    Raises:
        SpecError: if there is no such preset, listing the names there are.
    """
    if name not in PRESETS:
        raise SpecError(
            f"Invalid value for argument `preset`. Expected one of {list(PRESETS)}. Received preset={name!r}."
        )
    return PRESETS[name]
