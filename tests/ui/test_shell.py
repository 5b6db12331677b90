"""The shell: navigation, the home page and the sidebar that every page shares."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.presets import PRESETS
from tests.ui.conftest import PAGES, active_run_picker


def test_home_page_loads_without_tensorflow(app: AppTest) -> None:
    tensorflow_was_loaded = "tensorflow" in sys.modules
    app.run()
    assert not app.exception
    assert app.title[0].value == "Conv2DTranspose Autoencoder Studio"
    assert any("12,785 parameters" in markdown.value for markdown in app.markdown)
    if not tensorflow_was_loaded:
        assert "tensorflow" not in sys.modules


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_with_the_sidebar(app: AppTest, page: str) -> None:
    app.run()
    app.switch_page(page).run()
    assert not app.exception, [exception.value for exception in app.exception]
    assert app.selectbox(key="sidebar_preset").value == "seed"
    assert app.number_input(key="sidebar_epochs").value == 25


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_loads_its_training_settings(app: AppTest, name: str) -> None:
    app.run()
    app.selectbox(key="sidebar_preset").set_value(name).run()
    training = PRESETS[name].training
    assert app.number_input(key="sidebar_epochs").value == training.epochs
    assert app.number_input(key="sidebar_batch_size").value == training.batch_size
    assert app.number_input(key="sidebar_learning_rate").value == pytest.approx(training.learning_rate)
    assert app.selectbox(key="sidebar_noise_kind").value == training.noise.kind
    assert app.session_state["studio_spec"] == PRESETS[name]


def test_settings_keep_their_values_across_pages(app: AppTest) -> None:
    app.run()
    app.selectbox(key="sidebar_preset").set_value("seed-fast").run()
    app.number_input(key="sidebar_epochs").set_value(7).run()
    app.switch_page("app_pages/train.py").run()
    app.switch_page("app_pages/home.py").run()
    assert app.selectbox(key="sidebar_preset").value == "seed-fast"
    assert app.number_input(key="sidebar_epochs").value == 7
    assert app.session_state["studio_spec"].training.epochs == 7
    assert app.session_state["studio_spec"].training.batch_size == PRESETS["seed-fast"].training.batch_size


def test_picking_a_noise_starts_its_amount_where_the_shipped_denoiser_trained(app: AppTest) -> None:
    app.run()
    assert app.slider(key="sidebar_noise_amount").value == 0.0  # The seed preset trains on clean inputs.
    app.selectbox(key="sidebar_noise_kind").set_value("salt_pepper").run()
    assert app.slider(key="sidebar_noise_amount").value == PRESETS["denoising"].training.noise.amount
    assert not app.sidebar.error  # Training is not disabled by the pick.
    assert app.session_state["studio_spec"].training.noise.kind == "salt_pepper"
    app.slider(key="sidebar_noise_amount").set_value(0.1).run()
    app.selectbox(key="sidebar_noise_kind").set_value("gaussian").run()
    assert app.slider(key="sidebar_noise_amount").value == 0.1  # An amount the user chose is kept.


def test_invalid_noise_setting_is_refused_with_its_reason(app: AppTest) -> None:
    app.run()
    app.selectbox(key="sidebar_noise_kind").set_value("gaussian").run()
    app.slider(key="sidebar_noise_amount").set_value(0.0).run()
    messages = [error.value for error in app.sidebar.error]
    assert messages == [
        "Invalid value for argument `noise.amount` of training settings. Expected a number in (0, 1] for noise "
        "kind 'gaussian'. Received noise.amount=0.0."
    ]
    app.slider(key="sidebar_noise_amount").set_value(0.3).run()
    assert not app.sidebar.error
    assert app.session_state["studio_spec"].training.noise.amount == 0.3


@pytest.mark.parametrize(
    "key, label, kept",
    [("sidebar_batch_size", "Batch size", 1000), ("sidebar_epochs", "Epochs", 25), ("sidebar_limit", "Training images",
     60_000), ("sidebar_learning_rate", "Learning rate", 0.001)],
)  # fmt: skip
def test_an_emptied_number_box_keeps_its_number_and_says_so(app: AppTest, key: str, label: str, kept: float) -> None:
    # Streamlit read an emptied box as its minimum: Batch size 1 unsaid, and Start trained 60,000 images one by one.
    app.run()
    spec = app.session_state["studio_spec"]
    app.number_input(key=key).set_value(None).run()
    assert app.number_input(key=key).value == pytest.approx(kept)
    assert app.session_state["studio_spec"] == spec
    assert [warning.value for warning in app.sidebar.warning] == [
        f"{label} needs a number: it was emptied, and keeps {kept:g}."
    ]
    app.run()  # Said once.
    assert not app.sidebar.warning


def test_out_of_range_epochs_are_refused_where_typed(app: AppTest) -> None:
    app.run()
    app.number_input(key="sidebar_epochs").set_value(0).run()
    # The widget refuses values below its minimum: the spec keeps a valid number of epochs.
    assert app.session_state["studio_spec"].training.epochs >= 1


def test_home_page_shows_the_active_run(trained_app: AppTest, trained_run_id: str) -> None:
    trained_app.run()
    assert not trained_app.exception
    assert active_run_picker(trained_app).value == trained_run_id
    (metric,) = [metric for metric in trained_app.metric if metric.label.startswith("Test loss")]
    assert metric.help.startswith("The binary cross-entropy (the run's training loss)")  # The run's own loss.


def test_picking_a_run_makes_it_active_on_every_page(trained_app: AppTest, trained_run_id: str) -> None:
    from core.runs import PRETRAINED_DIR

    shipped = sorted(path.name for path in PRETRAINED_DIR.iterdir() if path.is_dir())[0]
    trained_app.run()
    active_run_picker(trained_app).set_value(shipped).run()
    assert trained_app.session_state["studio_active_run"] == shipped
    trained_app.switch_page("app_pages/home.py").run()
    assert active_run_picker(trained_app).value == shipped
    assert any("(shipped pretrained model)" in metric.label for metric in trained_app.metric)


def test_a_run_gaining_its_model_while_the_sidebar_draws_does_not_break_the_picker(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A training job saves its first model between two listings of the store: the picker and the active run it
    # shows must come from one listing. Here the first listing lacks the newest run and every later one has it.
    from ui import state

    every_run = state.usable_runs()
    listings = iter([every_run[1:]])
    monkeypatch.setattr(state, "usable_runs", lambda: next(listings, every_run))
    app.run()
    assert not app.exception, [exception.value for exception in app.exception]
    assert active_run_picker(app).value == every_run[1].run_id


def test_sidebar_offers_the_installed_backends_and_the_precision(app: AppTest) -> None:
    from core.backends import installed_backends
    from ui.state import SPEC_KEY

    app.run()
    backend = app.selectbox(key="sidebar_backend")
    assert backend.value == "tensorflow"
    assert backend.options == [{"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}[name]
                               for name in installed_backends()]  # fmt: skip
    precision = app.selectbox(key="sidebar_dtype_policy")
    assert precision.value == "auto"
    precision.set_value("mixed_bfloat16").run()
    assert app.session_state[SPEC_KEY].training.dtype_policy == "mixed_bfloat16"


def test_runs_that_would_read_the_same_in_a_picker_also_show_their_run_id(tmp_path: Path) -> None:
    from core.runs import RunInfo
    from ui.sidebar import run_labels

    summary = {"test_loss": 0.22391}
    runs = [RunInfo("20261127-165055-seed", tmp_path, "completed", "seed", summary),
            RunInfo("20261127-165159-seed", tmp_path, "completed", "seed", summary),
            RunInfo("20261127-170000-seed", tmp_path, "completed", "seed", {"test_loss": 0.1})]  # fmt: skip
    assert run_labels(runs) == {
        "20261127-165055-seed": "seed · completed · test 0.2239 · 20261127-165055-seed",
        "20261127-165159-seed": "seed · completed · test 0.2239 · 20261127-165159-seed",
        "20261127-170000-seed": "seed · completed · test 0.1000",
    }
