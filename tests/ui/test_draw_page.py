"""The Draw page: prerequisites first, then a drawing (standing in for the canvas) through noise and the model."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import runs
from tests.drawings import SEVEN, drawing
from tests.ui.conftest import open_page
from tests.workers import KILLED, killed_during_next_request, wait_until_gone
from ui import canvas
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
    trained_app: AppTest, trained_run_id: str, monkeypatch: pytest.MonkeyPatch
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
def test_every_noise_kind_runs(trained_app: AppTest, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
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
