"""The server process never imports Keras or TensorFlow, whichever page is shown.

Streamlit clears the Keras session after every script run once Keras is imported in its process, which races the
model calls of other sessions and can crash the server; so models run in the inference worker. The check runs in
a fresh interpreter, because this test process imports Keras for other tests: there, the dashboard is run through
`AppTest` over a store with one run, every page is opened (the Reconstructions page measures the test set, the
Draw page runs a drawn digit through the model, the Layer explorer reads its feature maps and weights and the
Latent space page encodes and decodes, all in the worker), and then `sys.modules` is inspected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import runs
from core.model import build_model
from core.presets import preset
from tests.ui.conftest import PAGES

pytestmark = pytest.mark.slow  # Every test here trains or starts a worker process.

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

# Run with the store's pretrained stand-in as its argument; prints one JSON line of what each page showed.
SCRIPT = """
import json
import os
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import runs
from tests.drawings import SEVEN, drawing
from ui import canvas
from ui.resources import get_inference_worker

runs.PRETRAINED_DIR = Path(sys.argv[1])  # Only the test's store: no shipped runs.
canvas.read_canvas = lambda stroke_width, key, disabled=False: drawing(SEVEN)  # A drawn seven, as the canvas gives.

def heavy_modules():
    return sorted({name.split(".")[0] for name in sys.modules if name.split(".")[0] in ("keras", "tensorflow")})

app = AppTest.from_file("dashboard.py", default_timeout=180)
app.run()
pages = {}
for page in sys.argv[2:]:
    app.switch_page(page).run()
    pages[page] = {
        "exceptions": [str(exception.value) for exception in app.exception],
        "errors": [error.value for error in app.error],
        "images": len(app.image),
        "image_captions": [caption for image in app.image for caption in image.captions],
        "heavy_modules": heavy_modules(),
    }
print(json.dumps({"pages": pages, "server": os.getpid(), "worker": get_inference_worker().pid}))
"""


@pytest.fixture(scope="module")
def opened_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What the subprocess saw: each page's exceptions, errors, images and the heavy modules loaded by then."""
    store = tmp_path_factory.mktemp("import-check") / "runs"
    spec = preset("strided")
    path = runs.create_run(spec, store)
    model = build_model(spec, compile=False)  # Untrained weights: only where the model runs matters here.
    runs.save_model(path, model)
    runs.update_summary(path, status="completed", params=model.count_params(), epochs_completed=1, test_loss=0.7)
    environment = {
        **os.environ,
        "STUDIO_RUNS_DIR": str(store),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY_ROOT), os.environ.get("PYTHONPATH")])),
    }
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(store.parent / "no-pretrained"), *PAGES],
        cwd=REPOSITORY_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("page", PAGES)
def test_no_page_imports_keras_or_tensorflow_into_the_server(opened_pages: dict[str, object], page: str) -> None:
    shown = opened_pages["pages"][page]
    assert shown["exceptions"] == [] and shown["errors"] == []
    # Cumulative: the modules loaded by the time this page ran, after every page before it.
    assert shown["heavy_modules"] == [], f"{shown['heavy_modules']} imported by the time {page} ran"


def test_the_model_pages_ran_their_models_in_the_worker(opened_pages: dict[str, object]) -> None:
    pages = opened_pages["pages"]
    assert pages["app_pages/reconstructions.py"]["images"] == 16  # The first page of the test set's cards.
    assert pages["app_pages/draw.py"]["image_captions"] == [
        "Your digit (28x28)",
        "Noisy input",
        "Model output",
        "Error vs clean",
    ]
    # The Layer explorer: the input, the strided model's six layers, the picked layer's kernels and one channel.
    assert len(pages["app_pages/explorer.py"]["image_captions"]) == 1 + 6 + 2
    assert pages["app_pages/explorer.py"]["image_captions"][-1] == "encoder_1_conv2d · channel 1 of 32 · 14x14"
    # The Latent space page: both ends, the strip decoded between their codes, and A's 7x7x8 code.
    latent_captions = pages["app_pages/latent.py"]["image_captions"]
    assert latent_captions[:2] == ["A: test digit 0 (a 7)", "B: test digit 1 (a 2)"] and len(latent_captions) == 4
    assert latent_captions[-1].startswith("8 channels of 7x7")
    assert opened_pages["worker"] not in (None, opened_pages["server"])
