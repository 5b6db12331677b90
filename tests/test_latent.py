"""Tests for core.latent (the sample, the PCA, interpolation, the code's size, the map) and for encoding and
decoding through the inference worker (`core.serving`'s "encode" and "decode", `core.model.latent_models`).

The PCA is checked against a direct eigen-decomposition of the covariance; the code sizes against the shapes of
Keras' own encoders; the worker's codes against Keras called in this process on the same model file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from core import latent, runs
from core.inference import InferenceError, InferenceWorker, decode, encode, reconstruct
from core.mnist import load_mnist, scale
from core.model import build_model, latent_models, make_layer
from core.presets import preset
from core.runs import RunInfo
from core.shapes import infer_shapes
from core.spec import INPUT_SHAPE, layer_name

# --- The sample -----------------------------------------------------------------------------------------------


def test_the_sample_is_sorted_distinct_and_the_same_every_time() -> None:
    indices = latent.sample_indices()
    assert len(indices) == latent.SAMPLE_SIZE == 2_000
    assert np.all(np.diff(indices) > 0) and indices[0] >= 0 and indices[-1] < 10_000
    np.testing.assert_array_equal(indices, latent.sample_indices())
    assert not np.array_equal(latent.sample_indices(seed=1), indices)


def test_the_sample_holds_every_digit(verified_mnist) -> None:
    counts = np.bincount(verified_mnist.y_test[latent.sample_indices()], minlength=10)
    assert counts.sum() == 2_000 and counts.min() > 150  # About 200 of each, as the test set's shares go.


@pytest.mark.parametrize("size", [0, 10_001])
def test_a_sample_larger_than_the_test_set_or_empty_is_refused(size: int) -> None:
    with pytest.raises(ValueError) as raised:
        latent.sample_indices(size)
    assert str(raised.value) == (
        f"Invalid value for argument `size`. Expected an integer from 1 to 10000. Received size={size}."
    )


# --- PCA ------------------------------------------------------------------------------------------------------


def _covariance_reference(data: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The covariance's leading eigenvectors (signed as `core.latent` signs them), their eigenvalues, its trace."""
    covariance = np.cov(data, rowvar=False)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1][:components]
    vectors = eigenvectors[:, order].T
    for vector in vectors:
        vector *= np.sign(vector[np.argmax(np.abs(vector))])
    return vectors, eigenvalues[order], float(np.trace(covariance))


def _codes(count: int, size: int, seed: int = 0) -> np.ndarray:
    # Codes with a few strong directions over weak noise, as an encoder's are, shaped (n, height, width, channels).
    generator = np.random.default_rng(seed)
    strong = generator.standard_normal((count, 5)) * np.array([9.0, 6.0, 4.0, 3.0, 2.0])
    data = strong @ generator.standard_normal((5, size)) + 0.5 * generator.standard_normal((count, size)) + 3.0
    return data.reshape(count, size // 4, 2, 2).astype(np.float32)


@pytest.mark.parametrize(("count", "size"), [(400, 60), (80, 400)], ids=["more-codes-than-values", "wide"])
def test_pca_agrees_with_the_covariance_eigen_decomposition(count: int, size: int) -> None:
    codes = _codes(count, size)
    projection = latent.pca(codes, components=3)
    vectors, eigenvalues, trace = _covariance_reference(codes.reshape(count, -1).astype(np.float64), 3)
    np.testing.assert_allclose(projection.components, vectors, atol=1e-8)
    np.testing.assert_allclose(projection.variances, eigenvalues, rtol=1e-9)
    assert projection.total_variance == pytest.approx(trace, rel=1e-9)
    np.testing.assert_allclose(projection.explained, eigenvalues / trace, rtol=1e-9)
    np.testing.assert_allclose(projection.mean, codes.reshape(count, -1).astype(np.float64).mean(axis=0), rtol=1e-12)
    coordinates = projection.project(codes)
    np.testing.assert_allclose(coordinates, (codes.reshape(count, -1) - projection.mean) @ vectors.T, atol=1e-6)
    np.testing.assert_allclose(coordinates.var(axis=0, ddof=1), eigenvalues, rtol=1e-9)


def test_the_sign_convention_keeps_the_map_from_mirroring() -> None:
    codes = _codes(300, 80)
    projection = latent.pca(codes)
    # The same codes in another order, or negated (the same covariance), give the same directions.
    np.testing.assert_allclose(latent.pca(codes[::-1]).components, projection.components, atol=1e-10)
    np.testing.assert_allclose(latent.pca(-codes).components, projection.components, atol=1e-10)
    for component in projection.components:
        assert component[np.argmax(np.abs(component))] > 0
    np.testing.assert_allclose(np.linalg.norm(projection.components, axis=1), 1.0)


@pytest.mark.parametrize(
    ("codes", "components", "message"),
    [
        (np.zeros((1, 4, 4, 2)), 2, "Invalid value for argument `codes`. Expected at least 2 codes. Received 1."),
        (np.zeros((3, 1, 1, 2)), 3, "Invalid value for argument `components`. Expected an integer from 1 to 2. "
                                    "Received components=3."),
    ],
)  # fmt: skip
def test_pca_refuses_too_few_codes_or_too_many_components(codes: np.ndarray, components: int, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        latent.pca(codes, components)
    assert str(raised.value) == message


def test_constant_codes_vary_along_no_direction() -> None:
    projection = latent.pca(np.ones((5, 3, 3, 2)))
    assert projection.total_variance == 0.0
    np.testing.assert_array_equal(projection.explained, [0.0, 0.0])


def test_projecting_codes_of_another_size_is_refused() -> None:
    projection = latent.pca(_codes(50, 40))
    with pytest.raises(ValueError, match=r"Expected codes of 40 values. Received shape=\(2, 7, 7, 8\)."):
        projection.project(np.zeros((2, 7, 7, 8)))


# --- Interpolation ----------------------------------------------------------------------------------------------


def test_interpolation_starts_and_ends_at_the_two_codes_exactly() -> None:
    generator = np.random.default_rng(1)
    start, end = generator.standard_normal((2, 22, 22, 8)).astype(np.float32)
    for steps in (2, 3, 8, 12):
        codes = latent.interpolate(start, end, steps)
        assert codes.shape == (steps, 22, 22, 8) and codes.dtype == np.float32
        np.testing.assert_array_equal(codes[0], start)
        np.testing.assert_array_equal(codes[-1], end)
    middle = latent.interpolate(start, end, 3)[1]
    np.testing.assert_allclose(middle, (start + end) / 2, atol=1e-6)
    steps = np.diff(latent.interpolate(start, end, 5), axis=0)  # Evenly spaced: every step is the same.
    np.testing.assert_allclose(steps, np.broadcast_to((end - start) / 4, steps.shape), atol=1e-5)


def test_interpolation_refuses_codes_of_two_shapes_and_fewer_than_two_steps() -> None:
    with pytest.raises(ValueError) as raised:
        latent.interpolate(np.zeros((22, 22, 8)), np.zeros((7, 7, 8)), 5)
    assert str(raised.value) == (
        "Invalid value for argument `end`. Expected a code of the shape of `start`, (22, 22, 8). "
        "Received shape=(7, 7, 8)."
    )
    for steps in (1, 2.5, True):
        with pytest.raises(ValueError, match="Invalid value for argument `steps`. Expected an integer >= 2."):
            latent.interpolate(np.zeros(3), np.ones(3), steps)


def test_strip_titles_say_how_far_along_each_code_is() -> None:
    assert latent.strip_titles(5) == ["A", "0.25", "0.50", "0.75", "B"]
    assert latent.strip_titles(2) == ["A", "B"]


# --- The code's size --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset_name", ["seed", "strided"])
def test_the_code_shapes_are_the_shapes_of_keras_encoders(preset_name: str) -> None:
    encoder = build_model(preset(preset_name), compile=False).get_layer("encoder")
    assert infer_shapes(preset(preset_name)).bottleneck_shape == tuple(encoder.output.shape[1:])


def test_the_seed_code_does_not_compress_and_the_strided_code_does() -> None:
    seed = latent.CodeSize(infer_shapes(preset("seed")).bottleneck_shape)
    assert (seed.shape, seed.values, seed.compresses) == ((22, 22, 8), 3_872, False)
    assert seed.ratio == 3_872 / 784
    assert seed.headline() == "3,872 values for 784 pixels: this bottleneck does not compress"
    assert seed.verdict().startswith(
        "3,872 values for 784 pixels: this bottleneck does not compress. The code is 22x22x8, 4.9 times as many "
        "values as the image has pixels"
    )
    strided = latent.contrast_size()
    assert (strided.shape, strided.values, strided.ratio, strided.compresses) == ((7, 7, 8), 392, 0.5, True)
    assert strided.verdict().startswith(
        "392 values for 784 pixels: this bottleneck compresses. The code is 7x7x8, 0.50 of the image's size "
        "(2.0 pixels per value)"
    )
    same = latent.CodeSize((28, 28, 1))
    assert not same.compresses and same.verdict() == (
        "784 values for 784 pixels: this bottleneck does not compress. The code is 28x28x1, exactly as many values "
        "as the image has pixels."
    )


def _run(run_id: str, preset_name: str | None) -> RunInfo:
    spec = None if preset_name is None else preset(preset_name)
    return RunInfo(run_id, Path("/nowhere") / run_id, "completed", run_id, spec=spec)


def test_the_contrast_run_is_the_newest_strided_run_else_one_with_its_encoder() -> None:
    newest_first = [_run("4", "seed"), _run("3", "upsampling"), _run("2", "strided"), _run("1", "strided")]
    assert latent.contrast_run(newest_first).run_id == "2"
    assert latent.contrast_run([_run("5", None), _run("4", "seed"), _run("3", "upsampling")]).run_id == "3"
    assert latent.contrast_run([_run("4", "seed"), _run("5", None)]) is None


# --- The map ----------------------------------------------------------------------------------------------------


def test_picked_indices_are_the_test_indices_of_the_selected_digits() -> None:
    points = [
        {"curve_number": 3, "point_index": 9, "customdata": 512},
        {"curve_number": 0, "point_index": 2, "customdata": [17]},
        {"curve_number": 10, "point_index": 0},  # A mark: no test index.
        {"curve_number": 3, "point_index": 9, "customdata": 512.0},  # The same point twice (a box and a lasso).
    ]
    assert latent.picked_indices(points) == [512, 17]
    assert latent.picked_indices([]) == []


def test_the_map_has_a_trace_per_digit_holding_its_test_indices_then_the_marks() -> None:
    labels = np.array([3, 1, 3, 0, 9, 1])
    indices = np.array([10, 11, 12, 13, 14, 15])
    coordinates = np.arange(12, dtype=float).reshape(6, 2)
    projection = latent.Projection(np.zeros(4), np.eye(2, 4), np.array([3.0, 1.0]), 10.0)
    figure = latent.map_figure(coordinates, labels, indices, projection, [("A", 1.0, 2.0), ("B", -1.0, 0.5)])
    assert [trace.name for trace in figure.data] == [*map(str, range(10)), "A, B"]
    assert list(figure.data[3].customdata) == [10, 12] and list(figure.data[3].x) == [0.0, 4.0]
    assert list(figure.data[1].customdata) == [11, 15] and list(figure.data[1].y) == [3.0, 11.0]
    assert len(figure.data[5].x) == 0
    assert list(figure.data[10].text) == ["A", "B"] and list(figure.data[10].x) == [1.0, -1.0]
    assert figure.layout.xaxis.title.text == "PC1 (30.0% of the variance)"
    assert figure.layout.yaxis.title.text == "PC2 (10.0% of the variance)"
    assert len({trace.marker.color for trace in figure.data[:10]}) == 10


# --- Encoding and decoding in the inference worker ------------------------------------------------------------


@pytest.fixture(scope="module")
def worker() -> Iterator[InferenceWorker]:
    with InferenceWorker() as client:
        yield client


@pytest.fixture(scope="module")
def shipped() -> tuple[Path, keras.Model]:
    """The shipped seed-fast run's model file, and its model loaded here by Keras."""
    path = next(runs.PRETRAINED_DIR.glob("*-seed-fast")) / "model.keras"
    return path, keras.saving.load_model(path, compile=False)


@pytest.fixture(scope="module")
def test_images() -> np.ndarray:
    """1,500 test images: the worker encodes them in two batches of 1,000 and 500."""
    return scale(load_mnist().x_test[:1500])


@pytest.mark.slow
def test_decoding_the_codes_gives_the_models_output(
    worker: InferenceWorker, shipped: tuple[Path, keras.Model], test_images: np.ndarray
) -> None:
    path, model = shipped
    codes = worker.encode(path, test_images)
    assert codes.shape == (1500, 22, 22, 8) and codes.dtype == np.float32
    as_array = keras.ops.convert_to_numpy  # Not np.asarray: PyTorch's tensors that require grad refuse it.
    np.testing.assert_allclose(codes, as_array(model.get_layer("encoder")(test_images, training=False)), atol=1e-5)
    outputs = worker.decode(path, codes)
    assert outputs.shape == (1500, 28, 28, 1) and outputs.dtype == np.float32
    np.testing.assert_allclose(outputs, as_array(model(test_images, training=False)), atol=1e-5)
    np.testing.assert_allclose(outputs, worker.reconstruct(path, test_images), atol=1e-5)
    run = runs.read_run(path.parent, read_only=True)
    remote = worker.model(run)  # The page's way: through a RemoteModel, with core.inference's functions.
    np.testing.assert_allclose(decode(remote, encode(remote, test_images[:3])), outputs[:3], atol=1e-5)


@pytest.mark.slow
def test_the_map_of_the_shipped_model_is_the_pca_of_its_keras_codes(
    worker: InferenceWorker, shipped: tuple[Path, keras.Model], verified_mnist
) -> None:
    path, model = shipped
    remote = worker.model(runs.read_run(path.parent, read_only=True))
    code_map = latent.code_map(remote, verified_mnist.x_test, verified_mnist.y_test)
    indices = latent.sample_indices()
    keras_codes = model.get_layer("encoder")(scale(verified_mnist.x_test[indices]), training=False)
    keras_codes = keras.ops.convert_to_numpy(keras_codes)  # Not np.asarray: PyTorch's tensors that require grad.
    assert code_map.code_shape == keras_codes.shape[1:] == (22, 22, 8)
    np.testing.assert_array_equal(code_map.indices, indices)
    np.testing.assert_array_equal(code_map.labels, verified_mnist.y_test[indices])
    projection = latent.pca(keras_codes)
    np.testing.assert_allclose(code_map.coordinates, projection.project(keras_codes), atol=1e-3)
    np.testing.assert_allclose(code_map.projection.explained, projection.explained, rtol=1e-5)
    # The randomized PCA against an exact eigen-decomposition on real codes: the covariance of 3,872 values has the
    # nonzero eigenvalues of the (codes x codes) Gram matrix, whose eigenvectors give its own.
    vectors = latent.flatten(keras_codes[:600])
    centred = vectors - vectors.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)
    order = np.argsort(eigenvalues)[::-1][:2]
    exact = (centred.T @ eigenvectors[:, order] / np.sqrt(eigenvalues[order])).T
    exact *= np.sign(exact[np.arange(2), np.argmax(np.abs(exact), axis=1)])[:, np.newaxis]
    subset = latent.pca(keras_codes[:600])
    np.testing.assert_allclose(subset.components, exact, atol=1e-6)
    np.testing.assert_allclose(subset.variances, eigenvalues[order] / 599, rtol=1e-8)


def _flat_model(shipped_model: keras.Model) -> keras.Sequential:
    """The shipped model's layers in one Sequential chain, named as `core.spec` names them, with its weights."""
    spec = preset("seed-fast")
    layers = [make_layer(layer, layer_name(part, index, layer)) for part, index, layer in spec.layers()]
    flat = keras.Sequential([keras.Input(INPUT_SHAPE), *layers])
    originals = [*shipped_model.get_layer("encoder").layers[1:], *shipped_model.get_layer("decoder").layers[1:]]
    for layer, original in zip(layers, originals, strict=True):
        layer.set_weights(original.get_weights())
    return flat


@pytest.mark.slow
def test_a_flat_chain_of_layers_is_cut_after_its_last_encoder_layer(
    worker: InferenceWorker, shipped: tuple[Path, keras.Model], test_images: np.ndarray, tmp_path: Path
) -> None:
    _, model = shipped
    flat = _flat_model(model)
    encoder, decoder = latent_models(flat)
    assert encoder.output.shape[1:] == (22, 22, 8) and tuple(decoder.input_shape[1:]) == (22, 22, 8)
    flat.save(tmp_path / "model.keras")
    images = test_images[:20]
    codes = worker.encode(tmp_path / "model.keras", images)
    as_array = keras.ops.convert_to_numpy  # Not np.asarray: PyTorch's tensors that require grad refuse it.
    np.testing.assert_allclose(codes, as_array(model.get_layer("encoder")(images, training=False)), atol=1e-5)
    np.testing.assert_allclose(worker.decode(tmp_path / "model.keras", codes), as_array(model(images)), atol=1e-5)
    assert reconstruct(flat, images).shape == (20, 28, 28, 1)


@pytest.mark.slow
def test_a_model_without_a_bottleneck_to_cut_at_is_refused_with_the_reason(
    worker: InferenceWorker, tmp_path: Path, test_images: np.ndarray
) -> None:
    image = keras.Input(INPUT_SHAPE)
    plain = keras.Model(image, keras.layers.Conv2D(1, 3, padding="same", name="smooth")(image))
    plain.save(tmp_path / "plain.keras")
    with pytest.raises(InferenceError) as raised:
        worker.encode(tmp_path / "plain.keras", test_images[:1])
    assert str(raised.value).startswith(
        "The model worker could not answer: ValueError: Invalid value for argument `model`. Expected an autoencoder "
        "with `encoder` and `decoder` sub-models, or a chain of layers whose encoder layers are named"
    )
    # A skip connection around the bottleneck: the layers called one after the other are not the model.
    features = keras.layers.Conv2D(4, 3, padding="same", name="encoder_1_conv2d")(image)
    features = keras.layers.Conv2D(1, 3, padding="same", name="decoder_1_conv2d")(features)
    skipping = keras.Model(image, keras.layers.Add(name="output_add")([features, image]))
    skipping.save(tmp_path / "skipping.keras")
    with pytest.raises(InferenceError, match="it branches or skips around them"):
        worker.decode(tmp_path / "skipping.keras", np.zeros((1, 28, 28, 4)))
    shipped_file = next(runs.PRETRAINED_DIR.glob("*-seed-fast")) / "model.keras"
    assert worker.encode(shipped_file, test_images[:1]).shape == (1, 22, 22, 8)  # The worker carries on.


@pytest.mark.slow
def test_codes_of_another_shape_are_refused_by_the_worker(
    worker: InferenceWorker, shipped: tuple[Path, keras.Model]
) -> None:
    path, _ = shipped
    with pytest.raises(InferenceError) as raised:
        worker.decode(path, np.zeros((1, 7, 7, 8)))
    assert str(raised.value) == (
        "The model worker could not answer: ValueError: Invalid shape for argument `codes`. Expected (n, 22, 22, 8), "
        "this model's code shape. Received shape=(1, 7, 7, 8)."
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda worker: worker.encode("model.keras", np.zeros((0, 28, 28))), "Invalid shape for argument `images`."),
        (lambda worker: worker.encode("model.keras", np.zeros((2, 7, 7))), "Invalid shape for argument `images`."),
        (lambda worker: worker.decode("model.keras", np.zeros((7, 7, 8))), "Invalid shape for argument `codes`."),
        (lambda worker: worker.decode("model.keras", np.zeros((1, 7, 7, 8)), 0), "argument `batch_size`"),
    ],
)
def test_bad_requests_are_refused_before_a_worker_starts(call, message: str) -> None:
    worker = InferenceWorker()
    with pytest.raises(ValueError) as raised:
        call(worker)
    assert message in str(raised.value)
    assert worker.pid is None
