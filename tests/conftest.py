"""Shared fixtures: a run store of each test's own, and the environment for subprocesses that train.

Nothing here is autouse: a test that writes runs asks for `runs_dir`, so no test ever writes into the
repository's `runs/` or sees its shipped runs.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core import mnist as mnist_data
from core import runs
from core.presets import preset
from core.spec import ExperimentSpec

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SLOW_FIXTURES = {"trained_runs_dir"}  # Fixtures that train a model in a worker process.


def pytest_configure(config: pytest.Config) -> None:
    """Scans the installed packages for Streamlit components once per test process, not once per AppTest.

    Every new `AppTest` reads the metadata of every installed distribution (hundreds here: TensorFlow, JAX, Ray)
    looking for Streamlit v2 components: 0.32 s of a page test's 0.42 s. The running server scans once, at start;
    the installed packages do not change while the tests run, so the first scan's answer stands for the rest.
    """
    from streamlit.components.v2 import manifest_scanner
    from streamlit.runtime.scriptrunner import script_runner

    scan = manifest_scanner.scan_component_manifests
    if not hasattr(scan, "cache_info"):  # Not already wrapped (an xdist worker configures once, too).
        manifest_scanner.scan_component_manifests = functools.lru_cache(maxsize=1)(scan)
    script_runner._clean_problem_modules = _clean_problem_modules_as_in_the_server


def _clean_problem_modules_as_in_the_server() -> None:
    """What Streamlit cleans after each script run in the studio's server: Matplotlib's figures, not Keras' session.

    After every script run Streamlit calls `keras.backend.clear_session()` if Keras is imported, which runs a full
    garbage collection: 0.2 s a page run in a test process holding TensorFlow, more than the run itself. The server
    never imports Keras (tests/test_server_imports.py), so it never does this; here, tests of `core` that import
    Keras would otherwise make every later page test in their process three times slower.
    """
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks `slow` every test that uses a fixture that trains, so that `make unit` leaves it out."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty run store, named by STUDIO_RUNS_DIR for subprocesses; the shipped runs are hidden."""
    path = tmp_path / "runs"
    path.mkdir()
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(path))
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    return path


@pytest.fixture
def shipped_dir(runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory standing in for the read-only `pretrained/` runs that ship with the studio."""
    path = tmp_path / "pretrained"
    path.mkdir()
    monkeypatch.setattr(runs, "PRETRAINED_DIR", path)
    return path


@pytest.fixture
def subprocess_env(runs_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The environment for `python -m core...` subprocesses: this test's store and an empty Keras home.

    MNIST still comes from the project cache, which an empty KERAS_HOME leaves as the first source found.
    """
    environment = dict(os.environ)
    environment["STUDIO_RUNS_DIR"] = str(runs_dir)
    environment["KERAS_HOME"] = str(tmp_path / "keras_home")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY_ROOT), environment.get("PYTHONPATH")]))
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


@pytest.fixture
def diverging_spec() -> ExperimentSpec:
    """A spec whose loss becomes NaN within its first epoch on 480 images (5 steps of 100).

    With no activation anywhere nothing bounds the outputs, and plain SGD with a step of 1.0 on the mean squared
    error overflows in a few steps.
    """
    spec = preset("strided").with_training(optimizer="sgd", learning_rate=1.0, loss="mse", batch_size=100, epochs=2)
    return replace(
        spec,
        name="diverging",
        encoder=tuple(replace(layer, activation="linear") for layer in spec.encoder),
        decoder=tuple(replace(layer, activation="linear") for layer in spec.decoder),
        output=replace(spec.output, activation="linear"),
    )


@pytest.fixture(scope="session")
def real_mnist(tmp_path_factory: pytest.TempPathFactory) -> mnist_data.Mnist:
    """The real MNIST from the default project cache, fetched once if missing, read and verified once per session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MNIST_PATH", raising=False)
        patch.delenv("STUDIO_DATA_DIR", raising=False)
        patch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("empty_keras_home")))
        mnist_data.clear_cache()
        try:
            return mnist_data.load_mnist()
        except mnist_data.DataError as error:
            pytest.fail(f"The real MNIST is needed for these tests and could not be loaded: {error}")
        finally:
            mnist_data.clear_cache()


@pytest.fixture(scope="session")
def real_cache(real_mnist: mnist_data.Mnist) -> Path:
    """The project cache that `real_mnist` was read from: the good file tests copy."""
    path = mnist_data.project_cache_path()
    assert real_mnist.source == f"project cache {path}"
    return path


@pytest.fixture
def verified_mnist(real_mnist: mnist_data.Mnist, monkeypatch: pytest.MonkeyPatch) -> mnist_data.Mnist:
    """The real MNIST, verified once per session, which `load_mnist` returns throughout the test.

    For tests that need the data, not tests of how it is found: none of them reads its 55 MB again or hashes them.
    """
    monkeypatch.setattr(mnist_data, "_loaded", real_mnist)
    return real_mnist


@pytest.fixture
def offline_mnist(real_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MNIST loaded afresh from the project cache only: no MNIST_PATH, an empty Keras cache, and no network.

    Any attempt to reach the network fails the test unless the test puts its own stand-in in place.
    """
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.delenv("STUDIO_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))

    def no_network(*arguments: object, **keywords: object) -> None:
        raise AssertionError("This test tried to reach the network.")

    monkeypatch.setattr(mnist_data, "download_wheel", no_network)
    monkeypatch.setattr(mnist_data, "_load_with_keras", no_network)
    mnist_data.clear_cache()
    yield
    mnist_data.clear_cache()


@pytest.fixture(scope="module")
def random_pairs() -> tuple[np.ndarray, np.ndarray]:
    """20 random "originals" and "reconstructions" of shape (20, 28, 28, 1) in [0, 1], for drawing tests."""
    generator = np.random.default_rng(0)
    originals = generator.random((20, 28, 28, 1), dtype=np.float32)
    reconstructions = generator.random((20, 28, 28, 1), dtype=np.float32)
    return originals, reconstructions
