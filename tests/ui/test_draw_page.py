"""The Draw page: prerequisites first, then a drawing (standing in for the canvas) through noise and the model."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
from base64 import b64encode
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import runs
from core.presets import preset
from core.spec import NoiseSpec
from tests.drawings import SEVEN, drawing
from tests.ui.conftest import DASHBOARD, active_run_picker, open_page
from tests.workers import KILLED, killed_during_next_request, wait_until_gone
from ui import canvas, state
from ui.resources import get_inference_worker

PAGE = "app_pages/draw.py"
PANELS = ["Your digit (28x28)", "Noisy input", "Model output", "Error vs clean"]
EMPTY_PROMPT = "Draw a digit on the canvas"


def _fake_canvas(monkeypatch: pytest.MonkeyPatch, pixels: np.ndarray | None) -> list[tuple[int, str, bool]]:
    """Makes the canvas return `pixels`; returns the (stroke width, key, disabled) of every call."""
    calls: list[tuple[int, str, bool]] = []

    def read_canvas(stroke_width: int, key: str, disabled: bool = False) -> np.ndarray | None:
        calls.append((stroke_width, key, disabled))
        return pixels

    monkeypatch.setattr(canvas, "read_canvas", read_canvas)
    return calls


def _open(app: AppTest) -> AppTest:
    return open_page(app, PAGE)


@pytest.fixture
def no_shipped_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No shipped runs: the trained run, which is no denoiser, is the only one, so the page draws with it."""
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")


def _image_captions(app: AppTest) -> list[str]:
    return [caption for image in app.image for caption in image.captions]


def test_without_a_model_the_page_asks_for_training(app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    _open(app)
    assert any("No trained model yet" in info.value for info in app.info)
    assert not _image_captions(app)


def test_an_untouched_canvas_gets_a_prompt(trained_app: AppTest) -> None:
    # The real canvas component, which in AppTest returns what it returns before any stroke: nothing.
    _open(trained_app)
    assert any(info.value.startswith(EMPTY_PROMPT) for info in trained_app.info)
    assert not _image_captions(trained_app)


def test_a_cleared_black_canvas_gets_a_prompt(trained_app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_canvas(monkeypatch, drawing([]))
    _open(trained_app)
    assert any(info.value.startswith(EMPTY_PROMPT) for info in trained_app.info)
    assert not trained_app.error


def test_a_drawing_is_shown_noisy_reconstructed_and_scored(
    trained_app: AppTest, no_shipped_runs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_canvas(monkeypatch, drawing(SEVEN))
    _open(trained_app)
    assert _image_captions(trained_app) == PANELS
    metrics = {metric.label: metric.value for metric in trained_app.metric}
    assert float(metrics["Binary cross-entropy"]) > 0
    assert trained_app.metric[0].delta.endswith(" vs test mean")  # The run's own test loss, for comparison.
    assert float(metrics["Mean squared error"]) >= 0
    assert any(caption.value.startswith("Updated in ") for caption in trained_app.caption)
    assert calls[-1] == (22, "draw_canvas_0", False)
    assert any("strided" in caption.value for caption in trained_app.caption)


@pytest.mark.parametrize("kind", ["gaussian", "salt_pepper", "block", "none"])
def test_every_noise_kind_runs(
    trained_app: AppTest, no_shipped_runs: None, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    _fake_canvas(monkeypatch, drawing(SEVEN))
    _open(trained_app)
    assert trained_app.selectbox(key="draw_noise_kind").value == "none"  # The trained run had no noise.
    trained_app.selectbox(key="draw_noise_kind").set_value(kind).run()
    if kind != "none":  # Without noise the amount and seed are disabled, as they mean nothing.
        trained_app.slider(key="draw_noise_amount").set_value(0.5).run()
        trained_app.number_input(key="draw_seed").set_value(3).run()
    assert not trained_app.exception, [exception.value for exception in trained_app.exception]
    assert _image_captions(trained_app) == PANELS
    hint = any("not trained as a denoiser" in caption.value for caption in trained_app.caption)
    assert hint == (kind != "none")


def test_new_noise_moves_to_the_next_seed(trained_app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_canvas(monkeypatch, drawing(SEVEN))
    _open(trained_app)
    trained_app.selectbox(key="draw_noise_kind").set_value("gaussian").run()
    trained_app.button(key="draw_new_noise").click().run()
    assert trained_app.number_input(key="draw_seed").value == 1


def test_clear_starts_a_new_canvas(trained_app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_canvas(monkeypatch, drawing(SEVEN))
    _open(trained_app)
    trained_app.slider(key="draw_brush_width").set_value(10).run()
    trained_app.button(key="draw_clear").click().run()
    assert calls[-1] == (10, "draw_canvas_1", False)


def test_a_test_digit_can_stand_in_for_a_drawing(trained_app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_canvas(monkeypatch, None)
    _open(trained_app)
    trained_app.toggle(key="draw_use_test_digit").set_value(True).run()
    assert _image_captions(trained_app) == ["Test digit 0: a 7", *PANELS[1:]]
    assert not trained_app.info  # No prompt to draw: the test digit is the input.
    assert calls[-1][2], "the canvas is shown disabled, keeping the drawing"
    trained_app.number_input(key="draw_test_index").set_value(1).run()
    assert _image_captions(trained_app)[0] == "Test digit 1: a 2"
    trained_app.button(key="draw_random_digit").click().run()
    assert not trained_app.exception
    assert len(_image_captions(trained_app)) == 4


def test_the_test_digit_is_kept_while_drawing(trained_app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_canvas(monkeypatch, drawing(SEVEN))
    _open(trained_app)
    trained_app.toggle(key="draw_use_test_digit").set_value(True).run()
    trained_app.number_input(key="draw_test_index").set_value(42).run()
    trained_app.toggle(key="draw_use_test_digit").set_value(False).run()
    assert _image_captions(trained_app)[0] == "Your digit (28x28)"
    trained_app.toggle(key="draw_use_test_digit").set_value(True).run()
    assert trained_app.number_input(key="draw_test_index").value == 42


def _canvas_sends(strokes: list[list[tuple[int, int]]]) -> dict:
    """What the browser's canvas sends after `strokes`: its fabric.js JSON (a path a stroke) and its PNG."""
    png = io.BytesIO()
    Image.fromarray(drawing(strokes)).save(png, format="PNG")
    paths = [{"type": "Path", "path": [["M", *line[0]], *[["L", *point] for point in line[1:]]]} for line in strokes]
    data_url = "data:image/png;base64," + b64encode(png.getvalue()).decode()
    return {"raw": {"version": "6.0.0", "objects": paths}, "data": data_url}


def test_a_drawing_and_the_settings_survive_a_visit_to_another_page(
    trained_app: AppTest, no_shipped_runs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real `read_canvas` and `st_canvas`; only the component's answer is the browser's, as a canvas gives it: none
    # until a stroke, and none again from a canvas mounted afresh.
    _open(trained_app)  # Imports the canvas's module in Streamlit's runtime, where its component can be declared.
    import streamlit_drawable_canvas

    real_component = streamlit_drawable_canvas.out
    sent: dict[str, dict] = {}  # Canvas key -> what its canvas in the browser sends.
    starts: list[tuple[str, dict]] = []  # (canvas key, the drawing it is told to start from) of every canvas drawn.

    def component(*, data: dict, key: str, default: dict, **kwargs: object) -> dict:
        if key not in st.session_state:  # Streamlit holds no canvas under this key: the browser mounts a new one.
            sent.pop(key, None)
        real_component(data=data, key=key, default=default, **kwargs)
        starts.append((key, data["initialDrawing"]))
        return {"drawing": sent.get(key, default["drawing"]), "backgroundFit": None}

    monkeypatch.setattr(streamlit_drawable_canvas, "out", component)
    blank = {"objects": [], "background": "#000000"}
    trained_app.run()
    assert starts[-1] == ("draw_canvas_0", blank)
    trained_app.slider(key="draw_brush_width").set_value(10).run()
    trained_app.selectbox(key="draw_noise_kind").set_value("gaussian").run()
    trained_app.number_input(key="draw_seed").set_value(3).run()
    sent["draw_canvas_0"] = _canvas_sends(SEVEN)
    trained_app.run()
    crossed_seven = _canvas_sends([*SEVEN, [(100, 150), (180, 150)]])
    sent["draw_canvas_0"] = crossed_seven  # A second stroke.
    trained_app.run()
    assert starts[-1] == ("draw_canvas_0", blank), "a start changed while drawing would reload it, undo lost"
    shown = (_image_captions(trained_app), [(metric.label, metric.value) for metric in trained_app.metric])
    assert shown[0] == PANELS

    trained_app.switch_page("app_pages/home.py").run()  # Streamlit forgets the widgets of a page not shown.
    trained_app.switch_page(PAGE).run()
    assert not trained_app.exception
    assert starts[-1] == ("draw_canvas_0", {**crossed_seven["raw"], "background": "#000000"})
    assert (_image_captions(trained_app), [(metric.label, metric.value) for metric in trained_app.metric]) == shown
    assert trained_app.slider(key="draw_brush_width").value == 10
    assert trained_app.selectbox(key="draw_noise_kind").value == "gaussian"
    assert trained_app.number_input(key="draw_seed").value == 3
    trained_app.button(key="draw_clear").click().run()
    assert starts[-1] == ("draw_canvas_1", blank)
    assert any(info.value.startswith(EMPTY_PROMPT) for info in trained_app.info)


def test_a_worker_killed_during_a_stroke_is_reported_and_the_next_stroke_works(
    trained_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_canvas(monkeypatch, drawing(SEVEN))
    _open(trained_app)
    with killed_during_next_request(get_inference_worker()):
        trained_app.run()
    assert not trained_app.exception
    assert [error.value for error in trained_app.error] == [KILLED]
    assert not _image_captions(trained_app)
    trained_app.run()  # The next stroke: a new worker answers it.
    assert not trained_app.error
    assert _image_captions(trained_app) == PANELS


def test_a_worker_that_died_between_strokes_is_replaced_unseen(
    trained_app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_canvas(monkeypatch, drawing(SEVEN))
    _open(trained_app)
    worker = get_inference_worker()
    killed = worker.pid
    os.kill(killed, signal.SIGKILL)
    wait_until_gone(killed)
    trained_app.run()
    assert not trained_app.exception and not trained_app.error
    assert _image_captions(trained_app) == PANELS
    assert worker.pid not in (None, killed)


# --- A denoiser by default ---------------------------------------------------------------------------------

WORSE_DENOISER, BEST_DENOISER = "20000101-000001-worse-denoiser", "20000101-000002-best-denoiser"


@pytest.fixture
def denoisers_app(trained_runs_dir: Path, trained_run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The dashboard over a store with the trained run (the newest) and two older copies of it relabelled as
    denoisers (Gaussian noise 0.4) with different noisy test losses; no shipped runs."""
    store = tmp_path / "denoiser-runs"
    shutil.copytree(trained_runs_dir / trained_run_id, store / trained_run_id)
    for run_id, noisy_test_loss in ((WORSE_DENOISER, 0.12), (BEST_DENOISER, 0.10)):
        path = store / run_id
        shutil.copytree(trained_runs_dir / trained_run_id, path)
        config = json.loads((path / "config.json").read_text())
        config["spec"]["training"]["noise"] = {"kind": "gaussian", "amount": 0.4}
        (path / "config.json").write_text(json.dumps(config))
        runs.update_summary(path, run_id=run_id, name=run_id[16:], test_noisy_loss=noisy_test_loss)
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(store))
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    return AppTest.from_file(DASHBOARD, default_timeout=60)


def test_the_best_denoiser_draws_until_the_user_picks_a_run(
    denoisers_app: AppTest, trained_run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_canvas(monkeypatch, drawing(SEVEN))
    denoisers_app.run()
    assert active_run_picker(denoisers_app).value == trained_run_id  # The newest run, elsewhere.
    denoisers_app.switch_page(PAGE).run()
    assert not denoisers_app.exception
    assert active_run_picker(denoisers_app).value == BEST_DENOISER  # The sidebar says so too.
    assert any("the best denoiser here, picked" in caption.value for caption in denoisers_app.caption)
    # Its own noise, so the first drawing is noisy and cleaned up, scored against the run's noisy test loss.
    assert denoisers_app.selectbox(key="draw_noise_kind").value == "gaussian"
    assert denoisers_app.slider(key="draw_noise_amount").value == 0.4
    assert _image_captions(denoisers_app) == PANELS
    assert denoisers_app.metric[0].delta.endswith(" vs noisy test mean")

    active_run_picker(denoisers_app).set_value(trained_run_id).run()  # The user can still pick any run.
    assert active_run_picker(denoisers_app).value == trained_run_id
    assert not any("picked" in caption.value for caption in denoisers_app.caption)
    denoisers_app.switch_page("app_pages/home.py").run()
    denoisers_app.switch_page(PAGE).run()
    assert active_run_picker(denoisers_app).value == trained_run_id


def test_a_run_picked_before_drawing_is_kept(denoisers_app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_canvas(monkeypatch, drawing(SEVEN))
    denoisers_app.run()
    active_run_picker(denoisers_app).set_value(WORSE_DENOISER).run()
    denoisers_app.switch_page(PAGE).run()
    assert not denoisers_app.exception
    assert active_run_picker(denoisers_app).value == WORSE_DENOISER
    assert not any("picked" in caption.value for caption in denoisers_app.caption)


def _run(run_id: str, noise: str = "gaussian", loss: str = "binary_crossentropy", **summary: float) -> runs.RunInfo:
    spec = preset("denoising").with_training(noise=NoiseSpec(noise, 0.4 if noise != "none" else 0.0), loss=loss)
    return runs.RunInfo(run_id, Path(run_id), "completed", run_id, summary, spec)


@pytest.mark.parametrize(
    ("candidates", "best"),
    [
        ([], None),
        ([_run("plain", "none", test_noisy_loss=0.05)], None),  # A figure without noise is no denoiser's.
        ([_run("a", test_noisy_loss=0.09), _run("b", test_noisy_loss=0.08)], "b"),
        ([_run("training"), _run("done", test_noisy_loss=0.2)], "done"),  # No figure yet: after those with one.
        ([_run("mse", loss="mse", test_noisy_loss=0.01), _run("bce", test_noisy_loss=0.08)], "bce"),
        ([_run("first"), _run("second")], "first"),  # Equals keep their order: newest first, then shipped.
        ([_run("salt", "salt_pepper", test_noisy_loss=0.07), _run("gauss", test_noisy_loss=0.08)], "salt"),
    ],
)
def test_the_best_denoiser_has_the_lowest_noisy_test_bce(candidates: list[runs.RunInfo], best: str | None) -> None:
    chosen = state.best_denoiser(candidates)
    assert (chosen.run_id if chosen else None) == best


def test_a_first_start_draws_with_the_shipped_denoiser(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_canvas(monkeypatch, drawing(SEVEN))
    app.run()
    assert active_run_picker(app).value.endswith("-seed-fast")  # The default elsewhere: the reference architecture.
    app.switch_page(PAGE).run()
    assert not app.exception
    assert active_run_picker(app).value.endswith("-denoising")
    assert app.selectbox(key="draw_noise_kind").value == "gaussian"
    assert _image_captions(app) == PANELS
