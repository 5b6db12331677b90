"""Tests for core.figures: grid cells, the grid PNG and the Plotly summary charts."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from core import figures

SIDE = 28 * figures.ZOOM


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """20 random "originals" and "reconstructions" of shape (20, 28, 28, 1) in [0, 1]."""
    generator = np.random.default_rng(0)
    originals = generator.random((20, 28, 28, 1), dtype=np.float32)
    reconstructions = generator.random((20, 28, 28, 1), dtype=np.float32)
    return originals, reconstructions


def test_gray_rgb_maps_zero_to_black_and_one_to_white() -> None:
    image = np.array([[0.0, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(figures.gray_rgb(image), [[[0, 0, 0], [1, 1, 1]]])


def test_difference_rgb_is_dark_where_equal_blue_where_ink_is_missing_and_red_where_added() -> None:
    original = np.array([[0.5, 1.0, 0.0]], dtype=np.float32)
    reconstruction = np.array([[0.5, 0.0, 1.0]], dtype=np.float32)
    equal, missing, added = figures.difference_rgb(original, reconstruction)[0]
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
    digits: tuple[np.ndarray, np.ndarray], noisy: bool, show_difference: bool, labels: list[str]
) -> None:
    originals, reconstructions = digits
    cell = figures.cell_image(originals[0], reconstructions[0], originals[1] if noisy else None, show_difference)
    assert figures.panel_labels(noisy, show_difference) == labels
    rows = len(labels)
    assert cell.shape == (rows * SIDE + (rows - 1) * figures.GAP, SIDE, 3)
    assert cell.dtype == np.uint8
    # The original comes first, each pixel enlarged to a ZOOM x ZOOM square, and the gap below it is white.
    expected = np.round(np.kron(originals[0][..., 0], np.ones((figures.ZOOM, figures.ZOOM))) * 255)
    np.testing.assert_allclose(cell[:SIDE, :, 0], expected, atol=1)
    assert (cell[SIDE : SIDE + figures.GAP] == 255).all()


def test_cell_image_refuses_a_zoom_below_one(digits: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ValueError, match=r"Expected a positive integer. Received zoom=0."):
        figures.cell_image(digits[0][0], digits[1][0], zoom=0)


@pytest.mark.parametrize(
    ("count", "noisy", "show_difference", "titles"),
    [(1, False, True, True), (16, False, False, True), (17, True, True, False), (8, True, False, True)],
)
def test_grid_png_is_a_png_of_the_size_grid_size_gives(
    digits: tuple[np.ndarray, np.ndarray], count: int, noisy: bool, show_difference: bool, titles: bool
) -> None:
    originals, reconstructions = digits[0][:count], digits[1][:count]
    png = figures.grid_png(
        originals,
        reconstructions,
        originals[::-1] if noisy else None,
        show_difference,
        [f"#{index}\nBCE 0.1" for index in range(count)] if titles else None,
    )
    assert png.startswith(figures.PNG_SIGNATURE)
    rows = len(figures.panel_labels(noisy, show_difference))
    assert figures.png_size(png) == figures.grid_size(count, rows, 16, titles, show_difference)
    assert Image.open(io.BytesIO(png)).size == figures.png_size(png)


def test_grid_png_draws_originals_in_the_first_row_and_reconstructions_below(
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    originals, reconstructions = digits[0][:3], digits[1][:3]
    pixels = np.asarray(Image.open(io.BytesIO(figures.grid_png(originals, reconstructions))).convert("L"))
    left = figures._MARGIN + figures._LABEL_WIDTH
    top = figures._MARGIN
    for row, images in enumerate((originals, reconstructions)):
        for column in range(3):
            x = left + column * (SIDE + figures._IMAGE_GAP)
            y = top + row * (SIDE + figures._IMAGE_GAP)
            expected = np.kron(images[column][..., 0], np.ones((figures.ZOOM, figures.ZOOM))) * 255
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
        figures.grid_png(**values)
    assert message in str(raised.value)


def test_png_size_refuses_bytes_that_are_not_a_png() -> None:
    with pytest.raises(ValueError, match="Expected the bytes of a PNG file"):
        figures.png_size(b"GIF89a")


def test_class_error_figure_has_ten_bars_the_floors_and_the_highlighted_digit() -> None:
    means = np.linspace(0.08, 0.12, 10)
    floors = np.full(10, 0.06)
    figure = figures.class_error_figure(means, "bce", floors, highlight=3, class_counts=[1000] * 10)
    bars, floor_marks = figure.data
    assert bars.type == "bar" and list(bars.x) == [str(digit) for digit in range(10)]
    np.testing.assert_allclose(bars.y, means)
    assert [color == figures.HIGHLIGHT_COLOR for color in bars.marker.color] == [digit == 3 for digit in range(10)]
    np.testing.assert_allclose(floor_marks.y, floors)
    assert figure.layout.title.text == "Mean BCE per digit"
    assert figure.layout.xaxis.type == "category"


def test_class_error_figure_without_floors_has_only_the_bars() -> None:
    figure = figures.class_error_figure(np.ones(10), "mse")
    assert len(figure.data) == 1 and figure.layout.yaxis.title.text == "mean MSE"


def test_class_error_figure_refuses_other_than_ten_classes() -> None:
    with pytest.raises(ValueError, match="Expected 10 values, one per digit. Received 9."):
        figures.class_error_figure(np.ones(9))


def test_error_histogram_counts_every_image_and_marks_the_floor_and_the_mean() -> None:
    errors = np.random.default_rng(1).uniform(0.07, 0.2, 1000)
    figure = figures.error_histogram_figure(errors, "bce", floor=0.0581, bins=40)
    (bars,) = figure.data
    assert len(bars.y) == 40 and sum(bars.y) == 1000
    lines = {shape.line.dash: shape.x0 for shape in figure.layout.shapes}
    assert lines["dash"] == pytest.approx(0.0581)
    assert lines["dot"] == pytest.approx(errors.mean())
    assert {annotation.text for annotation in figure.layout.annotations} == {
        "floor 0.0581",
        f"mean {errors.mean():.4f}",
    }
    # The floor lies below every error, and the x axis still shows it.
    assert figure.layout.xaxis.range[0] < 0.0581 < figure.layout.xaxis.range[1]
    json.loads(figure.to_json())  # Serialisable, as st.plotly_chart needs.


@pytest.mark.parametrize(("errors", "bins", "message"), [([], 10, "at least one error"), ([0.1], 0, "bins=0")])
def test_error_histogram_refuses_no_errors_or_no_bins(errors: list[float], bins: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        figures.error_histogram_figure(np.array(errors), bins=bins)


@pytest.mark.parametrize("noisy", [False, True])
def test_detail_figure_shows_each_panel_and_the_signed_difference(
    digits: tuple[np.ndarray, np.ndarray], noisy: bool
) -> None:
    original, reconstruction = digits[0][0], digits[1][0]
    figure = figures.detail_figure(original, reconstruction, digits[0][1] if noisy else None)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles == figures.panel_labels(noisy, show_difference=True)
    assert [trace.type for trace in figure.data] == ["heatmap"] * len(titles)
    difference = figure.data[-1]
    np.testing.assert_allclose(difference.z, reconstruction[..., 0] - original[..., 0])
    assert (difference.zmin, difference.zmax, difference.showscale) == (-1, 1, True)
    np.testing.assert_allclose(figure.data[0].z, original[..., 0])
