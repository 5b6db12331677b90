"""Fixtures for page tests with `streamlit.testing.v1.AppTest`, run from `dashboard.py` as the real app is."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

DASHBOARD = str(Path(__file__).resolve().parents[2] / "dashboard.py")
PAGES = [
    f"app_pages/{name}.py"
    for name in (
        "home",
        "build",
        "train",
        "reconstructions",
        "draw",
        "explorer",
        "latent",
        "compare",
        "sweeps",
        "transposed",
    )
]  # As dashboard.py.


def open_page(app: AppTest, page: str) -> AppTest:
    """Runs the dashboard, then switches to `page` (e.g. "app_pages/build.py"); fails on any exception."""
    app.run()
    app.switch_page(page).run()
    assert not app.exception, [exception.value for exception in app.exception]
    return app


def active_run_picker(app: AppTest) -> object:
    """The sidebar's "Active run" selectbox (its key changes whenever a page activates a run)."""
    return next(selectbox for selectbox in app.sidebar.selectbox if selectbox.label == "Active run")


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty run store that the dashboard uses for this test."""
    directory = tmp_path / "runs"
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(directory))
    return directory


@pytest.fixture(scope="session")
def trained_runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run store holding one small trained run (the `strided` preset, 600 images, one epoch)."""
    from core.jobs import JobRunner
    from core.presets import preset

    directory = tmp_path_factory.mktemp("trained-runs")
    spec = preset("strided").with_training(epochs=1, batch_size=100, learning_rate=0.003)
    runner = JobRunner(directory)
    snapshot = runner.join(runner.start(spec, limit=600), timeout=300)
    assert snapshot.status == "completed", snapshot.message
    return directory


@pytest.fixture
def trained_run_id(trained_runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The id of the small trained run, with the dashboard pointed at its store."""
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(trained_runs_dir))
    return sorted(path.name for path in trained_runs_dir.iterdir() if path.is_dir())[0]


@pytest.fixture
def damaged_shipped_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The id of the shipped seed-fast run, copied alone into the dashboard's store with an unreadable model file."""
    import shutil

    from core import runs

    shipped_run = next(runs.PRETRAINED_DIR.glob("*-seed-fast"))
    store = tmp_path / "damaged-runs"
    shutil.copytree(shipped_run, store / shipped_run.name)
    (store / shipped_run.name / "model.keras").write_bytes(b"not a keras archive")
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(store))
    monkeypatch.setattr(runs, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    return shipped_run.name


@pytest.fixture
def app(runs_dir: Path) -> AppTest:
    """The dashboard, not yet run, over an empty run store."""
    return AppTest.from_file(DASHBOARD, default_timeout=60)


@pytest.fixture
def trained_app(trained_run_id: str) -> AppTest:
    """The dashboard, not yet run, over a store with one trained run."""
    return AppTest.from_file(DASHBOARD, default_timeout=60)
