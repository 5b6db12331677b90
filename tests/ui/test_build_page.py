"""The Build page: the live shape flow, layer edits, faults shown where they are with their fix, and the Keras code."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.presets import preset
from core.shapes import infer_shapes
from core.spec import ExperimentSpec
from core.validation import spec_problem
from tests.ui.conftest import open_page

SEED_SHAPES = ["28×28×1", "26×26×32", "24×24×16", "22×22×8", "24×24×8", "26×26×16", "28×28×32", "28×28×1"]


def open_build_page(app: AppTest) -> AppTest:
    return open_page(app, "app_pages/build.py")


def shapes(app: AppTest) -> list[str]:
    return list(app.dataframe[0].value["Output shape"])


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def texts(elements: object) -> str:
    return "\n".join(element.value for element in elements)


def spec(app: AppTest) -> ExperimentSpec:
    return app.session_state["studio_spec"]


def test_seed_shape_flow(app: AppTest) -> None:
    open_build_page(app)
    assert shapes(app) == SEED_SHAPES
    assert list(app.dataframe[0].value["Params"]) == [0, 320, 4_624, 1_160, 584, 1_168, 4_640, 289]
    assert metrics(app) == {
        "Total parameters": "12,785",
        "Bottleneck": "22×22×8",
        "Code values": "3,872",
        "Compression": "0.20×",
    }
    assert "is larger than the 784-pixel input" in texts(app.warning)
    assert "does not compress" in texts(app.warning)
    assert not app.error
    assert [link.value for link in app.page_link if link.value.startswith("Valid")] == [
        "Valid: 28×28×1 → 22×22×8 → 28×28×1. Train it"
    ]
    assert app.button(key="build_reset").disabled  # Nothing to reset yet.
    code = app.code[0].value
    assert "Conv2DTranspose" in code and code.startswith('"""The `seed` autoencoder in plain Keras 3')


def test_preset_switch_refreshes_the_table_and_the_editors(app: AppTest) -> None:
    open_build_page(app)
    app.selectbox(key="build_encoder_0_kernel_size").set_value(5).run()  # An edit the switch must replace.
    app.selectbox(key="sidebar_preset").set_value("strided").run()
    assert shapes(app) == ["28×28×1", "14×14×32", "7×7×16", "7×7×8", "14×14×16", "28×28×32", "28×28×1"]
    assert metrics(app)["Compression"] == "2.0×"
    assert "2.0× compression" in texts(app.info)
    assert spec(app) == preset("strided")
    # The editors show the new preset's layers: stride 2, kernel 3, and two decoder rows.
    assert app.selectbox(key="build_encoder_0_strides").value == 2
    assert app.selectbox(key="build_encoder_0_kernel_size").value == 3
    assert app.selectbox(key="build_decoder_0_output_padding").value == "auto"
    assert "build_decoder_2_type" not in [selectbox.key for selectbox in app.selectbox]


def test_add_layer(app: AppTest) -> None:
    open_build_page(app)
    app.menu_button(key="build_encoder_add").click("Conv2D").run()
    encoder = spec(app).encoder
    assert [layer.filters for layer in encoder] == [32, 16, 8, 8]
    assert (encoder[-1].padding, encoder[-1].kernel_size) == ("same", 3)
    assert spec(app).name == "seed-edited"
    assert shapes(app)[4] == "22×22×8" and not app.error  # A "same" convolution keeps the flow valid.
    assert app.selectbox(key="build_encoder_3_type").value == "Conv2D"
    assert not app.button(key="build_reset").disabled


def test_remove_layer_reports_the_fault_and_its_fix(app: AppTest) -> None:
    open_build_page(app)
    app.menu_button(key="build_decoder_2_menu").click("remove").run()
    assert [layer.filters for layer in spec(app).decoder] == [8, 16]
    message = texts(app.error)
    assert "The encoder ends at 22x22x8, the decoder at 26x26x16." in message
    assert "Fix: set padding='same' on encoder layer 3." in message
    assert spec_problem(spec(app)) is not None
    assert "Keras code appears when the architecture is valid" in texts(app.info)
    assert not app.code


def test_reorder_layers(app: AppTest) -> None:
    open_build_page(app)
    app.menu_button(key="build_encoder_0_menu").click("down").run()
    assert [layer.filters for layer in spec(app).encoder] == [16, 32, 8]
    assert app.number_input(key="build_encoder_0_filters").value == 16
    assert app.number_input(key="build_encoder_1_filters").value == 32
    app.menu_button(key="build_encoder_2_menu").click("up").run()
    assert [layer.filters for layer in spec(app).encoder] == [16, 8, 32]
    # The first layer cannot move up, nor the last down.
    assert "up" not in app.menu_button(key="build_encoder_0_menu").options
    assert "down" not in app.menu_button(key="build_encoder_2_menu").options


def test_duplicate_and_remove_keep_the_other_layers(app: AppTest) -> None:
    open_build_page(app)
    app.menu_button(key="build_decoder_0_menu").click("duplicate").run()
    assert [layer.filters for layer in spec(app).decoder] == [8, 8, 16, 32]
    app.menu_button(key="build_decoder_1_menu").click("remove").run()
    assert spec(app).decoder == preset("seed").decoder
    assert spec(app).name == "seed"  # Back to the preset's layers, back to its name.


def test_broken_output_shape_shows_the_fix_and_applying_it_makes_it_valid(app: AppTest) -> None:
    open_build_page(app)
    app.selectbox(key="build_decoder_2_kernel_size").set_value(4).run()
    assert spec(app).decoder[2].kernel_size == 4
    message = texts(app.error)
    assert "the output is 29x29x1 but must match the input, 28x28x1" in message
    assert "Fix: set kernel_size=3 on decoder layer 3." in message
    assert spec_problem(spec(app)) is not None
    assert shapes(app)[-2:] == ["29×29×32", "29×29×1"]
    assert list(app.dataframe[0].value["Note"])[-2:] == ["fix: kernel_size", "⚠ not 28×28×1"]
    markdown = texts(app.markdown)
    assert "Suggested fix: `kernel_size=3` here." in markdown
    assert "The output must be 28×28×1" in markdown
    [train_link] = [link for link in app.page_link if link.value.startswith("Training is disabled")]
    assert train_link.proto.disabled

    app.button(key="build_apply_fix").click().run()
    assert not app.error
    assert spec_problem(spec(app)) is None
    assert spec(app) == preset("seed")
    assert shapes(app) == SEED_SHAPES
    assert "Conv2DTranspose" in app.code[0].value


def test_fixing_by_hand_makes_it_valid_again(app: AppTest) -> None:
    open_build_page(app)
    app.selectbox(key="build_decoder_2_kernel_size").set_value(4).run()
    assert app.error
    app.selectbox(key="build_decoder_2_kernel_size").set_value(3).run()
    assert not app.error and spec_problem(spec(app)) is None


def test_argument_fault_is_marked_at_its_layer(app: AppTest) -> None:
    open_build_page(app)
    app.selectbox(key="sidebar_preset").set_value("strided").run()
    app.selectbox(key="build_encoder_0_dilation_rate").set_value(2).run()
    assert "Keras does not support strides > 1 together with dilation_rate > 1" in texts(app.error)
    assert "`dilation_rate` is at fault here" in texts(app.markdown)
    # The dilation rate lives under the encoder's "More arguments", which the fault labels and opens.
    [opened] = [expander for expander in app.expander if expander.label.endswith("⚠")]
    assert opened.proto.expanded
    assert list(app.dataframe[0].value["Output shape"]) == ["28×28×1", *["?"] * 6]
    assert metrics(app)["Total parameters"] == "—"
    assert "strides=1 on encoder layer 1" in app.button(key="build_apply_fix").label


def test_edits_to_different_layers_all_stick(app: AppTest) -> None:
    open_build_page(app)
    app.number_input(key="build_encoder_0_filters").set_value(20).run()
    app.selectbox(key="build_encoder_1_activation").set_value("gelu").run()
    app.selectbox(key="build_decoder_0_kernel_initializer").set_value("glorot_uniform").run()
    app.selectbox(key="build_output_layer_type").set_value("Conv2DTranspose").run()
    current = spec(app)
    assert current.encoder[0].filters == 20
    assert current.encoder[1].activation == "gelu"
    assert current.decoder[0].kernel_initializer == "glorot_uniform"
    assert current.output.type == "Conv2DTranspose"
    assert metrics(app)["Total parameters"] == f"{infer_shapes(current).params:,}"
    assert app.session_state["studio_spec"].training == preset("seed").training


def test_type_change_shows_the_new_types_arguments(app: AppTest) -> None:
    open_build_page(app)
    app.selectbox(key="build_decoder_0_type").set_value("UpSampling2D").run()
    assert spec(app).decoder[0].type == "UpSampling2D"
    keys = [selectbox.key for selectbox in app.selectbox]
    assert "build_decoder_0_size" in keys and "build_decoder_0_interpolation" in keys
    assert "build_decoder_0_kernel_size" not in keys
    assert shapes(app)[4] == "44×44×8"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [(2000, "an integer from 1 to 1024"), (0, "a strictly positive integer"), (-5, "a strictly positive integer")],
)
def test_out_of_range_filters_are_refused_where_typed(app: AppTest, typed: int, expected: str) -> None:
    # Once, the browser kept such a number to itself, in red in the narrow box, and nothing said it was refused.
    open_build_page(app)
    app.number_input(key="build_decoder_1_filters").set_value(typed).run()
    assert not app.exception
    assert spec(app) == preset("seed")
    assert app.number_input(key="build_decoder_1_filters").value == 16
    assert (
        f"Invalid value for argument `filters` of decoder layer 2. Expected {expected}. Received filters={typed}. "
        "Kept filters=16."
    ) in texts(app.markdown)


def test_an_emptied_filters_box_keeps_the_layers_filters_and_says_so(app: AppTest) -> None:
    # The editor's numbers are number fields: the browser lets no text into them, and an emptied one is no value.
    # It once read as the box's minimum, 1: the model lost its filters (12,785 -> 7,370 parameters) unsaid.
    open_build_page(app)
    app.number_input(key="build_encoder_0_filters").set_value(None).run()
    assert not app.exception
    assert spec(app) == preset("seed")
    assert metrics(app)["Total parameters"] == "12,785"
    assert app.number_input(key="build_encoder_0_filters").value == 32  # The box shows the kept value again.
    assert (
        "Invalid value for argument `filters` of encoder layer 1. Expected an integer from 1 to 1024. "
        "Received an empty box. Kept filters=32."
    ) in texts(app.markdown)
    app.selectbox(key="build_encoder_1_activation").set_value("gelu").run()  # The note goes with the next edit.
    assert "Kept filters" not in texts(app.markdown)


def test_reset_to_preset(app: AppTest) -> None:
    open_build_page(app)
    app.selectbox(key="sidebar_preset").set_value("upsampling").run()
    app.menu_button(key="build_decoder_0_menu").click("remove").run()
    app.number_input(key="sidebar_epochs").set_value(3).run()
    assert app.button(key="build_reset").label == "Reset to upsampling"
    app.button(key="build_reset").click().run()
    assert spec(app) == preset("upsampling").with_training(epochs=3)  # The sidebar's training settings stay.


@pytest.mark.slow  # A fresh interpreter imports Streamlit and the page: seconds.
def test_build_page_never_imports_tensorflow(tmp_path: Path) -> None:
    # A fresh interpreter: this test process may already hold TensorFlow from other tests.
    script = textwrap.dedent(
        """
        import sys
        from streamlit.testing.v1 import AppTest

        app = AppTest.from_file("dashboard.py", default_timeout=60)
        app.run()
        app.switch_page("app_pages/build.py").run()
        app.selectbox(key="build_decoder_2_kernel_size").set_value(4).run()
        assert not app.exception, [exception.value for exception in app.exception]
        assert app.title[0].value == "Build the architecture"
        print(",".join(name for name in ("tensorflow", "keras") if name in sys.modules) or "none")
        """
    )
    repository = Path(__file__).resolve().parents[2]
    environment = {"STUDIO_RUNS_DIR": str(tmp_path / "runs"), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(repository)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=repository, capture_output=True, text=True, timeout=120, env=environment
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "none"
