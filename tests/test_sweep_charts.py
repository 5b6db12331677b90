"""Tests for core.sweep_charts: the parallel-coordinates chart of settings against results."""

from __future__ import annotations

from pathlib import Path

from core.sweep import SweepDefinition, SweepInfo, TrialRow
from core.sweep_charts import parallel_coordinates_figure

DEFINITION = SweepDefinition.from_dict({"name": "rates", "spec": "strided", "trials": 3,
                                        "parameters": {"training.learning_rate": [0.001, 0.002, 0.003],
                                                       "encoder[0].filters": [8]}})  # fmt: skip


def finished(*rows: tuple[float, int, float, float]) -> SweepInfo:
    """A completed sweep whose trials had these (learning rate, parameter count, seconds, test loss)."""
    trials = tuple(
        TrialRow(number=number, parameters={"training.learning_rate": rate, "encoder[0].filters": 8},
                 run_id=f"run-{number}", status="completed", test_loss=loss, params=params, train_seconds=seconds)
        for number, (rate, params, seconds, loss) in enumerate(rows, start=1)
    )  # fmt: skip
    return SweepInfo("20260101-000000", Path("unused"), DEFINITION, "completed", "", "local", {}, trials)


def test_a_setting_or_count_the_same_in_every_trial_is_no_axis_and_the_title_names_it() -> None:
    figure = parallel_coordinates_figure(finished((0.001, 12_785, 30.0, 0.09), (0.002, 12_785, 31.5, 0.08)))
    assert figure is not None
    labels = [dimension.label for dimension in figure.data[0].dimensions]
    assert labels == ["training.learning_rate", "seconds", "test loss"]
    assert figure.layout.title.text == "The same in every finished trial: encoder[0].filters 8, parameters 12,785"
    # Above the axes' names, which Plotly writes in the top margin, not over the first of them.
    assert (figure.layout.title.yref, figure.layout.title.y, figure.layout.title.yanchor) == ("container", 1, "top")
    assert figure.layout.margin.t >= 80


def test_settings_and_counts_that_vary_stay_axes() -> None:
    figure = parallel_coordinates_figure(finished((0.001, 12_785, 30.0, 0.09), (0.002, 25_000, 31.5, 0.08)))
    assert figure is not None
    labels = [dimension.label for dimension in figure.data[0].dimensions]
    assert labels == ["training.learning_rate", "parameters", "seconds", "test loss"]
    assert figure.layout.title.text == "The same in every finished trial: encoder[0].filters 8"
    assert parallel_coordinates_figure(finished()) is None  # No finished trial yet.
