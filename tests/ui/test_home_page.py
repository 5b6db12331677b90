"""The Home page's pictures: the shape flow of the architecture being edited, and test digits through the active model.

The digits come from the real inference worker; the models are the small trained run and copies of it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core import runs
from core.diagram import FAULT_COLOUR
from core.pictures import grid_size, png_size
from core.spec import conv2d_transpose
from tests.ui.conftest import DASHBOARD
from ui.home import HOME_COLUMNS, HOME_DIGITS, digits_png
from ui.state import SPEC_KEY

LINKS = {"Edit the architecture": "build", "Browse its reconstructions": "reconstructions"}  # Label: page url.


@pytest.fixture(autouse=True)
def no_pretrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty stand-in for the shipped runs, so each test sees exactly the store it was given."""
    (tmp_path / "no-pretrained").mkdir()
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")


def _flow_figure(app: AppTest) -> dict[str, Any]:
    (chart,) = [element for element in app.get("plotly_chart") if element.proto.id.endswith("home_flow_figure")]
    return json.loads(chart.proto.spec)


def _copy(trained_runs_dir: Path, trained_run_id: str, store: Path, noise: dict[str, Any] | None = None) -> Path:
    path = store / trained_run_id
    shutil.copytree(trained_runs_dir / trained_run_id, path)
    if noise is not None:
        config = json.loads((path / "config.json").read_text())
        config["spec"]["training"]["noise"] = noise
        (path / "config.json").write_text(json.dumps(config))
    return path


def test_without_a_model_the_shape_flow_shows_and_training_is_offered(app: AppTest) -> None:
    app.run()
    assert not app.exception
    labels = [trace["text"] for trace in _flow_figure(app)["data"]]
    assert len(labels) == 1 + 7  # The input, then the seed preset's 3 encoder, 3 decoder and 1 output layers.
    assert any("No trained model yet" in info.value for info in app.info)
    assert not app.image
    assert [link.value for link in app.page_link][0] == "Edit the architecture"


def test_the_active_model_reconstructs_digits_under_their_page_links(trained_app: AppTest) -> None:
    trained_app.run()
    assert not trained_app.exception and not trained_app.warning
    (image,) = trained_app.image
    assert image.captions == ["The first test image of each digit 0–7 and the model's output."]
    links = {link.value: link.proto.page for link in trained_app.page_link}
    assert {label: links.get(label) for label in LINKS} == LINKS
    text = " ".join(element.value for element in trained_app.markdown)
    assert "parameters · 1 epoch" in text and "1 epochs" not in text  # The run trained one epoch.


def test_the_picture_has_a_row_per_panel_and_a_denoiser_gets_its_noise(
    trained_runs_dir: Path, trained_run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(trained_runs_dir))
    plain = runs.read_run(trained_runs_dir / trained_run_id)
    assert png_size(digits_png(plain)) == grid_size(HOME_DIGITS, 2, HOME_COLUMNS, titles=False)
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "store"))
    path = _copy(trained_runs_dir, trained_run_id, tmp_path / "store", {"kind": "gaussian", "amount": 0.4})
    denoiser = runs.read_run(path)
    assert png_size(digits_png(denoiser)) == grid_size(HOME_DIGITS, 3, HOME_COLUMNS, titles=False)


def test_a_denoiser_is_shown_with_its_noise(
    trained_runs_dir: Path, trained_run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy(trained_runs_dir, trained_run_id, tmp_path / "store", {"kind": "salt_pepper", "amount": 0.1})
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "store"))
    app = AppTest.from_file(DASHBOARD, default_timeout=60).run()
    assert not app.exception
    assert app.image[0].captions == [
        "The first test image of each digit 0–7 and the model's output, given them with salt pepper noise 0.1."
    ]


def test_a_damaged_model_file_is_a_message_not_a_traceback(
    trained_runs_dir: Path, trained_run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _copy(trained_runs_dir, trained_run_id, tmp_path / "store")
    (path / "model.keras").write_bytes(b"not a Keras archive")
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "store"))
    app = AppTest.from_file(DASHBOARD, default_timeout=60).run()
    assert not app.exception and not app.image
    (warning,) = app.warning
    assert warning.value.startswith("The test digits cannot be shown. The model file of run ")
    assert any(link.value == "Browse its reconstructions" for link in app.page_link)  # The rest of the page stays.


def test_an_invalid_architecture_still_draws_its_flow_up_to_the_fault(app: AppTest) -> None:
    app.run()
    spec = app.session_state[SPEC_KEY]
    app.session_state[SPEC_KEY] = spec.with_layer("decoder", 2, conv2d_transpose(32, strides=3))  # 26 -> 78.
    app.run()
    assert not app.exception
    assert app.error[0].value.startswith("The current architecture is invalid:")
    colours = [trace["fillcolor"] for trace in _flow_figure(app)["data"]]
    assert FAULT_COLOUR in colours
