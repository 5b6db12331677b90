"""The Sweeps page through AppTest: no sweep yet, a definition's errors, and a finished sweep's results and best trial.

The finished sweep's trials are copies of the shipped pretrained run, tagged as trials and given losses (no training
here); the page reads them from the store as it reads real trials.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import runs, sweep
from core.sweep import SweepDefinition
from tests.ui.conftest import open_page

PAGE = "app_pages/sweeps.py"
SHIPPED = next(path for path in sorted(runs.PRETRAINED_DIR.iterdir()) if (path / "model.keras").is_file())
RATES = [0.001, 0.003, 0.01]


@pytest.fixture
def finished_sweep(runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """A sweep of three learning rates whose trials have run: the second has the lowest test loss, the third was
    stopped early at epoch 1."""
    (tmp_path / "no-pretrained").mkdir()
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    definition = SweepDefinition.from_dict({"name": "rates", "spec": "strided", "trials": 3,
                                            "parameters": {"training.learning_rate": RATES},
                                            "early_stopping": {"grace_epochs": 1, "reduction_factor": 2}})  # fmt: skip
    sweep_id = sweep.create_sweep(definition, runs_dir)
    path = sweep.sweep_path(sweep_id, runs_dir)
    run_ids = []
    for trial, test_loss in zip(sweep.plan_trials(definition), [0.09, 0.07, 0.2], strict=True):
        run_id = f"20260101-00000{trial.number}-rates-{trial.number}"
        shutil.copytree(SHIPPED, runs_dir / run_id)
        config = json.loads((runs_dir / run_id / "config.json").read_text())
        config["spec"] = trial.spec.to_dict()
        (runs_dir / run_id / "config.json").write_text(json.dumps(config))
        early = trial.number == 3
        runs.update_summary(runs_dir / run_id, run_id=run_id, name=trial.spec.name, test_loss=test_loss,
                            status="stopped" if early else "completed", epochs_completed=1 if early else 2)  # fmt: skip
        sweep.tag_trial_run(runs_dir / run_id, sweep_id, trial)
        sweep.record_trial(path, trial.index, run_id=run_id, early_stopped_at=1 if early else None)
        run_ids.append(run_id)
    sweep.update_state(path, status="completed", executor="local", message="Completed: all 3 trials done.")
    return sweep_id, run_ids


def button(app: AppTest, key: str) -> object:
    return next(widget for widget in app.button if widget.key == key)


def test_with_no_sweep_the_page_offers_the_form(app: AppTest) -> None:
    open_page(app, PAGE)
    assert app.title[0].value == "Sweeps"
    assert "No sweep yet" in app.info[0].value
    assert button(app, "sweeps_start").label == "Start sweep of 2 trials"  # The example's two learning rates.
    assert not button(app, "sweeps_start").disabled


SIX = '{"training.learning_rate": [0.001, 0.002, 0.003], "encoder[0].filters": [8, 16]}'  # 6 combinations.


def test_a_grid_cut_by_its_budget_says_what_it_leaves_out_and_offers_the_whole_grid(app: AppTest) -> None:
    open_page(app, PAGE)
    app.text_area(key="sweeps_parameters").set_value(SIX).run()
    app.number_input(key="sweeps_trials").set_value(2).run()
    assert button(app, "sweeps_start").label == "Start sweep of 2 trials"
    assert any("leaves out 4: (training.learning_rate=0.002" in warning.value for warning in app.warning)
    button(app, "sweeps_raise_budget").click().run()
    assert not app.exception
    assert app.number_input(key="sweeps_trials").value == 6
    assert button(app, "sweeps_start").label == "Start sweep of 6 trials"
    assert not app.warning


def test_a_random_search_says_when_its_lists_allow_fewer_trials_than_the_budget(app: AppTest) -> None:
    open_page(app, PAGE)
    app.text_area(key="sweeps_parameters").set_value(SIX).run()
    app.selectbox(key="sweeps_search").set_value("random").run()
    app.number_input(key="sweeps_trials").set_value(10).run()
    assert button(app, "sweeps_start").label == "Start sweep of 6 trials"
    assert any("only 6 distinct combinations" in caption.value for caption in app.caption)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ('{"decoder[0].stride": [1, 2]}', "Invalid parameter `decoder[0].stride`"),
        ('{"training.learning_rate": []}', "Expected at least one value. Received []."),
        ("{learning_rate: 1", "The parameters are not valid JSON"),
    ],
)
def test_a_bad_definition_is_explained_and_cannot_start(app: AppTest, parameters: str, message: str) -> None:
    open_page(app, PAGE)
    app.text_area(key="sweeps_parameters").set_value(parameters).run()
    assert not app.exception
    assert any(message in error.value for error in app.error), [error.value for error in app.error]
    assert button(app, "sweeps_start").disabled


def test_the_form_survives_a_visit_to_another_page(app: AppTest) -> None:
    # Come back to its defaults, the form would start a sweep of 25 epochs on 60,000 images from the next click.
    open_page(app, PAGE)
    app.selectbox(key="sweeps_base").set_value("seed-fast").run()
    app.text_area(key="sweeps_parameters").set_value('{"training.learning_rate": [0.002, 0.004, 0.008]}').run()
    app.number_input(key="sweeps_images").set_value(200).run()
    app.checkbox(key="sweeps_early").uncheck().run()
    app.radio(key="sweeps_where").set_value("A Ray cluster").run()
    shown = app.code[0].value  # The definition as JSON.
    assert '"epochs": 1' in shown and '"limit": 200' in shown and '"early_stopping": null' in shown
    app.switch_page("app_pages/build.py").run()  # Streamlit forgets the widgets of a page not shown.
    app.switch_page(PAGE).run()
    assert not app.exception
    assert app.selectbox(key="sweeps_base").value == "seed-fast"
    assert app.number_input(key="sweeps_epochs_seed-fast").value == 1
    assert app.number_input(key="sweeps_images").value == 200
    assert app.radio(key="sweeps_where").value == "A Ray cluster"
    assert app.code[0].value == shown
    assert button(app, "sweeps_start").label == "Start sweep of 3 trials"


def test_asking_for_ray_without_it_says_how_to_install_it(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ui.sweeps.ray_available", lambda: False)
    open_page(app, PAGE)
    app.radio(key="sweeps_where").set_value("A Ray cluster").run()
    assert any("pip install -r requirements-ray.txt" in info.value for info in app.info)
    assert button(app, "sweeps_start").disabled


def test_a_finished_sweep_shows_its_trials_and_opens_the_best(
    app: AppTest, finished_sweep: tuple[str, list[str]]
) -> None:
    sweep_id, run_ids = finished_sweep
    open_page(app, PAGE)
    table = app.dataframe[0].value
    assert list(table["trial"]) == [1, 2, 3]
    assert list(table["training.learning_rate"]) == RATES
    assert list(table["status"]) == ["completed", "completed", "early stopped at epoch 1"]
    assert list(table["run"]) == run_ids
    assert "Best trial: #2" in " ".join(markdown.value for markdown in app.markdown)
    button(app, "sweeps_open_best").click().run()
    assert app.session_state["studio_active_run"] == run_ids[1]


@pytest.mark.slow  # Compare runs reconstructs the test set for each run in the inference worker (as test_compare_page).
def test_the_best_trial_can_be_added_to_compare_runs(app: AppTest, finished_sweep: tuple[str, list[str]]) -> None:
    _, run_ids = finished_sweep
    open_page(app, PAGE)
    app.number_input(key="sidebar_epochs").set_value(7).run()
    app.number_input(key="sidebar_limit").set_value(3000).run()
    training = app.session_state["studio_spec"].training
    button(app, "sweeps_compare_best").click().run()
    assert not app.exception
    # The click runs in the page's fragment, which draws no sidebar, and switches page: Streamlit dropped the
    # sidebar's widget values, which came back empty (a crash) or, before, at their minimum (batch size 1).
    assert app.session_state["studio_spec"].training == training
    assert (app.number_input(key="sidebar_epochs").value, app.number_input(key="sidebar_limit").value) == (7, 3000)
    picker = app.multiselect(key="compare_runs")
    assert picker.value[0] == run_ids[1] and len(picker.value) == 2
