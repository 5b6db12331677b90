"""The Layer explorer page: prerequisites, then every layer's maps, a layer's kernels and a channel up close.

The model is the shipped `seed-fast` run, the active run of an empty store. Every caption and number the page
shows is checked against Keras, called here on the same model file, and against `core.shapes`.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import explorer, runs
from core.mnist import load_mnist, scale
from core.model import feature_model
from core.presets import preset
from tests.drawings import SEVEN, drawing
from tests.ui.conftest import DASHBOARD, open_page
from tests.workers import KILLED, killed_during_next_request
from ui import canvas
from ui.resources import get_inference_worker

pytestmark = pytest.mark.slow  # The page runs the model in a worker process.

PAGE = "app_pages/explorer.py"


@pytest.fixture(scope="module")
def shipped() -> tuple[runs.RunInfo, keras.Model]:
    """The shipped run and its model, loaded here by Keras from the same file the worker reads."""
    run = runs.read_run(next(runs.PRETRAINED_DIR.glob("*-seed-fast")), read_only=True)
    return run, keras.saving.load_model(run.path / "model.keras", compile=False)


def _keras_maps(model: keras.Model, image: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(output)[0] for output in feature_model(model)(image.reshape(1, 28, 28, 1), training=False)]


def _captions(app: AppTest) -> list[str]:
    return [caption for image in app.image for caption in image.captions]


def _metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def test_without_a_model_the_page_asks_for_training(app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    open_page(app, PAGE)
    assert any("No trained model yet" in info.value for info in app.info)
    assert not app.image


def test_every_layer_is_shown_in_order_with_its_shape_and_the_first_channel_up_close(
    app: AppTest, shipped: tuple[runs.RunInfo, keras.Model]
) -> None:
    run, model = shipped
    open_page(app, PAGE)
    image = scale(load_mnist().x_test[0])[..., 0]
    expected = explorer.expected_layers(run.spec)  # core.shapes' inferred names and shapes, in order.
    keras_maps = _keras_maps(model, image)
    assert [values.shape for values in keras_maps] == [shape for _, shape in expected]  # Keras agrees.
    layer_captions = [explorer.layer_caption(name, shape) for name, shape in expected]
    assert _captions(app) == [
        "Test digit 0: a 7",
        *layer_captions,
        "encoder_1_conv2d: 3x3 kernels, Conv2D",
        "encoder_1_conv2d · channel 1 of 32 · 26x26",
    ]
    assert layer_captions[4] == "decoder_2_conv2d_transpose · 26x26x16"
    assert [subheader.value for subheader in app.subheader][:3] == [
        "Encoder", "Decoder: growing back to 28x28", "Output"
    ]  # fmt: skip
    assert "**Shape flow:** 28x28x1 → 26x26x32 → 24x24x16 → 22x22x8 → 24x24x8 → 26x26x16 → 28x28x32 → 28x28x1" in [
        markdown.value for markdown in app.markdown
    ]
    low, high = keras_maps[0][..., 0].min(), keras_maps[0][..., 0].max()
    assert _metrics(app) == {"Channel min": explorer.format_value(low), "Channel max": explorer.format_value(high)}
    assert any(caption.value.startswith("Rows: input channels 1-1 of 1; columns: output channels (filters) 1-16 of 32. "
                                        "Only the first 1x16 of the 1x32") for caption in app.caption)  # fmt: skip


def test_a_picked_layer_and_channel_show_its_kernels_range_and_map(
    app: AppTest, shipped: tuple[runs.RunInfo, keras.Model]
) -> None:
    run, model = shipped
    open_page(app, PAGE)
    app.number_input(key="explorer_test_index").set_value(1).run()
    app.selectbox(key="explorer_layer").set_value("decoder_2_conv2d_transpose").run()
    app.number_input(key="explorer_channel").set_value(5).run()
    assert not app.exception and not app.error
    values = _keras_maps(model, scale(load_mnist().x_test[1])[..., 0])[4][..., 4]
    assert _captions(app)[0] == "Test digit 1: a 2"
    assert _captions(app)[-2:] == [
        "decoder_2_conv2d_transpose: 3x3 kernels, Conv2DTranspose",
        "decoder_2_conv2d_transpose · channel 5 of 16 · 26x26",
    ]
    assert _metrics(app) == {
        "Channel min": explorer.format_value(values.min()),
        "Channel max": explorer.format_value(values.max()),
    }
    layer = model.get_layer("decoder").get_layer("decoder_2_conv2d_transpose")
    kernel, bias = layer.get_weights()
    scale_text = explorer.format_value(np.abs(kernel).max())  # All 8x16 pairs are shown.
    note = next(caption.value for caption in app.caption if caption.value.startswith("Rows: "))
    assert note == (
        "Rows: input channels 1-8 of 8; columns: output channels (filters) 1-16 of 16. Colours run from blue "
        f"(-{scale_text}) through white (0) to red (+{scale_text}), the largest weight shown. Bias: "
        f"{explorer.format_range(bias)}."
    )


def test_a_channel_beyond_a_narrower_layer_is_brought_into_its_range(app: AppTest) -> None:
    open_page(app, PAGE)
    app.number_input(key="explorer_channel").set_value(20).run()
    app.selectbox(key="explorer_layer").set_value("output_conv2d").run()
    assert not app.exception
    assert app.number_input(key="explorer_channel").value == 1
    assert _captions(app)[-1] == "output_conv2d · channel 1 of 1 · 28x28"


def test_the_digit_layer_and_channel_survive_a_visit_to_another_page(app: AppTest) -> None:
    open_page(app, PAGE)
    app.number_input(key="explorer_test_index").set_value(42).run()
    app.selectbox(key="explorer_layer").set_value("decoder_2_conv2d_transpose").run()
    app.number_input(key="explorer_channel").set_value(5).run()
    shown = _captions(app)
    app.switch_page("app_pages/home.py").run()  # Streamlit forgets the widgets of a page not shown.
    app.switch_page(PAGE).run()
    assert not app.exception
    assert app.number_input(key="explorer_test_index").value == 42
    assert app.selectbox(key="explorer_layer").value == "decoder_2_conv2d_transpose"
    assert app.number_input(key="explorer_channel").value == 5
    assert _captions(app) == shown


def test_the_drawing_from_the_draw_page_can_be_explored(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    open_page(app, PAGE)
    app.segmented_control(key="explorer_source").set_value("Your drawing").run()
    assert [info.value for info in app.info] == ["Draw a digit on the Draw page first, or pick a test digit."]
    assert not app.image
    monkeypatch.setattr(canvas, "read_canvas", lambda stroke_width, key, disabled=False: drawing(SEVEN))
    app.switch_page("app_pages/draw.py").run()
    app.switch_page(PAGE).run()
    app.segmented_control(key="explorer_source").set_value("Your drawing").run()
    assert not app.exception and not app.info
    assert _captions(app)[0] == "Your drawing from the Draw page"
    # Opening Draw made the shipped denoiser the active run, so that a first drawing is cleaned up at once:
    # the drawing, then each of its layers, then the two captions of the chosen channel.
    denoiser = preset("denoising")
    assert len(_captions(app)) == 1 + len(denoiser.encoder) + len(denoiser.decoder) + 1 + 2


def test_a_model_file_that_cannot_be_read_is_reported_not_raised(
    damaged_shipped_run: str,
) -> None:
    app = open_page(AppTest.from_file(DASHBOARD, default_timeout=60), PAGE)
    assert f"The model file of run '{damaged_shipped_run}' cannot be read" in app.error[0].value
    assert _captions(app) == ["Test digit 0: a 7"] or not app.image


def test_a_worker_killed_during_a_request_is_reported_and_the_next_run_works(app: AppTest) -> None:
    open_page(app, PAGE)
    with killed_during_next_request(get_inference_worker()):
        app.number_input(key="explorer_test_index").set_value(2).run()
    assert not app.exception
    assert [error.value for error in app.error] == [KILLED]
    app.run()
    assert not app.error and len(_captions(app)) == 1 + 7 + 2
