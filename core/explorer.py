"""The Layer explorer's pictures and numbers: feature maps tiled into grids, value ranges, kernels as small grids.

A layer's feature maps are (height, width, channels) arrays (`core.inference.feature_maps`); its weights are a
`core.inference.LayerWeights` in Keras' layout. Everything here is NumPy, plus Matplotlib's object API (never
pyplot) to colour the grids and write them as PNG files, so it is safe in any thread. Nothing imports Streamlit
or Keras.

Grids hold floats with NaN in the gaps between tiles; the gaps are drawn white.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.inference import LayerWeights
from core.shapes import Shape, infer_shapes
from core.spec import ExperimentSpec, LayerSpec, layer_name

MAP_COLORMAP = "viridis"  # Sequential: activations after relu or sigmoid are mostly >= 0.
KERNEL_COLORMAP = "RdBu_r"  # Diverging, centred at 0: blue negative, white 0, red positive.
MAP_GAP_COLOR = "white"
KERNEL_GAP_COLOR = "#a6a6a6"  # Grey, not white: white is a weight of 0 in the kernel colormap.
MAX_COLUMNS = 16  # Channels per row of a layer's grid.
KERNEL_LIMIT = 16  # Input and output channels shown at most in a kernel grid: 16x16 pairs.
TILE_PIXELS = 56  # About how many screen pixels a channel's tile is wide in a layer's grid.
LARGE_PIXELS = 280  # About how many screen pixels the large view of one channel is wide.
GAP = 1  # Grid cells (before enlargement) between tiles.
PARTS = ("encoder", "decoder", "output")


def format_shape(shape: tuple[int, ...]) -> str:
    """A shape as the studio writes it: (24, 24, 16) -> "24x24x16"."""
    return "x".join(str(size) for size in shape)


def layer_caption(name: str, shape: tuple[int, ...]) -> str:
    """A layer's caption: its name and its output shape, "decoder_2_conv2d_transpose · 24x24x16"."""
    return f"{name} · {format_shape(shape)}"


def layer_part(name: str) -> str:
    """The part of the model a layer belongs to, from its name: "encoder", "decoder" or "output".

    Raises:
        ValueError: for a name that starts with none of them.
    """
    part = name.split("_", 1)[0]
    if part not in PARTS:
        raise ValueError(
            f"Invalid value for argument `name`. Expected a layer name starting with one of {list(PARTS)}. "
            f"Received name={name!r}."
        )
    return part


def expected_layers(spec: ExperimentSpec) -> list[tuple[str, Shape]]:
    """Every layer's Keras name and output shape as `core.shapes` infers them, in the order of `feature_maps`."""
    return [
        (layer_name(layer.part, layer.index, _spec_layer(spec, layer.part, layer.index)), layer.output_shape)
        for layer in infer_shapes(spec).layers
    ]


def _spec_layer(spec: ExperimentSpec, part: str, index: int | None) -> LayerSpec:
    if part == "output":
        return spec.output
    return (spec.encoder if part == "encoder" else spec.decoder)[index]


def value_range(values: np.ndarray) -> tuple[float, float]:
    """The (min, max) of an array, as Python floats.

    Raises:
        ValueError: for an empty array.
    """
    values = np.asarray(values)
    if values.size == 0:
        raise ValueError("Invalid value for argument `values`. Expected at least one value. Received none.")
    return float(values.min()), float(values.max())


def format_value(value: float) -> str:
    """A value with four significant digits, "-0" written as "0": 0.1234, 12.35, 1.235e+04."""
    text = f"{value:.4g}"
    return "0" if text == "-0" else text


def format_range(values: np.ndarray) -> str:
    """The value range of an array as the page writes it: "min 0 · max 3.142"."""
    low, high = value_range(values)
    return f"min {format_value(low)} · max {format_value(high)}"


def normalize(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values scaled from [low, high] to [0, 1] as float32; all 0 when the range is empty (a constant map)."""
    values = np.asarray(values, dtype=np.float32)
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0, 1)


def grid_layout(count: int, max_columns: int = MAX_COLUMNS) -> tuple[int, int]:
    """The (rows, columns) of a grid of `count` tiles, at most `max_columns` to a row.

    Raises:
        ValueError: for a count or a column limit below 1.
    """
    if count < 1 or max_columns < 1:
        raise ValueError(
            "Invalid value for argument `count` or `max_columns`. Expected both >= 1. "
            f"Received count={count}, max_columns={max_columns}."
        )
    columns = min(count, max_columns)
    return -(-count // columns), columns


def tile(tiles: np.ndarray, rows: int, columns: int, gap: int = GAP) -> np.ndarray:
    """Tiles (n, height, width) side by side, row by row, into a (rows, columns) grid with NaN gaps between them.

    Returns:
        float32 (rows * height + (rows - 1) * gap, columns * width + (columns - 1) * gap); unused cells are NaN.

    Raises:
        ValueError: for more tiles than the grid has cells.
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    count, height, width = tiles.shape
    if count > rows * columns:
        raise ValueError(
            f"Invalid value for argument `tiles`. Expected at most {rows * columns} tiles for a {rows}x{columns} "
            f"grid. Received {count}."
        )
    grid = np.full((rows * height + (rows - 1) * gap, columns * width + (columns - 1) * gap), np.nan, np.float32)
    for index in range(count):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top : top + height, left : left + width] = tiles[index]
    return grid


def map_grid(maps: np.ndarray, max_columns: int = MAX_COLUMNS) -> np.ndarray:
    """A layer's channels as one grid, on the layer's own scale: its min is 0 and its max is 1 in every tile.

    One scale for the whole layer keeps channels comparable: a channel that barely fires stays dark.

    Args:
        maps: (height, width, channels) feature maps of one layer.
        max_columns: channels per row at most.

    Returns:
        float32 grid in [0, 1] with NaN gaps (see `tile`).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(
            f"Invalid shape for argument `maps`. Expected (height, width, channels). Received shape={maps.shape}."
        )
    low, high = value_range(maps)
    rows, columns = grid_layout(maps.shape[-1], max_columns)
    return tile(np.moveaxis(normalize(maps, low, high), -1, 0), rows, columns)  # (h, w, c) -> (c, h, w)


def zoom_for(size: int, pixels: int) -> int:
    """The whole-number enlargement that makes `size` image pixels about `pixels` screen pixels, at least 1."""
    return max(1, round(pixels / max(size, 1)))


def channel_image(maps: np.ndarray, channel: int) -> np.ndarray:
    """One channel of a layer's maps, (height, width) float32, on its own scale from 0 (its min) to 1 (its max).

    Raises:
        ValueError: for a channel the maps do not have.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if not 0 <= channel < maps.shape[-1]:
        raise ValueError(
            f"Invalid value for argument `channel`. Expected a channel from 0 to {maps.shape[-1] - 1}. "
            f"Received channel={channel}."
        )
    values = maps[..., channel]
    return normalize(values, *value_range(values))


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value.
class KernelGrid:
    """A layer's kernels laid out as a grid: one row per input channel, one column per output channel (filter).

    Attributes:
        kernels: float32 (inputs_shown, outputs_shown, kernel_size, kernel_size): the kernel of each pair shown.
        grid: float32 weights with NaN gaps between the kernels, as `tile` lays them out.
        inputs_shown: input channels shown (rows); at most `KERNEL_LIMIT`.
        outputs_shown: output channels shown (columns); at most `KERNEL_LIMIT`.
        inputs: the layer's input channels.
        outputs: the layer's output channels (filters).
        scale: the largest absolute weight shown: the colours run from -scale to +scale.
    """

    kernels: np.ndarray
    grid: np.ndarray
    inputs_shown: int
    outputs_shown: int
    inputs: int
    outputs: int
    scale: float

    @property
    def cut(self) -> bool:
        """Whether some (input, output) pairs are left out."""
        return self.inputs_shown < self.inputs or self.outputs_shown < self.outputs

    def note(self) -> str:
        """What the grid shows, and what it leaves out."""
        text = (
            f"Rows: input channels 1-{self.inputs_shown} of {self.inputs}; columns: output channels (filters) "
            f"1-{self.outputs_shown} of {self.outputs}."
        )
        if self.cut:
            text += (
                f" Only the first {self.inputs_shown}x{self.outputs_shown} of the {self.inputs}x{self.outputs} "
                "(input, output) pairs are shown."
            )
        return text


def kernel_pairs(weights: LayerWeights) -> np.ndarray:
    """The layer's kernel as (kernel_size, kernel_size, in, out), whichever convolution it is.

    Keras keeps a Conv2DTranspose's kernel as (kernel_size, kernel_size, out, in): its input and output axes are
    swapped here, so that pair (i, o) is always the kernel from input channel i to output channel o.

    Raises:
        ValueError: for a layer without weights.
    """
    if weights.kernel is None:
        raise ValueError(
            f"Invalid value for argument `weights`. Expected a layer with a kernel. Received layer "
            f"{weights.layer!r} ({weights.type}), which has no weights."
        )
    kernel = np.asarray(weights.kernel, dtype=np.float32)
    return np.swapaxes(kernel, 2, 3) if weights.type == "Conv2DTranspose" else kernel


def kernel_grid(weights: LayerWeights, limit: int = KERNEL_LIMIT) -> KernelGrid:
    """The layer's kernels as a grid of at most `limit` x `limit` (input, output) pairs (see `KernelGrid`).

    Raises:
        ValueError: for a layer without weights, or a limit below 1.
    """
    if limit < 1:
        raise ValueError(f"Invalid value for argument `limit`. Expected an integer >= 1. Received limit={limit}.")
    kernel = kernel_pairs(weights)
    kernel_height, kernel_width, inputs, outputs = kernel.shape
    shown = kernel[:, :, :limit, :limit]
    inputs_shown, outputs_shown = shown.shape[2], shown.shape[3]
    kernels = np.transpose(shown, (2, 3, 0, 1))  # (kh, kw, in, out) -> (in, out, kh, kw)
    # (in * out, kh, kw): row-major, one row of tiles per input channel.
    tiles = kernels.reshape(-1, kernel_height, kernel_width)
    return KernelGrid(
        kernels=kernels,
        grid=tile(tiles, inputs_shown, outputs_shown),
        inputs_shown=inputs_shown,
        outputs_shown=outputs_shown,
        inputs=inputs,
        outputs=outputs,
        scale=float(np.abs(shown).max()),
    )


# --- Pictures ----------------------------------------------------------------------------------------------


def colorize(
    values: np.ndarray, colormap: str, low: float = 0.0, high: float = 1.0, gap_color: str = MAP_GAP_COLOR
) -> np.ndarray:
    """Values mapped through a Matplotlib colormap from `low` to `high`, as uint8 RGB; NaN gets `gap_color`."""
    colors = matplotlib.colormaps[colormap].with_extremes(bad=gap_color)
    scaled = (np.asarray(values, dtype=np.float32) - low) / (high - low) if high > low else np.zeros_like(values)
    return colors(np.ma.masked_invalid(scaled), bytes=True)[..., :3]


def png(pixels: np.ndarray, zoom: int = 1) -> bytes:
    """RGB uint8 pixels, each enlarged to `zoom` x `zoom` screen pixels, as the bytes of a PNG file."""
    from core.pixels import enlarge_pixels

    pixels = enlarge_pixels(pixels, zoom)
    height, width = pixels.shape[:2]
    figure = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(figure)
    figure.figimage(pixels, origin="upper")  # One to one: none of the resampling an axes image would cost.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def maps_png(maps: np.ndarray, max_columns: int = MAX_COLUMNS) -> bytes:
    """A layer's channels as one PNG grid, coloured on the layer's own scale (see `map_grid`)."""
    height = np.asarray(maps).shape[0]
    return png(colorize(map_grid(maps, max_columns), MAP_COLORMAP), zoom_for(height, TILE_PIXELS))


def channel_png(maps: np.ndarray, channel: int) -> bytes:
    """One channel as a large PNG, coloured from its min to its max (see `channel_image`)."""
    image = channel_image(maps, channel)
    return png(colorize(image, MAP_COLORMAP), zoom_for(image.shape[0], LARGE_PIXELS))


def kernels_png(grid: KernelGrid, zoom: int = 8, gap: int = 2) -> bytes:
    """The kernel grid as a PNG, coloured from -scale (blue) through 0 (white) to +scale (red).

    Each kernel's weights are enlarged to `zoom` x `zoom` screen pixels, and the kernels are `gap` grey screen
    pixels apart: a thin line, not as thick as a weight.
    """
    kernels = np.repeat(np.repeat(grid.kernels, zoom, axis=-2), zoom, axis=-1)  # (in, out, k * zoom, k * zoom)
    tiles = tile(kernels.reshape(-1, *kernels.shape[-2:]), grid.inputs_shown, grid.outputs_shown, gap)
    return png(colorize(tiles, KERNEL_COLORMAP, -grid.scale, grid.scale, KERNEL_GAP_COLOR))
