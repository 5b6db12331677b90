"""The generated plain-Keras code: it runs, and builds the very model the studio trains."""

from __future__ import annotations

import ast
import inspect
import os
import random
import subprocess
import sys
from dataclasses import replace
from types import ModuleType
from typing import Any

import pytest

from core.edits import add_layer, set_argument
from core.keras_code import KERAS_DEFAULTS, keras_code, layer_call, training_script
from core.presets import PRESETS, preset
from core.shapes import infer_shapes, layer_output_shape, layer_params
from core.spec import (
    LAYER_ARGUMENTS,
    LAYER_TYPES,
    ExperimentSpec,
    LayerSpec,
    NoiseSpec,
    SpecError,
    conv2d,
    conv2d_transpose,
    max_pooling2d,
    up_sampling2d,
)
from core.validation import check_layer_on_backend
from tests.conftest import REPOSITORY_ROOT


def edited_specs() -> dict[str, ExperimentSpec]:
    """Specs beyond the presets: every layer type and argument the Build page edits, and every training option."""
    seed = preset("seed")
    return {
        "pooling": replace(
            seed,
            name="pooling",
            encoder=(conv2d(16, padding="same", kernel_initializer="glorot_normal"), max_pooling2d(2)),
            decoder=(up_sampling2d(2, interpolation="bilinear"), conv2d(16, 5, padding="same", activation="gelu")),
        ).with_training(optimizer="rmsprop", loss="mse"),
        "output-padding": replace(
            preset("strided"),
            name="output-padding",
            encoder=(conv2d(16, strides=2), conv2d(8, dilation_rate=2, padding="same")),  # 28 -> 13 -> 13
            decoder=(conv2d_transpose(16, strides=2, output_padding=1),),  # 13 -> 28 (27 + output_padding 1)
            output=conv2d_transpose(1, activation="sigmoid", padding="same", kernel_initializer="lecun_uniform"),
        ).with_training(learning_rate_schedule="cosine", optimizer="adamw", validation_split=0.1),
        "added-layer": add_layer(seed, "decoder", "Conv2DTranspose").with_training(
            optimizer="sgd", noise=NoiseSpec(kind="salt_pepper", amount=0.2)
        ),
        "linear-output": set_argument(seed, "output", None, "activation", "linear").with_training(
            loss="mse", optimizer="nadam"
        ),
        # The Build page's steps: add a MaxPooling2D, set its stride to 1, take the fix padding="same". Keras'
        # MaxPooling2D strides default to the pool size, so the code must say strides=1.
        "pooling-stride-1": pooling_stride_1(),
        "pooling-3-stride-2": replace(
            seed,
            name="pooling-3-stride-2",
            encoder=(conv2d(16, padding="same"), max_pooling2d(3, strides=2, padding="same")),  # 28 -> 28 -> 14
            decoder=(up_sampling2d(2),),  # 14 -> 28
            output=conv2d(1, activation="sigmoid", padding="same"),
        ),
    }


def pooling_stride_1() -> ExperimentSpec:
    spec = add_layer(preset("seed"), "encoder", "MaxPooling2D")
    spec = set_argument(spec, "encoder", len(spec.encoder) - 1, "strides", 1)
    return replace(set_argument(spec, "encoder", len(spec.encoder) - 1, "padding", "same"), name="pooling-stride-1")


SPECS = {**PRESETS, **edited_specs()}


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    # Imported here, once, so that collecting the other test modules never pays for TensorFlow.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def run_code(spec: ExperimentSpec) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(keras_code(spec), f"<keras code of {spec.name}>", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.mark.parametrize("name", list(SPECS))
def test_code_builds_the_spec(keras: ModuleType, name: str) -> None:
    spec = SPECS[name]
    namespace = run_code(spec)
    autoencoder = namespace["autoencoder"]
    report = infer_shapes(spec)
    assert autoencoder.count_params() == report.params
    assert tuple(autoencoder.output.shape) == (None, 28, 28, 1)
    assert tuple(namespace["encoder"].output.shape) == (None, *report.bottleneck_shape)
    assert [layer.name for layer in autoencoder.layers] == ["image", "encoder", "decoder"]
    assert autoencoder.loss == spec.training.loss
    assert type(autoencoder.optimizer).__name__.lower() == spec.training.optimizer
    generated_layers = [*namespace["encoder"].layers[1:], *namespace["decoder"].layers[1:]]
    assert [tuple(layer.output.shape) for layer in generated_layers] == [
        (None, *layer.output_shape) for layer in report.layers
    ]
    assert [layer.count_params() for layer in generated_layers] == [layer.params for layer in report.layers]


def test_pooling_with_stride_1_says_so_in_the_code_and_the_script() -> None:
    # Left out, the stride would be Keras' default, the pool size: 22x22 -> 11x11 where the page shows 22x22.
    spec = SPECS["pooling-stride-1"]
    call = (
        "features = layers.MaxPooling2D(\n"
        '    pool_size=2, strides=1, padding="same", name="encoder_4_max_pooling2d"\n'
        ")(features)  # (None, 22, 22, 8)\n"
    )
    assert infer_shapes(spec).bottleneck_shape == (22, 22, 8)
    assert call in keras_code(spec)
    assert call in training_script(spec)


def keras_default(keras: ModuleType, layer_type: str, argument: str) -> Any:
    default = inspect.signature(getattr(keras.layers, layer_type)).parameters[argument].default
    # Keras writes square sizes as pairs, (1, 1); the spec writes one integer for both axes.
    if isinstance(default, tuple) and len(set(default)) == 1:
        return default[0]
    return default


@pytest.mark.parametrize("layer_type", LAYER_TYPES)
def test_left_out_arguments_are_keras_own_defaults(keras: ModuleType, layer_type: str) -> None:
    for argument, value in KERAS_DEFAULTS[layer_type].items():
        assert argument in LAYER_ARGUMENTS[layer_type]
        assert keras_default(keras, layer_type, argument) == value, argument


def random_layer(generator: random.Random) -> LayerSpec:
    layer_type = generator.choice(LAYER_TYPES)
    if layer_type == "MaxPooling2D":  # Strides and pool size drawn apart, so they often differ.
        return max_pooling2d(generator.randint(1, 4), generator.randint(1, 4), generator.choice(["valid", "same"]))
    if layer_type == "UpSampling2D":
        return up_sampling2d(generator.randint(1, 3), generator.choice(["nearest", "bilinear"]))
    strides = generator.randint(1, 3)
    arguments: dict[str, Any] = {
        "strides": strides,
        "padding": generator.choice(["valid", "same"]),
        "dilation_rate": 1 if strides > 1 else generator.randint(1, 2),
        "activation": generator.choice(["relu", "linear"]),
        "kernel_initializer": generator.choice(["glorot_uniform", "he_normal"]),
    }
    if layer_type == "Conv2DTranspose":
        arguments["output_padding"] = generator.choice([None, *range(strides)])
    return LayerSpec(type=layer_type, filters=generator.randint(1, 8), kernel_size=generator.randint(1, 5), **arguments)


def test_random_layer_calls_build_the_shapes_the_studio_computes(keras: ModuleType) -> None:
    # Every layer type with arguments drawn at random, Keras' defaults among them, on inputs of random sizes: the
    # call the code writes must build the output shape and parameters that core.shapes computes for the layer.
    generator = random.Random(0)
    checked = 0
    while checked < 150:
        layer = random_layer(generator)
        input_shape = (generator.randint(4, 28), generator.randint(4, 28), generator.randint(1, 4))
        output_shape = layer_output_shape(layer, input_shape)
        try:
            check_layer_on_backend(layer, keras.backend.backend())
        except SpecError:
            continue
        if min(output_shape[:2]) < 1:
            continue
        call = layer_call(layer, "probe")
        built = eval(call, {"layers": keras.layers})  # noqa: S307
        output = built(keras.Input(shape=input_shape))
        assert tuple(output.shape) == (None, *output_shape), call
        assert built.count_params() == layer_params(layer, input_shape[2]), call
        checked += 1


@pytest.mark.parametrize("name", list(SPECS))
def test_code_builds_the_same_layers_as_the_studio(keras: ModuleType, name: str) -> None:
    from core.model import build_model

    spec = SPECS[name]
    generated = run_code(spec)["autoencoder"]
    studio = build_model(spec)
    for part in ("encoder", "decoder"):
        generated_layers = generated.get_layer(part).layers
        studio_layers = studio.get_layer(part).layers
        assert [layer.get_config() for layer in generated_layers] == [layer.get_config() for layer in studio_layers]


def test_cosine_schedule_counts_the_training_steps(keras: ModuleType) -> None:
    spec = SPECS["output-padding"]  # 54,000 training images in batches of 250 for 10 epochs.
    assert "CosineDecay(0.002, decay_steps=2160)" in keras_code(spec)
    schedule = run_code(spec)["autoencoder"].optimizer.learning_rate
    assert float(schedule) == pytest.approx(0.002)


def test_seed_code_reads_like_keras_io() -> None:
    code = keras_code(preset("seed"))
    assert code.startswith('"""The `seed` autoencoder in plain Keras 3 (12,785 parameters)."""\n\nimport keras\n')
    assert "from keras import layers\n" in code
    assert code.count("layers.Conv2DTranspose(") == 3
    assert 'encoder = keras.Model(image, features, name="encoder")' in code
    assert 'decoder = keras.Model(code, reconstruction, name="decoder")' in code
    assert 'code = keras.Input(shape=(22, 22, 8), name="code")' in code
    assert ")(features)  # (None, 22, 22, 8)" in code
    assert (
        'autoencoder.compile(\n    optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="binary_crossentropy"\n)'
    ) in code
    assert "# autoencoder.fit(x_train, x_train, batch_size=1000, epochs=25, validation_split=0.2)" in code
    ast.parse(code)


def test_denoisers_train_on_noisy_inputs() -> None:
    code = keras_code(preset("denoising"))
    assert "np.random.normal(size=x_train.shape)" in code
    assert "# autoencoder.fit(noisy_train, x_train, batch_size=128, epochs=9, validation_split=0.2)" in code


@pytest.mark.parametrize(
    ("layer", "call"),
    [
        (
            conv2d(32),
            'layers.Conv2D(32, 3, padding="valid", activation="relu", kernel_initializer="he_normal", name="a")',
        ),
        (
            conv2d_transpose(16, 4, strides=2, padding="same", output_padding=1, kernel_initializer="glorot_uniform"),
            'layers.Conv2DTranspose(16, 4, strides=2, padding="same", output_padding=1, activation="relu", name="a")',
        ),
        (max_pooling2d(2), 'layers.MaxPooling2D(pool_size=2, strides=2, padding="valid", name="a")'),
        (max_pooling2d(2, strides=1), 'layers.MaxPooling2D(pool_size=2, strides=1, padding="valid", name="a")'),
        (up_sampling2d(3), 'layers.UpSampling2D(size=3, interpolation="nearest", name="a")'),
    ],
)
def test_layer_call_leaves_out_keras_defaults(layer: Any, call: str) -> None:
    assert layer_call(layer, "a") == call


def test_long_calls_wrap_like_ruff_format() -> None:
    # A call that does not fit in 100 characters takes its arguments onto one line of their own, or, when they
    # do not fit either, one argument per line, as ruff format does.
    lines = keras_code(preset("upsampling")).splitlines()
    assert max(len(line.split("  # ")[0]) for line in lines) <= 100
    start = lines.index("features = layers.Conv2D(")
    assert lines[start + 1 : start + 9] == [
        "    32,",
        "    3,",
        "    strides=2,",
        '    padding="same",',
        '    activation="relu",',
        '    kernel_initializer="he_normal",',
        '    name="encoder_1_conv2d",',
        ")(features)  # (None, 14, 14, 32)",
    ]
    start = lines.index("features = layers.UpSampling2D(")
    assert lines[start + 1 : start + 3] == [
        '    size=2, interpolation="nearest", name="decoder_1_up_sampling2d"',
        ")(features)  # (None, 14, 14, 8)",
    ]


def test_invalid_spec_has_no_code() -> None:
    with pytest.raises(SpecError, match="Fix: set kernel_size=3 on decoder layer 3"):
        keras_code(set_argument(preset("seed"), "decoder", 2, "kernel_size", 4))


def test_build_page_modules_do_not_import_tensorflow() -> None:
    # A fresh interpreter: this test process may already hold TensorFlow from other tests.
    script = (
        "import sys\n"
        "import core.diagram, core.edits, core.keras_code, core.validation\n"
        "from core.presets import PRESETS\n"
        "for spec in PRESETS.values():\n"
        "    core.keras_code.keras_code(spec); core.diagram.flow_figure(core.diagram.shape_flow(spec))\n"
        "loaded = sorted(name for name in ('tensorflow', 'keras', 'streamlit') if name in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == ""


@pytest.fixture
def mnist_npz(verified_mnist: Any, tmp_path: Any) -> Any:
    """A small mnist.npz in Keras' own layout, from the verified MNIST: the script never needs the network."""
    import numpy as np

    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=verified_mnist.x_train[:400], y_train=np.zeros(400, dtype=np.uint8),
             x_test=verified_mnist.x_test[:200], y_test=np.zeros(200, dtype=np.uint8))  # fmt: skip
    return path


@pytest.mark.slow  # It trains: a Keras process per spec, 12 to 18 s each.
@pytest.mark.parametrize("name", ["seed-fast", "denoising", "output-padding", "added-layer"])
def test_training_script_trains_the_spec_for_one_small_epoch(
    keras: ModuleType, name: str, mnist_npz: Any, tmp_path: Any
) -> None:
    # The script runs alone, as a user would run it: a fresh interpreter in an empty directory, no studio on its path.
    spec = SPECS[name]
    script = tmp_path / "train.py"
    script.write_text(training_script(spec))
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run(
        [sys.executable, str(script), "--mnist", str(mnist_npz), "--epochs", "1", "--limit", "300",
         "--save", "model.keras"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert f"Parameters: {infer_shapes(spec).params}" in lines
    assert "Output shape: (None, 28, 28, 1)" in lines
    assert any(line.startswith("Test loss: ") for line in lines)
    assert ("Noisy test loss: " in result.stdout) == (spec.training.noise.kind != "none")
    trained = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert trained.count_params() == infer_shapes(spec).params
    assert tuple(trained.output.shape) == (None, 28, 28, 1)


def test_training_script_epochs_default_to_the_spec() -> None:
    code = training_script(preset("seed"))
    assert 'parser.add_argument("--epochs", type=int, default=25, help="epochs to train")' in code
    assert "keras.datasets.mnist.load_data()" in code
    assert "validation_split=0.2" in code
    ast.parse(code)


def test_a_name_cannot_end_the_docstring_and_become_code() -> None:
    spec = replace(preset("seed"), name='x"""\nimport os; os.system("echo hacked")\n"""')
    for code in (keras_code(spec), training_script(spec)):
        tree = ast.parse(code)
        assert not any(isinstance(node, ast.Import) and node.names[0].name == "os" for node in ast.walk(tree))
