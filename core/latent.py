"""The Latent space page's numbers: which test digits to encode, a 2-D PCA of their codes, codes part of the way
from one to another, how large a code is against the image, and the map of the codes as a Plotly chart.

A code is the encoder's output for one image, (height, width, channels) float32, as the inference worker returns
it (`core.inference.encode`); the PCA flattens each one to a vector of height * width * channels values. Nothing
here imports Streamlit or Keras.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from core.inference import encode
from core.mnist import scale
from core.presets import preset
from core.runs import RunInfo
from core.shapes import Shape, describe_shape, infer_shapes
from core.spec import INPUT_SHAPE

TEST_IMAGES = 10_000
SAMPLE_SIZE = 2_000  # Test digits on the map: enough to show the clusters, few enough to encode in about a second.
SAMPLE_SEED = 0  # The same digits for every run, so that two runs' maps show the same points.
INPUT_VALUES = math.prod(INPUT_SHAPE)  # 784 pixels.
CONTRAST_PRESET = "strided"  # A code of 7x7x8 = 392 values: one that compresses.
# The PCA finds its two directions in a subspace of this many more, refined by this many power iterations: on 2,000
# codes of 3,872 values that took about a second on 2 shared CPUs where a full SVD of them took 15, and it agrees
# with an exact eigen-decomposition to 1e-6 or better (tests/test_latent.py checks it on the shipped model's codes).
OVERSAMPLING = 10
POWER_ITERATIONS = 8
# Category10 (D3, Tableau): ten colours told apart at a glance, one per digit.
DIGIT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
MARK_COLOUR = "#000000"
POSITION_HOVER = "<br>PC1 %{x:.2f}, PC2 %{y:.2f}<extra></extra>"


def sample_indices(size: int = SAMPLE_SIZE, total: int = TEST_IMAGES, seed: int = SAMPLE_SEED) -> np.ndarray:
    """Which test images to encode for the map: `size` of the `total`, drawn at random without repeats, in order.

    Raises:
        ValueError: for a size outside 1 to `total`.
    """
    if not 1 <= size <= total:
        raise ValueError(
            f"Invalid value for argument `size`. Expected an integer from 1 to {total}. Received size={size}."
        )
    return np.sort(np.random.default_rng(seed).choice(total, size, replace=False))


def flatten(codes: np.ndarray) -> np.ndarray:
    """Codes (n, height, width, channels), or any (n, ...) array, as (n, values) float64 vectors."""
    codes = np.asarray(codes)
    return codes.reshape(len(codes), -1).astype(np.float64)


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value.
class Projection:
    """A PCA of codes: their mean and the directions along which they vary most.

    Attributes:
        mean: (values,) the mean code, flattened.
        components: (k, values) unit vectors, the directions of largest variance first. Each is signed so that its
            entry of largest magnitude is positive: the same codes always give the same picture, never a mirror.
        variances: (k,) the variance of the codes along each component (the covariance's largest eigenvalues).
        total_variance: the sum of the variances along every axis (the covariance's trace).
    """

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    total_variance: float

    @property
    def explained(self) -> np.ndarray:
        """The fraction of the codes' total variance along each component."""
        return self.variances / self.total_variance if self.total_variance > 0 else np.zeros_like(self.variances)

    def project(self, codes: np.ndarray) -> np.ndarray:
        """The coordinates of `codes` (n, ...) along the components, as (n, k) float64.

        Raises:
            ValueError: for codes of another size than the ones the PCA was fitted on.
        """
        vectors = flatten(codes)
        if vectors.shape[1] != self.mean.size:
            raise ValueError(
                f"Invalid shape for argument `codes`. Expected codes of {self.mean.size:,} values. "
                f"Received shape={np.shape(codes)}."
            )
        return (vectors - self.mean) @ self.components.T


def pca(codes: np.ndarray, components: int = 2, seed: int = 0) -> Projection:
    """The principal components of `codes`: the directions along which they vary most, largest first.

    An SVD of the centred codes restricted to the subspace found by a few power iterations from a random start
    (Halko, Martinsson and Tropp's randomized SVD): exact once that subspace holds the leading components, which
    `OVERSAMPLING` and `POWER_ITERATIONS` make sure of for codes; deterministic for a given `seed`.

    Args:
        codes: (n, ...) codes, n >= 2.
        components: how many directions to find, at most min(n, values).
        seed: the random start's seed.

    Returns:
        A `Projection`; its variances divide by n - 1, as the covariance's do.

    Raises:
        ValueError: for fewer than 2 codes, or more components than the codes have.
    """
    vectors = flatten(codes)
    count, size = vectors.shape
    if count < 2:
        raise ValueError(f"Invalid value for argument `codes`. Expected at least 2 codes. Received {count}.")
    if not 1 <= components <= min(count, size):
        raise ValueError(
            f"Invalid value for argument `components`. Expected an integer from 1 to {min(count, size)}. "
            f"Received components={components}."
        )
    mean = vectors.mean(axis=0)
    centred = vectors - mean
    rank = min(components + OVERSAMPLING, count, size)
    start = np.random.default_rng(seed).standard_normal((size, rank))
    basis = np.linalg.qr(centred @ start)[0]  # (n, rank): orthonormal, re-orthonormalized after each product.
    for _ in range(POWER_ITERATIONS):
        basis = np.linalg.qr(centred @ np.linalg.qr(centred.T @ basis)[0])[0]
    _, singular_values, directions = np.linalg.svd(basis.T @ centred, full_matrices=False)  # (rank, values)
    directions = directions[:components]
    largest = np.argmax(np.abs(directions), axis=1)
    directions *= np.sign(directions[np.arange(components), largest])[:, np.newaxis]
    return Projection(
        mean=mean,
        components=directions,
        variances=singular_values[:components] ** 2 / (count - 1),
        total_variance=float(np.sum(centred**2) / (count - 1)),
    )


@dataclass(frozen=True, eq=False)
class CodeMap:
    """A sample of the test digits, their codes' PCA, and where each code lies on the first two components.

    Attributes:
        indices: (n,) the sampled test images, in order (`sample_indices`).
        labels: (n,) their digits.
        coordinates: (n, 2) their codes along the first two principal components.
        projection: the PCA, to place other codes (the ends of an interpolation, a drawing) on the same map.
        code_shape: the shape of one code, (22, 22, 8) for the `seed` preset.
    """

    indices: np.ndarray
    labels: np.ndarray
    coordinates: np.ndarray
    projection: Projection
    code_shape: Shape


def code_map(model: Any, test_images: np.ndarray, test_labels: np.ndarray, size: int = SAMPLE_SIZE) -> CodeMap:
    """Encodes a sample of `size` test digits with `model` and projects their codes onto their first two PCs.

    Args:
        model: a `RemoteModel`, whose worker encodes the images in batches, or a `keras.Model`.
        test_images: the 10,000 MNIST test images as stored, uint8 (10000, 28, 28).
        test_labels: their digits.
        size: how many of them to sample (see `sample_indices`).

    Raises:
        ValueError: for a sample size outside 1 to the number of test images, or fewer than 2.
        RunStoreError: (a `ModelFileError`) for a remote model whose file is missing or damaged.
        InferenceError: for a remote model whose worker stopped or failed.
    """
    indices = sample_indices(size, total=len(test_images))
    codes = encode(model, scale(test_images[indices]))  # (size, height, width, channels)
    projection = pca(codes)
    return CodeMap(indices, np.asarray(test_labels)[indices], projection.project(codes), projection, codes.shape[1:])


def picked_indices(points: Sequence[Mapping[str, Any]]) -> list[int]:
    """The test indices of the points a user selected on `map_figure`, in order, each once.

    Args:
        points: the selection's points as Streamlit reports them; a digit's point carries its test index as its
            `customdata` (a number, or a list holding it), a mark carries none and is left out.
    """
    picked: list[int] = []
    for point in points:
        value = point.get("customdata")
        value = value[0] if isinstance(value, (list, tuple)) and value else value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and int(value) not in picked:
            picked.append(int(value))
    return picked


def interpolation_weights(steps: int) -> np.ndarray:
    """How far along from the first code to the second each of `steps` codes lies: 0, ..., 1, evenly spaced.

    Raises:
        ValueError: for fewer than 2 steps.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"Invalid value for argument `steps`. Expected an integer >= 2. Received steps={steps!r}.")
    return np.linspace(0.0, 1.0, steps)


def interpolate(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """`steps` codes on the straight line from `start` to `end`, both included: (1 - t) * start + t * end.

    Returns:
        float32 (steps, *start.shape); the first is `start` and the last `end`, exactly.

    Raises:
        ValueError: for codes of different shapes, or fewer than 2 steps.
    """
    start, end = np.asarray(start, dtype=np.float32), np.asarray(end, dtype=np.float32)
    if start.shape != end.shape:
        raise ValueError(
            f"Invalid value for argument `end`. Expected a code of the shape of `start`, {start.shape}. "
            f"Received shape={end.shape}."
        )
    weights = interpolation_weights(steps).astype(np.float32).reshape(-1, *([1] * start.ndim))
    return (1 - weights) * start + weights * end  # (steps, 1, 1, 1) against (h, w, c) -> (steps, h, w, c)


@dataclass(frozen=True)
class CodeSize:
    """A code's shape against the 784 pixels of the image it stands for."""

    shape: Shape

    @property
    def values(self) -> int:
        return math.prod(self.shape)

    @property
    def ratio(self) -> float:
        """Code values per image pixel: above 1 the code is larger than the image."""
        return self.values / INPUT_VALUES

    @property
    def compresses(self) -> bool:
        return self.values < INPUT_VALUES

    def headline(self) -> str:
        """The verdict in one line: "3,872 values for 784 pixels: this bottleneck does not compress"."""
        verdict = "compresses" if self.compresses else "does not compress"
        return f"{self.values:,} values for {INPUT_VALUES} pixels: this bottleneck {verdict}"

    def verdict(self) -> str:
        """The headline and what it means, in plain words."""
        code = f"The code is {describe_shape(self.shape)}"
        if self.values > INPUT_VALUES:
            return (
                f"{self.headline()}. {code}, {self.ratio:.1f} times as many values as the image has pixels: the "
                "model can carry each digit through almost as it is, so it learns a smooth map from image to image "
                "rather than a short summary of it."
            )
        if self.values == INPUT_VALUES:
            return f"{self.headline()}. {code}, exactly as many values as the image has pixels."
        return (
            f"{self.headline()}. {code}, {self.ratio:.2f} of the image's size ({1 / self.ratio:.1f} pixels per "
            "value): the decoder has to rebuild each digit from less than it was given."
        )


def contrast_size() -> CodeSize:
    """The code size of the `strided` preset, the one that compresses: 7x7x8, from `core.shapes`."""
    return CodeSize(infer_shapes(preset(CONTRAST_PRESET)).bottleneck_shape)


def contrast_run(runs: Sequence[RunInfo]) -> RunInfo | None:
    """The first run (newest first) with the `strided` preset's encoder, hence its 7x7x8 code; None if none has it.

    A run of the `strided` preset itself comes before one of a preset that shares its encoder (`upsampling`).
    """
    encoder = preset(CONTRAST_PRESET).encoder
    candidates = [run for run in runs if run.spec is not None and run.spec.encoder == encoder]
    named = [run for run in candidates if run.spec.name == CONTRAST_PRESET]
    return (named or candidates or [None])[0]


def describe_digit(index: int, label: int) -> str:
    """A test digit as the page names it: "test digit 7 (a 9)"."""
    return f"test digit {index} (a {label})"


def strip_titles(steps: int) -> list[str]:
    """The titles above the decoded strip: "A", then how far along each code is, then "B"."""
    weights = interpolation_weights(steps)
    return ["A", *(f"{weight:.2f}" for weight in weights[1:-1]), "B"]


def map_figure(
    coordinates: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    projection: Projection,
    marks: Sequence[tuple[str, float, float]] = (),
) -> go.Figure:
    """The codes' first two principal components as a scatter, one colour (and legend entry) per digit 0-9.

    Args:
        coordinates: (n, 2) the codes projected (`Projection.project`).
        labels: (n,) the digit of each point.
        indices: (n,) each point's index into the test set: its `customdata`, which hover and selections show.
        projection: the PCA, for the axis titles' share of the variance.
        marks: (name, x, y) points to mark with their name, such as the ends of the interpolation.

    Returns:
        A Plotly figure: trace d holds the points of digit d, then one trace with the marks.
    """
    coordinates, labels, indices = np.asarray(coordinates), np.asarray(labels), np.asarray(indices)
    figure = go.Figure()
    for digit in range(10):
        chosen = labels == digit
        figure.add_trace(
            go.Scattergl(
                x=coordinates[chosen, 0].tolist(),  # Plain lists: the numbers read the same in the browser's JSON.
                y=coordinates[chosen, 1].tolist(),
                mode="markers",
                name=str(digit),
                customdata=indices[chosen].tolist(),
                marker={"color": DIGIT_COLOURS[digit], "size": 5, "opacity": 0.75},
                hovertemplate=f"test digit %{{customdata}} (a {digit})" + POSITION_HOVER,
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[x for _, x, _ in marks],
            y=[y for _, _, y in marks],
            mode="markers+text",
            name="A, B",
            text=[name for name, _, _ in marks],
            textposition="top center",
            textfont={"size": 16, "color": MARK_COLOUR},
            marker={"symbol": "star", "size": 16, "color": MARK_COLOUR, "line": {"color": "white", "width": 1}},
            hovertemplate="%{text}" + POSITION_HOVER,
            showlegend=bool(marks),
        )
    )
    first, second = (f"{share:.1%}" for share in projection.explained[:2])
    figure.update_layout(
        height=520,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"title": {"text": "Digit"}, "itemsizing": "constant"},
        xaxis_title=f"PC1 ({first} of the variance)",
        yaxis_title=f"PC2 ({second} of the variance)",
    )
    return figure
