"""The Conv2DTranspose page: the size rule filled in, the scatter walked step by step, settings Keras refuses shown
in its words, and the settings used in the draft's decoder."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from core.presets import preset
from tests.ui.conftest import open_page

PAGE = "app_pages/transposed.py"


def grid(app: AppTest, key: str) -> list[list[float]]:
    """The numbers a grid chart shows (its heatmap's z), found by the chart's key."""
    chart = next(chart for chart in app.get("plotly_chart") if chart.proto.id.endswith(f"-transposed_{key}"))
    return json.loads(chart.proto.spec)["data"][0]["z"]


def window(app: AppTest, key: str) -> tuple[float, float, float, float] | None:
    """The outlined window of a grid chart as (x0, y0, x1, y1) in cell centres +- 0.5, or None."""
    chart = next(chart for chart in app.get("plotly_chart") if chart.proto.id.endswith(f"-transposed_{key}"))
    shapes = json.loads(chart.proto.spec)["layout"].get("shapes", [])
    return (shapes[0]["x0"], shapes[0]["y0"], shapes[0]["x1"], shapes[0]["y1"]) if shapes else None


def markdown(app: AppTest) -> str:
    return "\n".join(element.value for element in app.markdown)


def test_default_example_walks_to_the_output(app: AppTest) -> None:
    open_page(app, PAGE)
    assert [(metric.label, metric.value) for metric in app.metric] == [("Output size", "5×5")]
    assert app.code[0].value.splitlines() == [
        "k_eff = (k - 1) * dilation_rate + 1",
        "      = (3 - 1) * 1 + 1 = 3",
        "out   = (n - 1) * strides + max(k_eff, strides)",
        "      = (2 - 1) * 2 + max(3, 2) = 5",
    ]
    assert "**Step 1 of 4:** input[0, 0] = 1" in markdown(app)
    assert grid(app, "step_sum") == [[1, 0, 2, 0, 0], [0, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0] * 5, [0] * 5]
    assert window(app, "step_sum") == (-0.5, -0.5, 2.5, 2.5)

    app.slider(key="transposed_step").set_value(4).run()
    assert "**Step 4 of 4:** input[1, 1] = 4, so 4 × kernel is added into rows 2–4, columns 2–4 of the output " \
        "(outlined)." in markdown(app)  # fmt: skip
    output = grid(app, "step_sum")
    assert output[2][2] == 13  # 1*1 + 2*1 + 3*2 + 4*1: four windows overlap there.
    assert output == grid(app, "output") == grid(app, "convolution")
    assert [success.value for success in app.success] == [
        "The last step's sum is the output of the layer.",
        "Number for number the scatter's output.",
    ]


def test_a_setting_changes_the_size_and_the_windows(app: AppTest) -> None:
    open_page(app, PAGE)
    app.selectbox(key="transposed_strides").set_value(3).run()
    assert app.metric[0].value == "6×6"
    assert app.code[0].value.endswith("= (2 - 1) * 3 + max(3, 3) = 6")
    app.slider(key="transposed_step").set_value(2).run()
    assert "input[0, 1] = 2, so 2 × kernel is added into rows 0–2, columns 3–5 of the output" in markdown(app)
    assert grid(app, "step_added")[0] == [0, 0, 0, 2, 0, 4]
    app.selectbox(key="transposed_padding").set_value("same").run()
    assert app.metric[0].value == "6×6"  # n * strides.
    app.selectbox(key="transposed_strides").set_value(1).run()  # Full grid 4x4, output 2x2: every window cropped.
    assert app.metric[0].value == "2×2"
    assert "input[0, 1] = 2, so 2 × kernel is added into rows 0–1, columns 0–1 of the output" in markdown(app)
    assert "Part of its window lies outside the output: padding='same' crops it, so those values are lost." in [
        caption.value for caption in app.main.caption
    ]
    assert not app.exception


def test_a_smaller_input_keeps_the_slider_in_range(app: AppTest) -> None:
    open_page(app, PAGE)
    app.selectbox(key="transposed_input_size").set_value(3).run()
    app.slider(key="transposed_step").set_value(9).run()
    assert "**Step 9 of 9:** input[2, 2] = 9" in markdown(app)
    app.selectbox(key="transposed_input_size").set_value(2).run()
    assert not app.exception
    assert app.slider(key="transposed_step").value == 4


def test_settings_keras_refuses_are_explained_not_raised(app: AppTest) -> None:
    open_page(app, PAGE)
    app.selectbox(key="transposed_output_padding").set_value("2").run()
    assert not app.exception
    assert [error.value for error in app.error] == [
        "Invalid value for argument `output_padding` of Conv2DTranspose. Expected an integer smaller than strides=2 "
        "(Keras requires strides > output_padding). Received output_padding=2. Try: raise strides or lower "
        "output_padding."
    ]
    assert not app.get("plotly_chart")
    app.selectbox(key="transposed_strides").set_value(3).run()
    assert not app.error
    assert app.metric[0].value == "8×8"  # (2 - 1) * 3 + 3 + 2.


def test_settings_that_break_the_draft_are_not_applied(app: AppTest) -> None:
    open_page(app, PAGE)  # The seed decoder grows 22 -> 24 with stride 1; stride 2 would grow it to 45.
    assert app.selectbox(key="transposed_decoder_layer").value == 0
    app.button(key="transposed_apply").click().run()
    messages = [error.value for error in app.error]
    assert len(messages) == 1
    assert messages[0].startswith(
        "Not applied to decoder layer 1, which would make the spec invalid. Invalid architecture: the output is "
    )
    assert app.session_state["studio_spec"] == preset("seed")


def test_settings_used_in_a_decoder_layer(app: AppTest) -> None:
    open_page(app, PAGE)
    app.selectbox(key="sidebar_preset").set_value("strided").run()
    app.selectbox(key="transposed_padding").set_value("same").run()
    app.selectbox(key="transposed_output_padding").set_value("1").run()
    app.selectbox(key="transposed_decoder_layer").set_value(1).run()
    app.button(key="transposed_apply").click().run()
    assert [success.value for success in app.success][-1] == (
        "Applied to decoder layer 2: kernel_size=3, strides=2, padding='same', output_padding=1, dilation_rate=1. "
        "The architecture is still valid."
    )
    spec = app.session_state["studio_spec"]
    assert spec.name == "strided-edited"
    assert spec.decoder[1].output_padding == 1 and spec.decoder[1].filters == preset("strided").decoder[1].filters
    assert spec.decoder[0] == preset("strided").decoder[0]
    app.switch_page("app_pages/build.py").run()
    assert app.selectbox(key="build_decoder_1_output_padding").value == "1"  # Its options are "auto", "0", "1".
    assert not app.error


def test_the_step_is_kept_when_the_input_grows_and_clamped_when_it_shrinks(app: AppTest) -> None:
    open_page(app, PAGE)
    app.selectbox(key="transposed_input_size").set_value(3).run()
    app.slider(key="transposed_step").set_value(5).run()
    app.selectbox(key="transposed_input_size").set_value(4).run()
    assert app.slider(key="transposed_step").value == 5 and "**Step 5 of 16:**" in markdown(app)
    app.slider(key="transposed_step").set_value(12).run()
    app.selectbox(key="transposed_input_size").set_value(3).run()
    assert app.slider(key="transposed_step").value == 9 and "**Step 9 of 9:**" in markdown(app)


def test_settings_and_typed_values_survive_a_visit_to_another_page(app: AppTest) -> None:
    open_page(app, PAGE)
    for key, value in [("input_size", 4), ("strides", 3), ("padding", "same"), ("output_padding", "2")]:
        app.selectbox(key=f"transposed_{key}").set_value(value).run()
    app.session_state["transposed_input_4"] = {"edited_rows": {0: {"0": 9}}, "added_rows": [], "deleted_rows": []}
    app.run()  # The cell typed in the 4x4 input: 1 becomes 9.
    app.slider(key="transposed_step").set_value(5).run()
    shown = (app.metric[0].value, grid(app, "step_input"), markdown(app))
    assert shown[0] == "12×12" and shown[1][0][0] == 9 and "**Step 5 of 16:**" in shown[2]

    app.switch_page("app_pages/home.py").run()  # Streamlit forgets the widgets of a page not shown.
    app.switch_page(PAGE).run()
    assert not app.exception
    assert [app.selectbox(key=f"transposed_{key}").value for key in ("input_size", "strides", "padding")] == [
        4,
        3,
        "same",
    ]
    assert app.selectbox(key="transposed_output_padding").value == "2"
    assert (app.metric[0].value, grid(app, "step_input"), markdown(app)) == shown
    app.selectbox(key="transposed_padding").set_value("valid").run()  # The page goes on from the values brought back.
    assert grid(app, "step_input")[0][0] == 9
