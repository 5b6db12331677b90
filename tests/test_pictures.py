"""Tests for core.pictures: grid cells for the screen and the grid PNG."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core import pictures
from core.pixels import panel_labels

SIDE = 28 * pictures.ZOOM


def test_gray_rgb_maps_zero_to_black_and_one_to_white() -> None:
    image = np.array([[0.0, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(pictures.gray_rgb(image), [[[0, 0, 0], [1, 1, 1]]])


def test_difference_rgb_is_dark_where_equal_blue_where_ink_is_missing_and_red_where_added() -> None:
    original = np.array([[0.5, 1.0, 0.0]], dtype=np.float32)
    reconstruction = np.array([[0.5, 0.0, 1.0]], dtype=np.float32)
    equal, missing, added = pictures.difference_rgb(original, reconstruction)[0]
    assert equal.max() < 0.15
    assert missing[2] > missing[0] and missing[2] > 0.9
    assert added[0] > added[2] and added[0] > 0.9


@pytest.mark.parametrize(
    ("noisy", "show_difference", "labels"),
    [
        (False, False, ["Original", "Reconstruction"]),
        (False, True, ["Original", "Reconstruction", "Difference"]),
        (True, False, ["Original", "Noisy input", "Reconstruction"]),
        (True, True, ["Original", "Noisy input", "Reconstruction", "Difference"]),
    ],
)
def test_cell_image_stacks_the_panels_that_panel_labels_names(
    random_pairs: tuple[np.ndarray, np.ndarray], noisy: bool, show_difference: bool, labels: list[str]
) -> None:
    originals, reconstructions = random_pairs
    cell = pictures.cell_image(originals[0], reconstructions[0], originals[1] if noisy else None, show_difference)
    assert panel_labels(noisy, show_difference) == labels
    rows = len(labels)
    assert cell.shape == (rows * SIDE + (rows - 1) * pictures.GAP, SIDE, 3)
    assert cell.dtype == np.uint8
    # The original comes first, each pixel enlarged to a ZOOM x ZOOM square, and the gap below it is white.
    expected = np.round(np.kron(originals[0][..., 0], np.ones((pictures.ZOOM, pictures.ZOOM))) * 255)
    np.testing.assert_allclose(cell[:SIDE, :, 0], expected, atol=1)
    assert (cell[SIDE : SIDE + pictures.GAP] == 255).all()


def test_cell_image_refuses_a_zoom_below_one(random_pairs: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ValueError, match=r"Expected a positive integer. Received zoom=0."):
        pictures.cell_image(random_pairs[0][0], random_pairs[1][0], zoom=0)


@pytest.mark.parametrize(
    ("count", "noisy", "show_difference", "titles"),
    [(1, False, True, True), (16, False, False, True), (17, True, True, False), (8, True, False, True)],
)
def test_grid_png_is_a_png_of_the_size_grid_size_gives(
    random_pairs: tuple[np.ndarray, np.ndarray], count: int, noisy: bool, show_difference: bool, titles: bool
) -> None:
    originals, reconstructions = random_pairs[0][:count], random_pairs[1][:count]
    png = pictures.grid_png(
        originals,
        reconstructions,
        originals[::-1] if noisy else None,
        show_difference,
        [f"#{index}\nBCE 0.1" for index in range(count)] if titles else None,
    )
    assert png.startswith(pictures.PNG_SIGNATURE)
    rows = len(panel_labels(noisy, show_difference))
    assert pictures.png_size(png) == pictures.grid_size(count, rows, 16, titles, show_difference)
    assert Image.open(io.BytesIO(png)).size == pictures.png_size(png)


def test_grid_png_draws_originals_in_the_first_row_and_reconstructions_below(
    random_pairs: tuple[np.ndarray, np.ndarray],
) -> None:
    originals, reconstructions = random_pairs[0][:3], random_pairs[1][:3]
    pixels = np.asarray(Image.open(io.BytesIO(pictures.grid_png(originals, reconstructions))).convert("L"))
    left = pictures._MARGIN + pictures._LABEL_WIDTH
    top = pictures._MARGIN
    for row, images in enumerate((originals, reconstructions)):
        for column in range(3):
            x = left + column * (SIDE + pictures._IMAGE_GAP)
            y = top + row * (SIDE + pictures._IMAGE_GAP)
            expected = np.kron(images[column][..., 0], np.ones((pictures.ZOOM, pictures.ZOOM))) * 255
            np.testing.assert_allclose(pixels[y : y + SIDE, x : x + SIDE], expected, atol=1.5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"originals": np.zeros((0, 28, 28))}, "Expected at least one image. Received none."),
        (
            {"reconstructions": np.zeros((2, 28, 28))},
            "Invalid value for argument `reconstructions`. Expected 3 images, as many as `originals`. Received 2.",
        ),
        ({"noisy": np.zeros((4, 28, 28))}, "Invalid value for argument `noisy`. Expected 3 images"),
        ({"titles": ["a", "b"]}, "Expected 3 titles, one per image. Received 2."),
        ({"columns": 0}, "Invalid value for argument `columns`. Expected a positive integer. Received 0."),
    ],
)
def test_grid_png_refuses_inconsistent_arguments(arguments: dict[str, object], message: str) -> None:
    values = {"originals": np.zeros((3, 28, 28)), "reconstructions": np.zeros((3, 28, 28)), **arguments}
    with pytest.raises(ValueError) as raised:
        pictures.grid_png(**values)
    assert message in str(raised.value)


def test_png_size_refuses_bytes_that_are_not_a_png() -> None:
    with pytest.raises(ValueError, match="Expected the bytes of a PNG file"):
        pictures.png_size(b"GIF89a")


def test_comparison_png_draws_the_originals_then_one_row_per_model(random_pairs: tuple[np.ndarray, np.ndarray]) -> None:
    originals, first, second = random_pairs[0][:3], random_pairs[1][:3], random_pairs[1][3:6]
    png = pictures.comparison_png(originals, [first, second], ["a", "a run with a very long name indeed"])
    assert pictures.png_size(png) == pictures.grid_size(3, 3, 3, titles=False)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    left = pictures._MARGIN + pictures._LABEL_WIDTH
    for row, images in enumerate((originals, first, second)):
        for column in range(3):
            x = left + column * (SIDE + pictures._IMAGE_GAP)
            y = pictures._MARGIN + row * (SIDE + pictures._IMAGE_GAP)
            expected = np.kron(images[column][..., 0], np.ones((pictures.ZOOM, pictures.ZOOM))) * 255
            np.testing.assert_allclose(pixels[y : y + SIDE, x : x + SIDE], expected, atol=1.5)
    titled = pictures.comparison_png(originals, [first], ["a"], titles=["0", "1", "2"])
    assert pictures.png_size(titled) == pictures.grid_size(3, 2, 3, titles=True)


# Two runs both named "seed" (the Compare page adds their ids), a long name, and one word too long for any column.
SAME_NAMES = ["seed (20261127-154515-seed)", "seed (20261127-160102-seed)"]
LONG_NAMES = [*SAME_NAMES, "a run with a very long name indeed", "x" * 80]


def test_comparison_png_keeps_each_label_inside_the_picture(random_pairs: tuple[np.ndarray, np.ndarray]) -> None:
    originals = random_pairs[0][:2]
    reconstructions = [random_pairs[1][:2]] * len(LONG_NAMES)
    pixels = np.asarray(Image.open(io.BytesIO(pictures.comparison_png(originals, reconstructions, LONG_NAMES))))
    labels = pixels[:, : pictures._MARGIN + pictures._LABEL_WIDTH].min(axis=-1)
    # The labels are drawn (ink in their column) and none reaches into the left margin, or past the picture's edge.
    assert (labels[:, pictures._MARGIN :] < 128).any(axis=1).sum() > 5 * len(LONG_NAMES)
    assert (labels[:, : pictures._MARGIN] == 255).all()


def test_fit_labels_fit_the_column_and_keep_what_tells_same_named_runs_apart() -> None:
    fitted = pictures.fit_labels(["Original", *LONG_NAMES])
    width = pictures._LABEL_WIDTH - pictures._LABEL_PAD
    assert all(pictures.text_width(label) <= width for label in fitted), fitted
    assert fitted[0] == "Original"  # A label that fits stays whole.
    assert fitted[1].startswith("seed") and "154515" in fitted[1]
    assert fitted[2].startswith("seed") and "160102" in fitted[2]
    assert fitted[3].startswith("a run with") and fitted[3].endswith("…")
    assert fitted[4] == "x" * (len(fitted[4]) - 1) + "…"


@pytest.mark.parametrize(
    ("reconstructions", "names", "message"),
    [
        ([], [], "Expected at least one image and one array per name"),
        ([np.zeros((3, 28, 28))], ["a", "b"], "Received 3 images, 1 arrays and 2 names."),
        ([np.zeros((2, 28, 28))], ["a"], "Expected 3 images for 'a', as many as `originals`. Received 2."),
    ],
)
def test_comparison_png_refuses_inconsistent_arguments(reconstructions: list, names: list, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        pictures.comparison_png(np.zeros((3, 28, 28)), reconstructions, names)
    assert message in str(raised.value)


def test_rows_png_draws_each_row_of_images_where_grid_size_places_it(
    random_pairs: tuple[np.ndarray, np.ndarray],
) -> None:
    rows = [random_pairs[0][:5], random_pairs[1][:5]]
    png = pictures.rows_png(["Decoded codes", "Blended pixels"], rows, titles=["A", "0.25", "0.50", "0.75", "B"])
    assert pictures.png_size(png) == pictures.grid_size(5, 2, 5, titles=True)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    top = pictures._MARGIN + pictures._TITLE_HEIGHT
    for row, images in enumerate(rows):
        for column in range(5):
            x = pictures._MARGIN + pictures._LABEL_WIDTH + column * (SIDE + pictures._IMAGE_GAP)
            y = top + row * (SIDE + pictures._IMAGE_GAP)
            expected = np.kron(images[column][..., 0], np.ones((pictures.ZOOM, pictures.ZOOM))) * 255
            np.testing.assert_allclose(pixels[y : y + SIDE, x : x + SIDE], expected, atol=1.5)


@pytest.mark.parametrize(
    ("labels", "rows", "message"),
    [
        ([], [], "Received 0 rows of 0 images and 0 labels."),
        (["a"], [np.zeros((0, 28, 28))], "Received 1 rows of 0 images and 1 labels."),
        (["a", "b"], [np.zeros((3, 28, 28))], "Received 1 rows of 3 images and 2 labels."),
        (["a", "b"], [np.zeros((3, 28, 28)), np.zeros((2, 28, 28))], "Expected 3 images in row 'b'"),
    ],
)
def test_rows_png_refuses_rows_without_labels_or_of_different_lengths(labels: list, rows: list, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        pictures.rows_png(labels, rows)
    assert message in str(raised.value)
