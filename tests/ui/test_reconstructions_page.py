"""The Reconstructions page: browsing the test set through the active run, inspecting one image, the summary."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core import pictures, runs
from tests.ui.conftest import DASHBOARD, open_page
from tests.workers import KILLED, killed_during_next_request
from ui.resources import get_inference_worker

PAGE = "app_pages/reconstructions.py"
CARD = re.compile(r"\*\*#(\d+)\*\* · digit (\d)  \n(?:\*\*)?BCE ([\d.]+)(?:\*\*)?  \n(?:\*\*)?MSE ([\d.]+)(?:\*\*)?")


@pytest.fixture(autouse=True)
def no_pretrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hides the shipped runs behind an empty directory, so each test sees exactly the store it was given."""
    (tmp_path / "no-pretrained").mkdir()
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")


@pytest.fixture
def deferred_downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """The callables behind deferred download buttons, by file id, as Streamlit would run them on a click."""
    callables: dict[str, Callable[[], Any]] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self: MediaFileManager, data_callable: Callable[[], Any], *arguments: Any, **keywords: Any) -> str:
        file_id = original(self, data_callable, *arguments, **keywords)
        callables[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return callables


def open_reconstructions(app: AppTest) -> AppTest:
    return open_page(app, PAGE)


def cards(app: AppTest) -> list[tuple[int, int, float, float]]:
    """(index, digit, BCE, MSE) of each card in the grid, in order."""
    found = [CARD.fullmatch(caption.value) for caption in app.main.caption]
    return [(int(m[1]), int(m[2]), float(m[3]), float(m[4])) for m in found if m]


def inspected(app: AppTest) -> list[str]:
    """The titles of the inspected images on screen (the dialog's subheader)."""
    return [subheader.value for subheader in app.subheader if subheader.value.startswith("Test image")]


def array(value: Any) -> np.ndarray:
    """A Plotly JSON array, which Plotly writes as base64 bytes with their dtype for NumPy data."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def plotly_spec(app: AppTest, key: str) -> dict[str, Any]:
    charts = [chart for chart in app.get("plotly_chart") if chart.proto.id.endswith(key)]
    assert len(charts) == 1, f"no single chart {key}"
    return json.loads(charts[0].proto.spec)


def test_without_a_model_the_page_says_where_to_train_one(app: AppTest) -> None:
    open_reconstructions(app)
    assert "No trained model yet" in app.info[0].value
    assert not app.image and not app.get("plotly_chart")


def test_the_page_opens_on_the_worst_16_of_all_10000_images(trained_app: AppTest) -> None:
    open_reconstructions(trained_app)
    shown = cards(trained_app)
    assert len(shown) == len(trained_app.image) == 16
    errors = [bce for _, _, bce, _ in shown]
    assert errors == sorted(errors, reverse=True)
    header = trained_app.markdown[0].value
    assert header.startswith("**strided** · completed · 1 epoch · test BCE **")
    assert "(floor 0.0581, +" in header and "(floor 0)" in header
    assert trained_app.pagination[0].num_pages == 625
    assert "Images **1–16** of **10,000** · all digits · worst first by BCE" in trained_app.markdown[1].value


SORTS = [
    ("best", "bce", lambda card: card[2]),
    ("worst", "mse", lambda card: -card[3]),
    ("best", "mse", lambda card: card[3]),
    ("index", "bce", lambda card: card[0]),
]


def test_sorting_orders_the_cards(trained_app: AppTest) -> None:
    open_reconstructions(trained_app)
    for order, error, key in SORTS:  # One app for all orders: each page run costs a second.
        trained_app.segmented_control(key="reconstructions_error").set_value(error).run()
        trained_app.segmented_control(key="reconstructions_order").set_value(order).run()
        shown = cards(trained_app)
        assert len(shown) == 16, (order, error)
        assert [key(card) for card in shown] == sorted(key(card) for card in shown), (order, error)
    assert [index for index, *_ in shown] == list(range(16))


def test_filtering_by_digit_shows_only_that_digit_and_its_count(trained_app: AppTest) -> None:
    open_reconstructions(trained_app)
    trained_app.segmented_control(key="reconstructions_digit").set_value("3").run()
    shown = cards(trained_app)
    assert len(shown) == 16 and {digit for _, digit, _, _ in shown} == {3}
    assert "of **1,010** · digit 3" in trained_app.markdown[1].value
    assert trained_app.pagination[0].num_pages == 64


def test_64_per_page_and_the_second_page_continue_the_order(trained_app: AppTest) -> None:
    open_reconstructions(trained_app)
    trained_app.selectbox(key="reconstructions_per_page").set_value(64).run()
    first = cards(trained_app)
    assert len(first) == len(trained_app.image) == 64
    trained_app.pagination[0].select(2).run()
    second = cards(trained_app)
    assert len(second) == 64
    assert not {card[0] for card in first} & {card[0] for card in second}
    assert min(card[2] for card in first) >= max(card[2] for card in second)
    assert "Images **65–128** of **10,000**" in trained_app.markdown[1].value


def test_a_new_filter_starts_at_its_first_page(trained_app: AppTest) -> None:
    open_reconstructions(trained_app)
    trained_app.pagination[0].select(3).run()
    trained_app.segmented_control(key="reconstructions_digit").set_value("7").run()
    assert trained_app.pagination[0].value == 1


def test_the_difference_toggle_adds_the_heat_map_row(
    trained_app: AppTest, deferred_downloads: dict[str, Callable[[], Any]]
) -> None:
    open_reconstructions(trained_app)
    trained_app.toggle(key="reconstructions_difference").set_value(True).run()
    assert not trained_app.exception
    legend = [caption.value for caption in trained_app.main.caption if "top to bottom" in caption.value]
    assert legend == ["Original, Reconstruction, Difference (blue: ink missing, red: ink added), top to bottom."]
    png = deferred_downloads[download_button(trained_app, "reconstructions_download").proto.deferred_file_id]()
    assert pictures.png_size(png) == pictures.grid_size(16, 3, 16, titles=True, legend=True)


def download_button(app: AppTest, key: str) -> Any:
    buttons = [button for button in app.get("download_button") if button.proto.id.endswith(key)]
    assert len(buttons) == 1
    return buttons[0]


def test_the_grid_downloads_as_the_tutorials_png(
    trained_app: AppTest, deferred_downloads: dict[str, Callable[[], Any]]
) -> None:
    open_reconstructions(trained_app)
    button = download_button(trained_app, "reconstructions_download")
    assert button.proto.label == "Download grid (PNG)"
    png = deferred_downloads[button.proto.deferred_file_id]()
    assert png.startswith(pictures.PNG_SIGNATURE)
    assert pictures.png_size(png) == pictures.grid_size(16, 2, 16, titles=True, legend=False)


def test_inspect_opens_the_image_large_with_its_errors(
    trained_app: AppTest, deferred_downloads: dict[str, Callable[[], Any]]
) -> None:
    open_reconstructions(trained_app)
    (first, digit, bce, mse), (second, *_) = cards(trained_app)[:2]
    trained_app.button(key=f"reconstructions_inspect_{first}").click().run()
    assert not trained_app.exception
    assert inspected(trained_app) == [f"Test image #{first} · digit {digit}"]
    metrics = {metric.label: metric for metric in trained_app.metric}
    assert metrics["BCE"].value == f"{bce:.4f}" and "above its floor" in metrics["BCE"].delta
    assert metrics["MSE"].value == f"{mse:.4f}"
    assert metrics["Rank by BCE"].value == "1 of 10,000"
    assert len(trained_app.get("plotly_chart")) == 3  # The large view and the two summary charts.
    assert trained_app.button(key="reconstructions_previous").disabled
    png = deferred_downloads[download_button(trained_app, "reconstructions_detail_download").proto.deferred_file_id]()
    assert pictures.png_size(png) == pictures.grid_size(1, 3, 16, titles=True, legend=True)
    trained_app.button(key="reconstructions_next").click().run()
    assert trained_app.session_state["reconstructions_selected"] == second
    # The browser reruns only the dialog here; AppTest reruns the whole page, where the request to open the
    # dialog is used up, so a later rerun never opens it again by itself.
    assert inspected(trained_app) == []


def test_typing_a_test_index_inspects_that_image(trained_app: AppTest) -> None:
    open_reconstructions(trained_app)
    trained_app.number_input(key="reconstructions_lookup").set_value(7).run()
    assert not trained_app.exception
    assert inspected(trained_app) == ["Test image #7 · digit 9"]
    assert trained_app.number_input(key="reconstructions_lookup").value is None  # Ready for the next index.


def test_summary_charts_show_each_digit_and_the_floor(trained_app: AppTest) -> None:
    open_reconstructions(trained_app)
    bars = plotly_spec(trained_app, "reconstructions_class_chart")
    assert [trace["type"] for trace in bars["data"]] == ["bar", "scatter"]
    assert bars["data"][0]["x"] == [str(digit) for digit in range(10)]
    histogram = plotly_spec(trained_app, "reconstructions_histogram")
    assert array(histogram["data"][0]["y"]).sum() == 10_000
    floor_lines = [shape for shape in histogram["layout"]["shapes"] if shape["line"]["dash"] == "dash"]
    assert [line["x0"] for line in floor_lines] == [pytest.approx(0.0580797823)]
    trained_app.segmented_control(key="reconstructions_digit").set_value("3").run()
    histogram = plotly_spec(trained_app, "reconstructions_histogram")
    assert array(histogram["data"][0]["y"]).sum() == 1010
    assert histogram["layout"]["title"]["text"] == "Per-image BCE, digit 3 (1,010 images)"


def test_a_denoiser_is_shown_on_noisy_inputs(
    trained_runs_dir: Path, trained_run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The trained run, relabelled as a denoiser: the page only reads the noise from the run's spec.
    store = tmp_path / "denoiser-runs"
    shutil.copytree(trained_runs_dir / trained_run_id, store / trained_run_id)
    config_path = store / trained_run_id / "config.json"
    config = json.loads(config_path.read_text())
    config["spec"]["training"]["noise"] = {"kind": "gaussian", "amount": 0.4}
    config_path.write_text(json.dumps(config))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(store))

    app = open_reconstructions(AppTest.from_file(DASHBOARD, default_timeout=60))
    assert app.segmented_control(key="reconstructions_inputs").value == "noisy"
    assert "denoiser · test BCE on noisy inputs" in app.markdown[0].value
    legend = [caption.value for caption in app.main.caption if "top to bottom" in caption.value]
    assert legend == ["Original, Noisy input, Reconstruction, top to bottom."]
    noisy_header = app.markdown[0].value
    app.segmented_control(key="reconstructions_inputs").set_value("clean").run()
    assert "on noisy inputs" not in app.markdown[0].value and app.markdown[0].value != noisy_header


def test_a_model_file_that_cannot_be_read_is_reported_not_raised(
    trained_runs_dir: Path, trained_run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "damaged-runs"
    shutil.copytree(trained_runs_dir / trained_run_id, store / trained_run_id)
    (store / trained_run_id / "model.keras").write_bytes(b"not a keras archive")
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(store))

    app = open_reconstructions(AppTest.from_file(DASHBOARD, default_timeout=60))
    assert f"The model file of run '{trained_run_id}' cannot be read" in app.error[0].value
    assert not app.image


def test_a_worker_killed_while_measuring_the_test_set_is_reported_and_the_next_run_works(
    trained_runs_dir: Path, trained_run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "fresh-runs"  # A store of its own, so that no report of this run is cached yet.
    shutil.copytree(trained_runs_dir / trained_run_id, store / trained_run_id)
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(store))

    app = AppTest.from_file(DASHBOARD, default_timeout=60)
    app.run()
    with killed_during_next_request(get_inference_worker()):
        app.switch_page(PAGE).run()
    assert not app.exception
    assert [error.value for error in app.error] == [KILLED]
    assert not app.image
    app.run()  # The next interaction: a new worker measures the test set.
    assert not app.exception and not app.error
    assert len(cards(app)) == len(app.image) == 16
