"""Tests for core.batches: the batches a training worker feeds `fit`, made from uint8 images one at a time."""

from __future__ import annotations

import numpy as np
import pytest

from core.batches import ImageBatches, training_batches, validation_batches
from core.mnist import scale
from core.spec import NoiseSpec

NO_NOISE = NoiseSpec()
GAUSSIAN = NoiseSpec(kind="gaussian", amount=0.3)


@pytest.fixture
def images() -> np.ndarray:
    """250 distinct uint8 "images": image i is filled with i % 256, and its first pixel is i // 256."""
    numbers = np.arange(250)
    pictures = np.repeat((numbers % 256).astype(np.uint8)[:, None, None], 28, axis=1).repeat(28, axis=2)
    pictures[:, 0, 0] = numbers // 256
    return pictures


def identities(batch: np.ndarray) -> list[int]:
    """Which images of the fixture a scaled batch holds."""
    pixels = np.rint(batch[..., 0] * 255).astype(int)
    return list(pixels[:, 1, 1] + 256 * pixels[:, 0, 0])


def one_epoch(batches: ImageBatches) -> list[tuple[np.ndarray, np.ndarray]]:
    drawn = [batches[index] for index in range(batches.num_batches)]
    batches.on_epoch_end()
    return drawn


def test_training_batches_cover_every_image_once_an_epoch_in_a_new_order(images: np.ndarray) -> None:
    batches = training_batches(images, 100, NO_NOISE, seed=3)
    assert batches.num_batches == 3
    first, second = one_epoch(batches), one_epoch(batches)
    assert [len(inputs) for inputs, _ in first] == [100, 100, 50]
    first_order = [image for inputs, _ in first for image in identities(inputs)]
    second_order = [image for inputs, _ in second for image in identities(inputs)]
    assert sorted(first_order) == sorted(second_order) == list(range(250))
    assert first_order != second_order and first_order != list(range(250))


def test_batches_are_scaled_float32_with_a_channel_and_targets_equal_inputs_without_noise(images: np.ndarray) -> None:
    inputs, targets = training_batches(images, 100, NO_NOISE, seed=0)[0]
    assert inputs.shape == (100, 28, 28, 1) and inputs.dtype == np.float32
    assert inputs.min() >= 0 and inputs.max() <= 1
    assert targets is inputs


def test_the_same_seed_gives_the_same_batches_and_another_seed_others(images: np.ndarray) -> None:
    def inputs(seed: int) -> list[np.ndarray]:
        return [inputs for inputs, _ in one_epoch(training_batches(images, 100, GAUSSIAN, seed))]

    assert all(np.array_equal(a, b) for a, b in zip(inputs(1), inputs(1), strict=True))
    assert not np.array_equal(inputs(1)[0], inputs(2)[0])


def test_training_noise_is_fresh_every_epoch_and_targets_stay_clean(images: np.ndarray) -> None:
    batches = ImageBatches(images, 250, GAUSSIAN, seed=0, shuffle=False, fresh_noise=True)
    (first_inputs, first_targets), (second_inputs, _) = one_epoch(batches)[0], one_epoch(batches)[0]
    np.testing.assert_array_equal(first_targets, scale(images))
    assert not np.array_equal(first_inputs, first_targets)
    assert not np.array_equal(first_inputs, second_inputs)


def test_validation_batches_are_the_same_every_epoch(images: np.ndarray) -> None:
    batches = validation_batches(images, 100, GAUSSIAN, seed=0)
    first, second = one_epoch(batches), one_epoch(batches)
    for (first_inputs, first_targets), (second_inputs, second_targets) in zip(first, second, strict=True):
        np.testing.assert_array_equal(first_inputs, second_inputs)
        np.testing.assert_array_equal(first_targets, second_targets)
    assert identities(first[0][1]) == list(range(100))  # In their own order.


def test_no_validation_images_means_no_validation_batches(images: np.ndarray) -> None:
    assert validation_batches(images[:0], 100, NO_NOISE, seed=0) is None
    with pytest.raises(ValueError, match="Expected at least one image"):
        training_batches(images[:0], 100, NO_NOISE, seed=0)


def test_the_tensorflow_pipeline_gives_the_batches_keras_would_draw_epoch_after_epoch(images: np.ndarray) -> None:
    # Keras calls `on_epoch_end` before each epoch of a PyDataset, so epoch e (from 1) draws order e.
    pipeline = training_batches(images, 100, NO_NOISE, seed=3).tensorflow_dataset(epochs=2)
    drawn = [(np.asarray(inputs), np.asarray(targets)) for inputs, targets in pipeline]
    reference = training_batches(images, 100, NO_NOISE, seed=3)
    reference.on_epoch_end()
    expected = one_epoch(reference) + one_epoch(reference)
    assert len(drawn) == len(expected) == 6  # Two epochs of 100, 100 and 50 images, one after the other.
    for (inputs, targets), (expected_inputs, _) in zip(drawn, expected, strict=True):
        assert inputs.dtype == np.float32 and inputs.shape == expected_inputs.shape
        np.testing.assert_array_equal(inputs, expected_inputs)  # Scaled exactly as `core.mnist.scale` scales.
        np.testing.assert_array_equal(targets, inputs)
    assert identities(drawn[0][0]) != identities(drawn[3][0])  # A new order in the second epoch.


def test_the_tensorflow_pipeline_of_validation_batches_is_one_epoch_in_order(images: np.ndarray) -> None:
    pipeline = validation_batches(images, 100, NO_NOISE, seed=3).tensorflow_dataset(epochs=1)
    drawn = [np.asarray(inputs) for inputs, _ in pipeline]
    assert [identities(batch) for batch in drawn] == [list(range(0, 100)), list(range(100, 200)), list(range(200, 250))]


def test_noisy_validation_batches_through_tensorflow_are_the_pydatasets_to_the_bit(images: np.ndarray) -> None:
    batches = validation_batches(images, 100, GAUSSIAN, seed=3)
    drawn = [(np.asarray(inputs), np.asarray(targets)) for inputs, targets in batches.tensorflow_dataset(epochs=1)]
    expected = one_epoch(batches)
    assert len(drawn) == len(expected) == 3
    for (inputs, targets), (expected_inputs, expected_targets) in zip(drawn, expected, strict=True):
        np.testing.assert_array_equal(inputs, expected_inputs)
        np.testing.assert_array_equal(targets, expected_targets)
        assert not np.array_equal(inputs, targets)  # Noisy inputs, clean targets.


@pytest.mark.parametrize("noise", [NO_NOISE, GAUSSIAN], ids=["clean", "noisy"])
@pytest.mark.parametrize("shuffle", [True, False], ids=["training", "validation"])
def test_every_tensorflow_pipeline_runs_without_autotuning(images: np.ndarray, noise: NoiseSpec, shuffle: bool) -> None:
    # With tf.data's autotuning on, tearing down an iterator now and then waited out its autotuning thread's period
    # (up to 60 s): a run's last epoch was followed by 31-41 s of nothing (bench/iterator_teardown.py shows it).
    batches = ImageBatches(images, 100, noise, seed=3, shuffle=shuffle, fresh_noise=shuffle)
    assert batches.tensorflow_dataset(epochs=2).options().autotune.enabled is False


def fitted_weights(pipeline: bool, images: np.ndarray, noise: NoiseSpec) -> list[np.ndarray]:
    """The weights of a tiny model after 2 epochs of `fit`, on the tf.data pipelines or the `PyDataset`s.

    In the order `core.training` takes: the seed, the batches, the model, then `fit`.
    """
    import keras

    from core.training import _fit_data

    keras.utils.set_random_seed(0)
    train = training_batches(images, 60, noise, seed=3)  # 60, 60, 60, 60 and 10 images: the short batch is last.
    validation = validation_batches(images[:100], 50, noise, seed=3)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(2, 3, padding="same", activation="relu"),
                              keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")])  # fmt: skip
    model.compile(optimizer="adam", loss="binary_crossentropy")
    data = _fit_data(train, validation, 2, "tensorflow" if pipeline else "jax")  # "jax": the PyDatasets.
    assert isinstance(data["x"], ImageBatches) != pipeline
    model.fit(**data, epochs=2, verbose=0)
    return model.get_weights()


@pytest.mark.parametrize("noise", [NO_NOISE, GAUSSIAN], ids=["clean", "noisy"])
def test_fit_on_the_tensorflow_pipeline_trains_exactly_as_on_the_pydataset(
    images: np.ndarray, noise: NoiseSpec
) -> None:
    # The pipeline is only a faster road (no iterator torn down between epochs, where the PyDataset's stalled
    # 8 s an epoch in three): the same batches, noise and order each epoch, so the same weights to the bit.
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("Only `fit` on TensorFlow reads the tf.data pipeline (core.training._fit_data).")
    through_pipeline, through_pydataset = fitted_weights(True, images, noise), fitted_weights(False, images, noise)
    for trained, expected in zip(through_pipeline, through_pydataset, strict=True):
        np.testing.assert_array_equal(trained, expected)


def test_fit_takes_the_pydatasets_batches_in_their_order(images: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keras' adapter would shuffle the batches (fit's shuffle=True) and put the short one anywhere in an epoch; the
    # batches shuffle their images themselves, so `fit` takes them in order (core.training._fit_data).
    import keras

    from core.training import _fit_data

    asked: list[int] = []
    draw = ImageBatches.__getitem__
    monkeypatch.setattr(ImageBatches, "__getitem__", lambda self, index: asked.append(index) or draw(self, index))
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 3, padding="same")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(**_fit_data(training_batches(images, 60, GAUSSIAN, seed=3), None, 3, "jax"), epochs=3, verbose=0)
    assert asked[-15:] == [0, 1, 2, 3, 4] * 3  # After whatever Keras peeks at to learn the batches' shapes.


def test_evaluation_data_scores_as_the_arrays_do_without_autotuning(images: np.ndarray) -> None:
    import keras

    from core.batches import evaluation_data

    keras.utils.set_random_seed(0)
    output = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")
    model = keras.Sequential([keras.Input((28, 28, 1)), output])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    clean = scale(images)
    noisy = np.clip(clean + 0.3, 0, 1)
    pipeline = evaluation_data(noisy, clean, 100, "tensorflow")  # 250 images: the last batch holds 50.
    assert pipeline["x"].options().autotune.enabled is False
    expected = model.evaluate(noisy, clean, batch_size=100, verbose=0)
    assert model.evaluate(**pipeline, verbose=0) == pytest.approx(expected, rel=1e-6)
    assert evaluation_data(noisy, clean, 100, "jax") == {"x": noisy, "y": clean, "batch_size": 100}
