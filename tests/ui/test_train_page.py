"""The Train page through AppTest: start, watch, stop and manage runs, with the real engine on tiny jobs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.engine import EngineBusyError
from core.presets import preset
from core.runs import list_runs
from tests.ui.conftest import active_run_picker, open_page
from ui.resources import get_engine


def open_train_page(app: AppTest) -> AppTest:
    return open_page(app, "pages/train.py")


def set_small_job(app: AppTest, epochs: int = 1, limit: int = 300, batch_size: int = 100) -> None:
    app.selectbox(key="sidebar_preset").set_value("strided").run()
    app.number_input(key="sidebar_epochs").set_value(epochs).run()
    app.number_input(key="sidebar_limit").set_value(limit).run()
    app.number_input(key="sidebar_batch_size").set_value(batch_size).run()


@pytest.fixture(autouse=True)
def no_job_left_running():
    yield
    engine = get_engine()
    engine.stop()
    engine.join(timeout=120)


def test_fresh_server_shows_how_to_start(app: AppTest) -> None:
    open_train_page(app)
    assert "Press **Start training** to begin." in app.info[0].value
    assert not app.button(key="train_start").disabled
    assert app.button(key="train_stop").disabled


def test_invalid_architecture_disables_start_with_the_reason(app: AppTest) -> None:
    app.run()
    broken = preset("seed")
    app.session_state["studio_spec"] = replace(broken, decoder=broken.decoder[:2])
    app.switch_page("pages/train.py").run()
    start = app.button(key="train_start")
    assert start.disabled
    assert "the output is 26x26x1 but must match the input, 28x28x1" in start.help
    assert app.error[0].value.startswith("Training is disabled: Invalid architecture")
    assert "Fix: " in app.error[0].value


def test_tiny_job_runs_to_completion_and_becomes_the_active_run(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app)
    app.button(key="train_start").click().run()
    assert not app.exception
    snapshot = get_engine().join(timeout=180)
    assert snapshot.status == "completed", snapshot.message
    app.run()  # The page notices the end, makes the run active and reruns the app.
    assert not app.exception
    assert app.success[0].value.startswith("Completed 1 epoch. Test loss ")
    runs = list_runs(runs_dir, include_pretrained=False)
    assert [run.run_id for run in runs] == [snapshot.run_id]
    assert runs[0].status == "completed"
    assert active_run_picker(app).value == snapshot.run_id
    table = app.dataframe[0].value
    assert snapshot.run_id in list(table["run"])
    assert app.get("plotly_chart"), "the loss chart is drawn"


def test_stop_ends_the_job_and_keeps_the_run(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app, epochs=50, limit=2000, batch_size=20)
    app.button(key="train_start").click().run()
    engine = get_engine()
    engine.wait(since=0, timeout=60)
    while not any(event["kind"] == "batch" for event in engine.snapshot().events):
        engine.wait(since=engine.snapshot().next_index, timeout=5)
    app.run()
    assert app.button(key="train_start").disabled, "a second Start is refused while a job runs"
    assert "already running" in app.button(key="train_start").help
    with pytest.raises(EngineBusyError):
        engine.start(preset("strided"), limit=100)
    app.button(key="train_stop").click().run()
    snapshot = engine.join(timeout=120)
    assert snapshot.status == "stopped"
    app.run()
    assert "The run keeps its model and history so far." in app.warning[0].value
    run = list_runs(runs_dir, include_pretrained=False)[0]
    assert run.status == "stopped" and run.has_model


def test_rename_and_delete_a_run(app: AppTest, runs_dir: Path) -> None:
    open_train_page(app)
    set_small_job(app)
    app.button(key="train_start").click().run()
    run_id = get_engine().join(timeout=180).run_id
    app.run()
    app.text_input(key="train_new_name").set_value("my first model").run()
    app.button(key="train_rename").click().run()
    assert list_runs(runs_dir, include_pretrained=False)[0].name == "my first model"
    app.button(key="train_delete").click().run()
    assert not app.exception
    assert run_id not in [run.run_id for run in list_runs(runs_dir, include_pretrained=False)]
