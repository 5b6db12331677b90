"""The Latent space page: prerequisites, the code's size and verdict, the map, the strip between two digits or two
drawings, and the strided preset's code for contrast.

The model is the shipped `seed-fast` run, the active run of an empty store. Every number and picture the page
shows is checked against Keras, called here on the same model file, and against the MNIST data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import latent, runs
from core.drawing import to_mnist
from core.mnist import load_mnist, scale
from core.model import build_model
from core.model_import import import_model
from core.presets import preset
from tests.drawings import ONE, SEVEN, drawing
from tests.ui.conftest import DASHBOARD, open_page
from tests.workers import KILLED, killed_during_next_request
from ui import canvas, state
from ui import latent as latent_ui
from ui.resources import get_inference_worker

pytestmark = pytest.mark.slow  # The page runs the model in a worker process.

PAGE = "app_pages/latent.py"
SEED_HEADLINE = "**3,872 values for 784 pixels: this bottleneck does not compress.**"


@pytest.fixture(scope="module")
def seed_fast_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for `pretrained/` holding a copy of the shipped seed-fast run alone."""
    directory = tmp_path_factory.mktemp("pretrained")
    shipped = next(runs.PRETRAINED_DIR.glob("*-seed-fast"))
    shutil.copytree(shipped, directory / shipped.name)
    return directory


@pytest.fixture(autouse=True)
def only_seed_fast_ships(seed_fast_only: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count on the seed-fast run being the shipped one and on no shipped run with a strided encoder,
    whatever else comes to ship in `pretrained/` later."""
    monkeypatch.setattr(runs, "PRETRAINED_DIR", seed_fast_only)


@pytest.fixture(scope="module")
def shipped_model() -> keras.Model:
    """The shipped run's model, loaded here by Keras from the same file the worker reads."""
    return keras.saving.load_model(next(runs.PRETRAINED_DIR.glob("*-seed-fast")) / "model.keras", compile=False)


@pytest.fixture
def strips(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], list[np.ndarray], list[str]]]:
    """Every strip the page draws: (row labels, rows of images, titles), passed on to the real `rows_png`."""
    drawn: list[tuple[list[str], list[np.ndarray], list[str]]] = []
    real = latent_ui.rows_png

    def spy(labels: list[str], rows: list[np.ndarray], titles: list[str] | None = None) -> bytes:
        drawn.append((list(labels), [np.asarray(row) for row in rows], list(titles or [])))
        return real(labels, rows, titles)

    monkeypatch.setattr(latent_ui, "rows_png", spy)
    return drawn


def _captions(app: AppTest) -> list[str]:
    return [caption for image in app.image for caption in image.captions]


def _metrics(app: AppTest) -> list[tuple[str, str]]:
    return [(metric.label, metric.value) for metric in app.metric]


def _keras_strip(model: keras.Model, start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    codes = np.asarray(model.get_layer("encoder")(np.stack([start, end])[..., np.newaxis], training=False))
    return np.asarray(model.get_layer("decoder")(latent.interpolate(codes[0], codes[1], steps), training=False))


def _figure(app: AppTest) -> dict:
    return json.loads(app.get("plotly_chart")[0].proto.spec)


def test_without_a_model_the_page_asks_for_training(app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    open_page(app, PAGE)
    assert any("No trained model yet" in info.value for info in app.info)
    assert not app.image and not app.get("plotly_chart")


def test_the_seed_code_is_said_not_to_compress_and_the_map_is_the_pca_of_keras_codes(
    app: AppTest, shipped_model: keras.Model, verified_mnist
) -> None:
    open_page(app, PAGE)
    encoder_shape = tuple(shipped_model.get_layer("encoder").output.shape[1:])
    assert encoder_shape == (22, 22, 8)
    assert app.warning[0].value == SEED_HEADLINE
    values = int(np.prod(encoder_shape))
    assert _metrics(app) == [("Code values", f"{values:,}"), ("Values per pixel", f"{values / 784:.2f}")]
    assert _metrics(app) == [("Code values", "3,872"), ("Values per pixel", "4.94")]
    assert "**A's code in this model (seed-fast): 22x22x8**" in [markdown.value for markdown in app.markdown]
    assert app.warning[1].value == latent.CodeSize(encoder_shape).verdict()

    indices = latent.sample_indices()
    codes = np.asarray(shipped_model.get_layer("encoder")(scale(verified_mnist.x_test[indices]), training=False))
    projection = latent.pca(codes)
    coordinates = projection.project(codes)
    first, second = (f"{share:.1%}" for share in projection.explained)
    assert any(caption.value.startswith("2,000 of the 10,000 test digits") and f"hold {first} and {second}" in
               caption.value for caption in app.caption)  # fmt: skip
    figure = _figure(app)
    labels = verified_mnist.y_test[indices]
    for digit in range(10):
        trace = figure["data"][digit]
        assert trace["name"] == str(digit)
        np.testing.assert_array_equal(trace["customdata"], indices[labels == digit])
        np.testing.assert_allclose(np.c_[trace["x"], trace["y"]], coordinates[labels == digit], atol=1e-3)
    marks = figure["data"][10]  # A and B (test digits 0 and 1), where their codes lie.
    assert marks["text"] == ["A", "B"]
    ends = np.asarray(shipped_model.get_layer("encoder")(scale(verified_mnist.x_test[:2]), training=False))
    np.testing.assert_allclose(np.c_[marks["x"], marks["y"]], projection.project(ends), atol=1e-3)


def test_the_strip_decodes_codes_between_two_test_digits_as_keras_does(
    app: AppTest, shipped_model: keras.Model, strips: list, verified_mnist
) -> None:
    open_page(app, PAGE)
    assert _captions(app)[:2] == ["A: test digit 0 (a 7)", "B: test digit 1 (a 2)"]
    app.number_input(key="latent_a_test_index").set_value(3).run()
    app.number_input(key="latent_b_test_index").set_value(7).run()
    app.slider(key="latent_steps").set_value(5).run()
    assert not app.exception and not app.error
    labels = verified_mnist.y_test
    start, end = scale(verified_mnist.x_test[3])[..., 0], scale(verified_mnist.x_test[7])[..., 0]
    assert _captions(app)[:2] == [f"A: test digit 3 (a {labels[3]})", f"B: test digit 7 (a {labels[7]})"]
    assert _captions(app)[2].startswith(
        f"5 steps from A, test digit 3 (a {labels[3]}), to B, test digit 7 (a {labels[7]})."
    )
    row_labels, rows, titles = strips[-1]
    assert row_labels == ["Decoded codes", "Blended pixels"] and titles == ["A", "0.25", "0.50", "0.75", "B"]
    np.testing.assert_allclose(rows[0], _keras_strip(shipped_model, start, end, 5), atol=1e-5)
    np.testing.assert_allclose(rows[0][[0, -1]], shipped_model(np.stack([start, end])[..., np.newaxis]), atol=1e-5)
    np.testing.assert_allclose(rows[1][2], (start + end) / 2, atol=1e-6)
    app.switch_page("app_pages/draw.py").run()  # Streamlit forgets the widgets of a page not shown...
    app.switch_page(PAGE).run()
    assert _captions(app)[:2] == [f"A: test digit 3 (a {labels[3]})", f"B: test digit 7 (a {labels[7]})"]
    assert app.slider(key="latent_steps").value == 5 and strips[-1][2] == titles  # ...the page keeps its ends.
    assert _captions(app)[3] == (
        "8 channels of 22x22, each from the code's smallest value (dark purple) to its largest (yellow)"
    )


def test_no_strided_run_says_how_to_train_one_with_its_code_size_from_keras(app: AppTest) -> None:
    open_page(app, PAGE)
    strided = build_model(preset("strided"), compile=False).get_layer("encoder")
    assert tuple(strided.output.shape[1:]) == (7, 7, 8)
    hint = app.info[0].value
    assert "the `strided` preset encodes each digit to 7x7x8 = 392 values, 0.50 of the image's 784 pixels." in hint
    assert "pick **strided** under *Preset* in the sidebar" in hint


def test_two_drawings_from_the_draw_page_can_be_the_ends(
    app: AppTest, shipped_model: keras.Model, strips: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_page(app, PAGE)
    app.segmented_control(key="latent_a_source").set_value("Drawing").run()
    assert [info.value for info in app.info] == ["Draw a digit on the Draw page to use it as A."]
    assert app.button(key="latent_a_take").disabled
    assert app.get("plotly_chart")  # The map still shows, without its marks.
    monkeypatch.setattr(canvas, "read_canvas", lambda stroke_width, key, disabled=False: drawing(SEVEN))
    app.switch_page("app_pages/draw.py").run()
    app.switch_page(PAGE).run()
    app.segmented_control(key="latent_a_source").set_value("Drawing").run()
    assert _captions(app)[0] == "A: your drawing"  # Taken on the first look.
    monkeypatch.setattr(canvas, "read_canvas", lambda stroke_width, key, disabled=False: drawing(ONE))
    app.switch_page("app_pages/draw.py").run()
    app.switch_page(PAGE).run()
    app.segmented_control(key="latent_b_source").set_value("Drawing").run()
    assert not app.exception and not app.error
    assert _captions(app)[:2] == ["A: your drawing", "B: your drawing"]
    seven, one = to_mnist(drawing(SEVEN)), to_mnist(drawing(ONE))
    _, rows, _ = strips[-1]
    np.testing.assert_allclose(rows[0], _keras_strip(shipped_model, seven, one, 8), atol=1e-5)
    app.button(key="latent_a_take").click().run()  # A takes the latest drawing too: now both are the one.
    _, rows, _ = strips[-1]
    np.testing.assert_allclose(rows[1], np.broadcast_to(one, rows[1].shape), atol=1e-6)


def test_beside_a_strided_run_its_7x7_code_of_a_is_shown(trained_app: AppTest, trained_run_id: str) -> None:
    shipped = next(runs.PRETRAINED_DIR.glob("*-seed-fast")).name
    trained_app.session_state[state.ACTIVE_RUN_KEY] = shipped
    open_page(trained_app, PAGE)
    assert trained_app.warning[0].value == SEED_HEADLINE
    assert [markdown.value for markdown in trained_app.markdown][-2:] == [
        "**A's code in this model (seed-fast): 22x22x8**",
        "**A's code in run strided, for contrast: 7x7x8**",
    ]
    model = keras.saving.load_model(
        runs.run_path(trained_run_id, runs.default_runs_dir()) / "model.keras", compile=False
    )
    code = np.asarray(model.get_layer("encoder")(scale(load_mnist().x_test[:1]), training=False))[0]
    assert code.shape == (7, 7, 8)
    assert _metrics(trained_app)[2:] == [("Code values", "392"), ("Values per pixel", "0.50")]
    assert _captions(trained_app)[-1].startswith("8 channels of 7x7")
    assert trained_app.info[-1].value.startswith("392 values for 784 pixels: this bottleneck compresses.")


def test_a_strided_active_run_is_said_to_compress(trained_app: AppTest) -> None:
    open_page(trained_app, PAGE)  # The trained strided run is the newest, so the active one.
    assert trained_app.info[0].value == "**392 values for 784 pixels: this bottleneck compresses.**"
    assert _metrics(trained_app) == [("Code values", "392"), ("Values per pixel", "0.50")]
    assert [markdown.value for markdown in trained_app.markdown][-1] == "**A's code in this model (strided): 7x7x8**"
    assert not trained_app.warning


def test_a_model_file_that_cannot_be_read_is_reported_not_raised(
    damaged_shipped_run: str,
) -> None:
    app = open_page(AppTest.from_file(DASHBOARD, default_timeout=60), PAGE)
    assert f"The model file of run '{damaged_shipped_run}' cannot be read" in app.error[0].value
    assert not app.image


def test_a_worker_killed_during_a_request_is_reported_and_the_next_run_works(app: AppTest, strips: list) -> None:
    open_page(app, PAGE)
    with killed_during_next_request(get_inference_worker()):
        app.number_input(key="latent_a_test_index").set_value(2).run()
    assert not app.exception
    assert [error.value for error in app.error] == [KILLED]
    app.run()
    assert not app.error and _captions(app)[0].startswith("A: test digit 2")
    assert len(strips[-1][1][0]) == 8


def test_an_imported_model_without_a_bottleneck_to_cut_at_is_refused_with_the_reason(
    app: AppTest, runs_dir: Path, tmp_path: Path
) -> None:
    image = keras.Input((28, 28, 1), name="input_layer")  # Named: Keras numbers unnamed ones per process.
    grown = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid", name="grow")
    flat = keras.Model(image, grown(keras.layers.Conv2D(4, 3, strides=2, padding="same", name="squeeze")(image)))
    flat.save(tmp_path / "flat.keras")
    import_model((tmp_path / "flat.keras").read_bytes(), "flat.keras", get_inference_worker(), runs_dir)
    open_page(app, PAGE)  # The imported run, the store's newest, is the active one.
    assert [error.value for error in app.error] == [
        "The model worker could not answer: ValueError: Invalid value for argument `model`. Expected an autoencoder "
        "with `encoder` and `decoder` sub-models, or a chain of layers whose encoder layers are named 'encoder_1_...', "
        "'encoder_2_...' and that has layers after them. Received a model with layers ['input_layer', 'squeeze', "
        "'grow']."
    ]
    assert not app.image and not app.get("plotly_chart")


def test_the_shipped_model_imported_shows_the_same_codes(app: AppTest, runs_dir: Path, strips: list) -> None:
    shipped = next(runs.PRETRAINED_DIR.glob("*-seed-fast")) / "model.keras"
    run = import_model(shipped.read_bytes(), "seed-fast.keras", get_inference_worker(), runs_dir)
    assert run.spec is None  # An imported run has no spec: the page reads the code's shape from the codes.
    open_page(app, PAGE)
    assert not app.error and app.warning[0].value == SEED_HEADLINE
    assert app.caption[0].value.startswith("Model: **seed-fast · imported")
    imported_strip = strips[-1][1][0]
    app.session_state[state.ACTIVE_RUN_KEY] = next(runs.PRETRAINED_DIR.glob("*-seed-fast")).name
    app.run()
    assert app.caption[0].value.startswith("Model: **seed-fast · completed · test 0.0598 · pretrained**")
    np.testing.assert_allclose(strips[-1][1][0], imported_strip, atol=1e-6)
