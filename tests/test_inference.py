"""Tests for core.inference: reconstructing (with a model or a remote one), per-image errors, one digit denoised,
rankings, paging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import inference, text
from core.drawing import to_mnist
from core.inference import LayerWeights, ModelFileError, RemoteModel, TestSetReport
from core.losses import reconstruction_floor, test_floor
from core.mnist import load_mnist, scale
from core.noise import add_noise
from core.runs import RunInfo
from tests.drawings import SEVEN, drawing


class HalvingModel:
    """Stands in for a Keras model: halves its input and records the size of every batch it is called with."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, images: np.ndarray, training: bool = False) -> np.ndarray:
        assert training is False
        self.batches.append(len(images))
        return images * 0.5


class RecordingWorker:
    """Stands in for an `InferenceWorker`: halves the images of each request, records it, or raises `error`."""

    def __init__(self, error: Exception | None = None) -> None:
        self.requests: list[tuple[Path, int, int]] = []
        self.error = error

    def reconstruct(self, path: Path, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        self.requests.append((path, len(images), batch_size))
        if self.error is not None:
            raise self.error
        return np.asarray(images, dtype=np.float32) * 0.5

    def feature_maps(self, path: Path, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
        self.requests.append((path, 1, 1))
        return [("output_conv2d", np.asarray(image, dtype=np.float32).reshape(28, 28, 1))]

    def weights(self, path: Path, layer: str) -> LayerWeights:
        self.requests.append((path, 0, 0))
        if self.error is not None:
            raise self.error
        return LayerWeights(layer, "Conv2D", np.ones((3, 3, 1, 2), np.float32), np.zeros(2, np.float32))


RUN = RunInfo("a-run", Path("/store/a-run"), "running", "a run")


@pytest.fixture(scope="module")
def small_report() -> TestSetReport:
    """A report over 12 random images with labels 0-9, 0, 1."""
    generator = np.random.default_rng(0)
    images = generator.random((12, 28, 28, 1), dtype=np.float32)
    reconstructions = generator.random((12, 28, 28, 1), dtype=np.float32)
    errors = inference.per_image_errors(images, reconstructions)
    labels = np.array([*range(10), 0, 1], dtype=np.uint8)
    return TestSetReport(images, reconstructions, labels, errors["bce"], errors["mse"])


def test_reconstruct_calls_the_model_in_chunks_and_adds_the_channel_axis() -> None:
    model = HalvingModel()
    images = np.random.default_rng(0).random((25, 28, 28), dtype=np.float32)
    reconstructions = inference.reconstruct(model, images, batch_size=10)
    assert model.batches == [10, 10, 5]
    assert reconstructions.shape == (25, 28, 28, 1) and reconstructions.dtype == np.float32
    np.testing.assert_allclose(reconstructions[..., 0], images * 0.5)


def test_reconstruct_of_no_images_is_empty() -> None:
    assert inference.reconstruct(HalvingModel(), np.zeros((0, 28, 28, 1))).shape == (0, 28, 28, 1)


def test_reconstruct_matches_keras_predict() -> None:
    from core.model import build_model
    from core.presets import preset

    model = build_model(preset("strided"), compile=False)
    images = scale(load_mnist().x_test[:64])
    np.testing.assert_allclose(
        inference.reconstruct(model, images, batch_size=32),
        model.predict(images, batch_size=32, verbose=0),
        atol=1e-5,
    )


def test_reconstruct_sends_a_remote_model_all_images_in_one_request() -> None:
    # One request is answered by one version of the model file, even while a training run rewrites it.
    worker = RecordingWorker()
    images = np.random.default_rng(0).random((25, 28, 28), dtype=np.float32)
    reconstructions = inference.reconstruct(RemoteModel(worker, RUN), images, batch_size=10)
    assert worker.requests == [(Path("/store/a-run/model.keras"), 25, 10)]
    np.testing.assert_allclose(reconstructions[..., 0], images * 0.5)


def test_evaluate_test_set_through_a_remote_model() -> None:
    worker = RecordingWorker()
    report = inference.evaluate_test_set(RemoteModel(worker, RUN))
    assert [count for _, count, _ in worker.requests] == [10_000]
    np.testing.assert_allclose(report.reconstructions, scale(load_mnist().x_test) * 0.5)


def test_feature_maps_of_a_remote_model_come_from_its_worker() -> None:
    worker = RecordingWorker()
    maps = inference.feature_maps(RemoteModel(worker, RUN), np.ones((28, 28)))
    assert [name for name, _ in maps] == ["output_conv2d"] and len(worker.requests) == 1


def test_layer_weights_of_a_remote_model_come_from_its_worker() -> None:
    worker = RecordingWorker()
    weights = inference.layer_weights(RemoteModel(worker, RUN), "encoder_1_conv2d")
    assert weights.layer == "encoder_1_conv2d" and weights.has_weights and weights.kernel.shape == (3, 3, 1, 2)
    assert worker.requests == [(RUN.path / "model.keras", 0, 0)]
    assert not LayerWeights("decoder_1_up_sampling2d", "UpSampling2D", None, None).has_weights


def test_a_remote_model_refuses_to_train() -> None:
    with pytest.raises(ValueError) as raised:
        RemoteModel(RecordingWorker(), RUN)(np.zeros((1, 28, 28, 1)), training=True)
    assert str(raised.value) == (
        "Invalid value for argument `training`. Expected False: the model worker only runs inference. "
        "Received training=True."
    )


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (None, "Run 'a-run' has no saved model yet (status: running)."),
        ("Not a zip file", "The model file of run 'a-run' cannot be read: Not a zip file"),
    ],
)
def test_model_file_errors_of_a_remote_model_name_the_run(reason: str | None, message: str) -> None:
    path = RUN.path / "model.keras"
    worker = RecordingWorker(ModelFileError(f"The model file {path} cannot be read: {reason}", path, reason))
    for call in (lambda: RemoteModel(worker, RUN)(np.zeros((1, 28, 28, 1))),
                 lambda: RemoteModel(worker, RUN).weights("encoder_1_conv2d")):  # fmt: skip
        with pytest.raises(ModelFileError) as raised:
            call()
        assert str(raised.value) == message
        assert raised.value.path == path and raised.value.reason == reason


@pytest.mark.parametrize(
    ("code", "description"),
    [(-9, "killed by signal 9 (SIGKILL)"), (-11, "killed by signal 11 (SIGSEGV)"), (1, "exit code 1"),
     (None, "no exit code")],
)  # fmt: skip
def test_describe_exit(code: int | None, description: str) -> None:
    assert text.describe_exit(code) == description


def test_per_image_errors_average_each_image_as_keras_does() -> None:
    targets = np.array([[0.0, 1.0, 0.5, 0.25]]).reshape(1, 2, 2, 1)
    predictions = np.array([[0.1, 0.8, 0.5, 0.0]]).reshape(1, 2, 2, 1)
    errors = inference.per_image_errors(targets, predictions)
    clipped = np.clip([0.1, 0.8, 0.5, 0.0], 1e-7, 1 - 1e-7)
    expected_bce = -np.mean(
        [0 * np.log(c) + 1 * np.log(1 - c) if t == 0 else t * np.log(c) + (1 - t) * np.log(1 - c)
         for t, c in zip([0.0, 1.0, 0.5, 0.25], clipped, strict=True)]
    )  # fmt: skip
    assert errors["bce"] == pytest.approx([expected_bce])
    assert errors["mse"] == pytest.approx([np.mean(np.square([0.1, 0.2, 0.0, 0.25]))])


def test_bce_floors_are_each_images_reconstruction_floor(small_report: TestSetReport) -> None:
    expected = [reconstruction_floor("binary_crossentropy", image) for image in small_report.images]
    np.testing.assert_allclose(small_report.bce_floors, expected, rtol=1e-9)
    np.testing.assert_array_equal(small_report.floors("mse"), np.zeros(12))
    assert (small_report.bce >= small_report.bce_floors - 1e-12).all()


def test_class_means_and_floors_average_each_digit(small_report: TestSetReport) -> None:
    means, floors = small_report.class_means("bce"), small_report.class_floors("bce")
    assert means[0] == pytest.approx((small_report.bce[0] + small_report.bce[10]) / 2)
    assert means[5] == pytest.approx(small_report.bce[5])
    assert floors[1] == pytest.approx((small_report.bce_floors[1] + small_report.bce_floors[11]) / 2)
    np.testing.assert_array_equal(small_report.class_floors("mse"), np.zeros(10))


def test_evaluate_test_set_reconstructs_all_10000_images() -> None:
    model = HalvingModel()
    report = inference.evaluate_test_set(model)
    images = scale(load_mnist().x_test)
    assert model.batches == [1000] * 10
    assert report.inputs is None
    np.testing.assert_allclose(report.reconstructions, images * 0.5)
    assert report.labels.shape == report.bce.shape == report.mse.shape == (10_000,)
    np.testing.assert_allclose(report.mse, ((images * 0.5) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    assert report.bce_floors.mean() == pytest.approx(test_floor("binary_crossentropy"))


def test_evaluate_test_set_with_noise_feeds_noisy_inputs_and_measures_against_clean_images() -> None:
    report = inference.evaluate_test_set(HalvingModel(), noise_kind="gaussian", noise_amount=0.4, seed=7)
    images = scale(load_mnist().x_test)
    expected_inputs = add_noise(images, "gaussian", 0.4, seed=7)
    np.testing.assert_array_equal(report.inputs, expected_inputs)
    np.testing.assert_allclose(report.reconstructions, expected_inputs * 0.5)
    np.testing.assert_array_equal(report.images, images)
    np.testing.assert_allclose(report.mse, ((images - expected_inputs * 0.5) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_evaluate_test_set_refuses_an_unknown_noise_kind() -> None:
    with pytest.raises(ValueError, match="Invalid value for argument `kind`"):
        inference.evaluate_test_set(HalvingModel(), noise_kind="fog", noise_amount=0.1)


def identity_model(images: np.ndarray, training: bool = False) -> np.ndarray:
    return images


@pytest.mark.parametrize("kind", ["none", "gaussian", "salt_pepper", "block"])
def test_denoise_reports_the_noisy_input_output_and_error(kind: str) -> None:
    clean = to_mnist(drawing(SEVEN))
    result = inference.denoise(identity_model, clean, kind, 0.3, seed=1)
    assert result.clean.shape == result.noisy.shape == result.output.shape == result.error.shape == (28, 28)
    np.testing.assert_array_equal(result.output, result.noisy)  # The identity model returns its input.
    np.testing.assert_allclose(result.error, np.abs(result.noisy - clean))
    assert result.mse == pytest.approx(float(((result.noisy - clean) ** 2).mean()), rel=1e-5)
    assert (result.mse == 0) == (kind == "none")
    again = inference.denoise(identity_model, clean, kind, 0.3, seed=1)
    np.testing.assert_array_equal(again.noisy, result.noisy)  # The seed fixes the noise.


def test_denoise_refuses_an_image_that_is_not_28_by_28() -> None:
    with pytest.raises(ValueError, match=r"Expected \(28, 28\) or \(28, 28, 1\)\. Received shape=\(280, 280\)\."):
        inference.denoise(identity_model, np.zeros((280, 280)))


ERRORS = np.array([0.3, 0.1, 0.5, 0.2, 0.5, 0.4])
LABELS = np.array([1, 3, 3, 1, 0, 3])


@pytest.mark.parametrize(
    ("order", "digit", "expected"),
    [
        ("worst", None, [4, 2, 5, 0, 3, 1]),  # Ties keep test order, reversed along with the rest.
        ("best", None, [1, 3, 0, 5, 2, 4]),
        ("index", None, [0, 1, 2, 3, 4, 5]),
        ("worst", 3, [2, 5, 1]),
        ("best", 1, [3, 0]),
        ("index", 3, [1, 2, 5]),
        ("worst", 7, []),
    ],
)
def test_rank_images(order: str, digit: int | None, expected: list[int]) -> None:
    assert inference.rank_images(ERRORS, LABELS, order, digit).tolist() == expected


@pytest.mark.parametrize(
    ("order", "digit", "message"),
    [
        ("random", None, "Expected one of ['worst', 'best', 'index']. Received order='random'."),
        ("worst", 10, "Expected an integer from 0 to 9. Received digit=10."),
    ],
)
def test_rank_images_refuses_unknown_orders_and_digits(order: str, digit: int, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        inference.rank_images(ERRORS, LABELS, order, digit)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("total", "per_page", "pages"), [(0, 16, 1), (1, 16, 1), (16, 16, 1), (17, 16, 2), (10_000, 64, 157)]
)
def test_page_count(total: int, per_page: int, pages: int) -> None:
    assert inference.page_count(total, per_page) == pages


@pytest.mark.parametrize(
    ("page", "expected"), [(1, [0, 1, 2, 3]), (2, [4, 5, 6, 7]), (3, [8, 9])]
)  # fmt: skip
def test_page_of(page: int, expected: list[int]) -> None:
    assert inference.page_of(np.arange(10), page, 4).tolist() == expected


@pytest.mark.parametrize(
    ("page", "per_page", "message"),
    [
        (4, 4, "Invalid value for argument `page`. Expected a page from 1 to 3. Received 4."),
        (0, 4, "Expected a page from 1 to 3. Received 0."),
        (1, 0, "Invalid value for argument `per_page`. Expected a positive integer. Received 0."),
    ],
)
def test_page_of_refuses_pages_that_do_not_exist(page: int, per_page: int, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        inference.page_of(np.arange(10), page, per_page)
    assert message in str(raised.value)


def test_worst_rank_counts_larger_errors_and_shares_ties() -> None:
    assert [inference.worst_rank(ERRORS, index) for index in range(6)] == [4, 6, 1, 5, 1, 3]
