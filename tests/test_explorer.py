"""Tests for core.explorer: the Layer explorer's grids, ranges, captions and kernel layout, in NumPy only.

That the worker's maps have the shapes `expected_layers` infers, and its kernels the model file's values, is
checked against Keras in tests/test_serving.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from core import explorer
from core.inference import LayerWeights
from core.pictures import png_size
from core.presets import preset


def test_captions_name_the_layer_and_its_shape() -> None:
    assert explorer.format_shape((24, 24, 16)) == "24x24x16"
    assert explorer.layer_caption("decoder_2_conv2d_transpose", (24, 24, 16)) == (
        "decoder_2_conv2d_transpose · 24x24x16"
    )


@pytest.mark.parametrize(
    ("name", "part"),
    [("encoder_1_conv2d", "encoder"), ("decoder_3_conv2d_transpose", "decoder"), ("output_conv2d", "output")],
)
def test_layer_part(name: str, part: str) -> None:
    assert explorer.layer_part(name) == part


def test_layer_part_refuses_other_names() -> None:
    with pytest.raises(ValueError) as raised:
        explorer.layer_part("image")
    assert str(raised.value) == (
        "Invalid value for argument `name`. Expected a layer name starting with one of ['encoder', 'decoder', "
        "'output']. Received name='image'."
    )


@pytest.mark.parametrize(
    ("preset_name", "expected"),
    [
        ("seed", [("encoder_1_conv2d", (26, 26, 32)), ("encoder_2_conv2d", (24, 24, 16)),
                  ("encoder_3_conv2d", (22, 22, 8)), ("decoder_1_conv2d_transpose", (24, 24, 8)),
                  ("decoder_2_conv2d_transpose", (26, 26, 16)), ("decoder_3_conv2d_transpose", (28, 28, 32)),
                  ("output_conv2d", (28, 28, 1))]),
        ("upsampling", [("encoder_1_conv2d", (14, 14, 32)), ("encoder_2_conv2d", (7, 7, 16)),
                        ("encoder_3_conv2d", (7, 7, 8)), ("decoder_1_up_sampling2d", (14, 14, 8)),
                        ("decoder_2_conv2d", (14, 14, 16)), ("decoder_3_up_sampling2d", (28, 28, 16)),
                        ("decoder_4_conv2d", (28, 28, 32)), ("output_conv2d", (28, 28, 1))]),
    ],
)  # fmt: skip
def test_expected_layers_names_and_shapes_in_order(preset_name: str, expected: list) -> None:
    # The decoder grows the 22x22 (or 7x7) code back to 28x28.
    assert explorer.expected_layers(preset(preset_name)) == expected


@pytest.mark.parametrize(
    ("values", "text"),
    [([0.0, 3.14159], "min 0 · max 3.142"), ([-0.5, 12345.0], "min -0.5 · max 1.234e+04"),
     ([-0.0, -0.0], "min 0 · max 0")],
)  # fmt: skip
def test_value_range_and_its_text(values: list[float], text: str) -> None:
    assert explorer.value_range(np.array(values)) == (min(values), max(values))
    assert explorer.format_range(np.array(values)) == text


def test_value_range_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="Expected at least one value"):
        explorer.value_range(np.zeros((0, 3)))


@pytest.mark.parametrize(("count", "layout"), [(1, (1, 1)), (8, (1, 8)), (16, (1, 16)), (17, (2, 16)), (32, (2, 16))])
def test_grid_layout(count: int, layout: tuple[int, int]) -> None:
    assert explorer.grid_layout(count) == layout


def test_tile_places_tiles_row_by_row_with_nan_gaps() -> None:
    tiles = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)
    grid = explorer.tile(tiles, rows=2, columns=2)
    assert grid.shape == (5, 5)
    np.testing.assert_array_equal(grid[0:2, 0:2], tiles[0])
    np.testing.assert_array_equal(grid[0:2, 3:5], tiles[1])
    np.testing.assert_array_equal(grid[3:5, 0:2], tiles[2])
    assert np.isnan(grid[2]).all() and np.isnan(grid[:, 2]).all() and np.isnan(grid[3:5, 3:5]).all()


def test_tile_refuses_more_tiles_than_cells() -> None:
    with pytest.raises(ValueError, match="Expected at most 4 tiles for a 2x2 grid. Received 5."):
        explorer.tile(np.zeros((5, 2, 2)), 2, 2)


def test_map_grid_puts_each_channel_on_the_layers_own_scale() -> None:
    maps = np.zeros((3, 4, 20), dtype=np.float32)
    maps[..., 1] = 2.0  # The layer's max.
    maps[0, 0, 19] = -2.0  # The layer's min.
    grid = explorer.map_grid(maps)
    assert grid.shape == (2 * 3 + 1, 16 * 4 + 15)
    np.testing.assert_allclose(grid[0:3, 5:9], 1.0)  # Channel 1.
    np.testing.assert_allclose(grid[0:3, 0:4], 0.5)  # Channel 0: zeros, half-way between -2 and 2.
    assert grid[4, 3 * 5] == 0.0  # Channel 19 (row 2, column 4) holds the minimum at its top-left corner.
    assert np.isnan(grid[4:7, 4 * 5 :]).all()  # Cells 20 to 31 are empty.


def test_channel_image_is_on_its_own_scale_and_a_constant_channel_is_flat() -> None:
    maps = np.stack([np.array([[1.0, 3.0], [2.0, 5.0]]), np.full((2, 2), 7.0)], axis=-1)
    np.testing.assert_allclose(explorer.channel_image(maps, 0), [[0, 0.5], [0.25, 1]])
    np.testing.assert_array_equal(explorer.channel_image(maps, 1), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Expected a channel from 0 to 1. Received channel=2."):
        explorer.channel_image(maps, 2)


def test_kernel_grid_rows_are_inputs_and_columns_are_outputs_for_both_convolutions() -> None:
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype(np.float32)  # (k, k, in=2, out=4)
    convolution = explorer.kernel_grid(LayerWeights("encoder_1_conv2d", "Conv2D", kernel, np.zeros(4)))
    # The same kernels held as a Conv2DTranspose holds them: (k, k, out, in).
    transposed = LayerWeights("decoder_1_conv2d_transpose", "Conv2DTranspose", np.swapaxes(kernel, 2, 3), None)
    for grid in (convolution, explorer.kernel_grid(transposed)):
        assert grid.grid.shape == (2 * 3 + 1, 4 * 3 + 3) and grid.kernels.shape == (2, 4, 3, 3)
        assert (grid.inputs, grid.outputs, grid.inputs_shown, grid.outputs_shown) == (2, 4, 2, 4)
        for input_channel in range(2):
            for output_channel in range(4):
                top, left = input_channel * 4, output_channel * 4
                np.testing.assert_array_equal(
                    grid.grid[top : top + 3, left : left + 3], kernel[:, :, input_channel, output_channel]
                )
        assert grid.scale == pytest.approx(np.abs(kernel).max())
        assert not grid.cut
        assert grid.note() == "Rows: input channels 1-2 of 2; columns: output channels (filters) 1-4 of 4."


def test_a_large_kernel_grid_is_cut_to_16_by_16_pairs_with_a_note() -> None:
    kernel = np.zeros((3, 3, 32, 8), dtype=np.float32)
    kernel[0, 0, 20, 0] = 9.0  # Input channel 21: not shown, so not part of the colour scale.
    kernel[1, 1, 3, 2] = -0.5
    grid = explorer.kernel_grid(LayerWeights("encoder_2_conv2d", "Conv2D", kernel, None))
    assert (grid.inputs_shown, grid.outputs_shown, grid.inputs, grid.outputs) == (16, 8, 32, 8)
    assert grid.grid.shape == (16 * 4 - 1, 8 * 4 - 1)
    assert grid.cut and grid.scale == 0.5
    assert grid.note() == (
        "Rows: input channels 1-16 of 32; columns: output channels (filters) 1-8 of 8. Only the first 16x8 of the "
        "32x8 (input, output) pairs are shown."
    )


def test_a_layer_without_weights_has_no_kernel_grid() -> None:
    with pytest.raises(ValueError) as raised:
        explorer.kernel_grid(LayerWeights("decoder_1_up_sampling2d", "UpSampling2D", None, None))
    assert str(raised.value) == (
        "Invalid value for argument `weights`. Expected a layer with a kernel. Received layer "
        "'decoder_1_up_sampling2d' (UpSampling2D), which has no weights."
    )


def test_colorize_maps_the_ends_and_paints_gaps() -> None:
    pixels = explorer.colorize(np.array([[-1.0, 0.0, 1.0, np.nan]]), "RdBu_r", -1, 1, gap_color="#a6a6a6")
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 4, 3)
    blue, white, red, gap = (tuple(int(value) for value in pixel) for pixel in pixels[0])
    assert blue[2] > blue[0] and red[0] > red[2] and min(white) > 240 and gap == (166, 166, 166)


def test_pngs_have_the_enlarged_sizes() -> None:
    maps = np.random.default_rng(1).random((26, 26, 32), dtype=np.float32)
    assert png_size(explorer.maps_png(maps)) == (16 * 26 * 2 + 15 * 2, 2 * 26 * 2 + 2)  # Zoom 2: 26 -> 52.
    assert png_size(explorer.channel_png(maps, 5)) == (26 * 11, 26 * 11)  # About 280 pixels.
    kernels = explorer.kernel_grid(LayerWeights("l", "Conv2D", np.ones((3, 3, 2, 2), np.float32), None))
    assert png_size(explorer.kernels_png(kernels)) == (2 * 3 * 8 + 2, 2 * 3 * 8 + 2)  # Zoom 8, a 2-pixel gap.
