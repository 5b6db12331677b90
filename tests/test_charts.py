"""Tests for core.charts: the large view of one test image and the Plotly summary charts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core import charts
from core.pixels import panel_labels


def test_class_error_figure_has_ten_bars_the_floors_and_the_highlighted_digit() -> None:
    means = np.linspace(0.08, 0.12, 10)
    floors = np.full(10, 0.06)
    figure = charts.class_error_figure(means, "bce", floors, highlight=3, class_counts=[1000] * 10)
    bars, floor_marks = figure.data
    assert bars.type == "bar" and list(bars.x) == [str(digit) for digit in range(10)]
    np.testing.assert_allclose(bars.y, means)
    assert [color == charts.HIGHLIGHT_COLOR for color in bars.marker.color] == [digit == 3 for digit in range(10)]
    np.testing.assert_allclose(floor_marks.y, floors)
    assert figure.layout.title.text == "Mean BCE per digit"
    assert figure.layout.xaxis.type == "category"


def test_class_error_figure_without_floors_has_only_the_bars() -> None:
    figure = charts.class_error_figure(np.ones(10), "mse")
    assert len(figure.data) == 1 and figure.layout.yaxis.title.text == "mean MSE"


def test_class_error_figure_refuses_other_than_ten_classes() -> None:
    with pytest.raises(ValueError, match="Expected 10 values, one per digit. Received 9."):
        charts.class_error_figure(np.ones(9))


def test_error_histogram_counts_every_image_and_marks_the_floor_and_the_mean() -> None:
    errors = np.random.default_rng(1).uniform(0.07, 0.2, 1000)
    figure = charts.error_histogram_figure(errors, "bce", floor=0.0581, bins=40)
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
        charts.error_histogram_figure(np.array(errors), bins=bins)


@pytest.mark.parametrize("noisy", [False, True])
def test_detail_figure_shows_each_panel_and_the_signed_difference(
    random_pairs: tuple[np.ndarray, np.ndarray], noisy: bool
) -> None:
    original, reconstruction = random_pairs[0][0], random_pairs[1][0]
    figure = charts.detail_figure(original, reconstruction, random_pairs[0][1] if noisy else None)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles == panel_labels(noisy, show_difference=True)
    assert [trace.type for trace in figure.data] == ["heatmap"] * len(titles)
    difference = figure.data[-1]
    np.testing.assert_allclose(difference.z, reconstruction[..., 0] - original[..., 0])
    assert (difference.zmin, difference.zmax, difference.showscale) == (-1, 1, True)
    np.testing.assert_allclose(figure.data[0].z, original[..., 0])


def test_loss_curves_figure_overlays_train_and_validation_per_run_with_the_floor() -> None:
    from core.comparison import LossCurve

    curves = [
        LossCurve("a", "binary_crossentropy", (1, 2), (0.3, 0.2), (0.31, 0.21)),
        LossCurve("b", "binary_crossentropy", (1, 2, 3), (0.4, 0.3, 0.25), (0.41, 0.31, 0.26)),
    ]
    figure = charts.loss_curves_figure(curves)
    assert [trace.name for trace in figure.data] == ["a · train", "a · validation", "b · train", "b · validation"]
    assert [trace.line.color for trace in figure.data] == [charts.RUN_COLORS[0]] * 2 + [charts.RUN_COLORS[1]] * 2
    assert [trace.line.dash for trace in figure.data] == ["solid", "dash"] * 2
    assert list(figure.data[3].y) == [0.41, 0.31, 0.26] and list(figure.data[2].x) == [1, 2, 3]
    (floor,) = figure.layout.shapes  # One floor: both runs trained with the same loss.
    assert floor.y0 == floor.y1 == pytest.approx(0.0581, abs=1e-4)
    assert "BCE floor 0.0581" in figure.layout.annotations[0].text


def test_loss_curves_figure_draws_a_floor_per_loss_and_refuses_too_many_runs() -> None:
    from core.comparison import LossCurve

    curves = [LossCurve("a", "binary_crossentropy", (1,), (0.3,), (0.3,)), LossCurve("b", "mse", (1,), (0.1,), (0.1,))]
    assert sorted(shape.y0 for shape in charts.loss_curves_figure(curves).layout.shapes) == [
        0.0,
        pytest.approx(0.0581, abs=1e-4),
    ]
    with pytest.raises(ValueError, match="Expected 1 to 4 curves. Received 5."):
        charts.loss_curves_figure(curves * 2 + curves[:1])


def test_digit_errors_figure_groups_one_bar_per_run_for_each_digit() -> None:
    means = [np.linspace(0.08, 0.12, 10), np.linspace(0.09, 0.1, 10)]
    figure = charts.digit_errors_figure(["a", "b"], means, np.full(10, 0.06))
    first, second, floors = figure.data
    assert figure.layout.barmode == "group" and figure.layout.xaxis.type == "category"
    assert (first.name, second.name) == ("a", "b") and first.marker.color != second.marker.color
    assert list(first.x) == [str(digit) for digit in range(10)]
    np.testing.assert_allclose(second.y, means[1])
    np.testing.assert_allclose(floors.y, 0.06)
    with pytest.raises(ValueError, match="Expected 10 values per run. Received 9."):
        charts.digit_errors_figure(["a"], [np.ones(9)])
    with pytest.raises(ValueError, match="Expected one row per name"):
        charts.digit_errors_figure(["a", "b"], [np.ones(10)])
