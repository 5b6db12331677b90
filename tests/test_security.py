"""Security settings that must not drift: where the server listens, XSRF, uploads, how models are loaded, and what
a run's files and an exported script may contain.

Each test here is a line of the Security section of RELIABILITY.md.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core import jobs, runs
from core.keras_code import keras_code
from core.model_import import MAX_UPLOAD_BYTES
from core.presets import PRESETS, preset
from core.spec import MAX_SPEC_BYTES

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((REPOSITORY_ROOT / ".streamlit" / "config.toml").read_text())
SERVER_CODE = [REPOSITORY_ROOT / "dashboard.py", *sorted((REPOSITORY_ROOT / "app_pages").glob("*.py"))]
SERVER_CODE += sorted((REPOSITORY_ROOT / "ui").glob("*.py"))
SECRET = "studio-test-secret-8c1f5e"  # Put in the environment; it must appear in no file a run writes.


def test_the_server_listens_on_loopback_only() -> None:
    assert CONFIG["server"]["address"] == "127.0.0.1"


def test_xsrf_protection_stays_on() -> None:
    assert CONFIG["server"].get("enableXsrfProtection", True) is True
    assert "enableCORS" not in CONFIG["server"]  # Turning CORS off would turn XSRF protection off with it.


def test_uploads_are_limited_and_checked_again_in_our_code() -> None:
    assert 1 <= CONFIG["server"]["maxUploadSize"] <= 10  # Megabytes; Streamlit's default is 200.
    # The config's limit is the first check, and each uploader's file is checked again in our code: the spec JSON
    # by `spec_from_upload` (a spec's 1 MB, before decoding or parsing it), the model by `import_model` (the
    # config's limit, in Streamlit's megabytes of 2**20 bytes, before writing it anywhere).
    uploaders = [
        path.relative_to(REPOSITORY_ROOT).as_posix() for path in SERVER_CODE if "file_uploader" in path.read_text()
    ]
    assert uploaders == ["ui/model_import.py", "ui/sidebar.py"]
    assert "spec_from_upload(uploaded.getvalue())" in (REPOSITORY_ROOT / "ui" / "sidebar.py").read_text()
    assert "import_model(uploaded.getvalue()," in (REPOSITORY_ROOT / "ui" / "model_import.py").read_text()
    assert CONFIG["server"]["maxUploadSize"] * 2**20 == MAX_UPLOAD_BYTES
    assert MAX_SPEC_BYTES <= 2**20  # The spec uploader asks the browser for 1 MB at most.


def test_the_existing_settings_are_kept() -> None:
    assert CONFIG["server"]["headless"] is True
    assert CONFIG["runner"]["postScriptGC"] is False


def _keras_load_model_calls(path: Path) -> list[ast.Call]:
    """Every `keras.saving.load_model(...)` (or `keras.models.load_model(...)`) call in a module."""
    return [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "load_model"
        and ast.unparse(node.func.value) in ("keras.saving", "keras.models", "saving", "models")
    ]


def test_every_model_is_loaded_with_safe_mode() -> None:
    calls = {
        path.name: _keras_load_model_calls(path)
        for path in sorted((REPOSITORY_ROOT / "core").glob("*.py"))
        if _keras_load_model_calls(path)
    }
    assert set(calls) == {"runs.py", "serving.py"}
    for name, found in calls.items():
        for call in found:
            safe_mode = [keyword.value for keyword in call.keywords if keyword.arg == "safe_mode"]
            assert [ast.unparse(value) for value in safe_mode] == ["True"], f"{name}:{call.lineno}"


def _machine_strings(tmp_path: Path) -> list[str]:
    home = str(Path.home())
    return [str(REPOSITORY_ROOT), str(tmp_path), SECRET, *([home] if home not in ("/", "") else [])]


def _strings(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [*data.keys(), *(text for value in data.values() for text in _strings(value))]
    if isinstance(data, list):
        return [text for value in data for text in _strings(value)]
    return [data] if isinstance(data, str) else []


def _assert_no_machine_paths(texts: list[str], forbidden: list[str], where: str) -> None:
    for text in texts:
        assert not re.match(r"^(/|~|[A-Za-z]:\\)", text), f"{where}: absolute path {text!r}"
        for word in forbidden:
            assert word not in text, f"{where}: {word!r} in {text!r}"


def test_a_runs_files_hold_no_secret_or_machine_path(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDIO_API_TOKEN", SECRET)
    path = jobs.submit(preset("denoising"), 600, runs_dir, start=False)
    runs.append_history(path, {"epoch": 1, "loss": 0.3, "val_loss": 0.31})
    runs.update_summary(path, status="completed", message="Completed 1 epoch.")
    forbidden = _machine_strings(tmp_path)
    for name in ("config.json", "summary.json"):
        _assert_no_machine_paths(_strings(json.loads((path / name).read_text())), forbidden, name)
    for line in (path / "history.jsonl").read_text().splitlines():
        _assert_no_machine_paths(_strings(json.loads(line)), forbidden, "history.jsonl")


def test_the_shipped_runs_files_hold_no_machine_path(tmp_path: Path) -> None:
    # Made by `make pretrained` with our own CLI on another machine: what a real finished run leaves.
    shipped = [path for path in sorted(runs.PRETRAINED_DIR.iterdir()) if path.is_dir()]
    assert shipped
    forbidden = _machine_strings(tmp_path)
    for path in shipped:
        for name in ("config.json", "summary.json"):
            _assert_no_machine_paths(_strings(json.loads((path / name).read_text())), forbidden, name)
        for line in (path / "history.jsonl").read_text().splitlines():
            _assert_no_machine_paths(_strings(json.loads(line)), forbidden, "history.jsonl")
        with zipfile.ZipFile(path / "model.keras") as archive:
            for member in archive.namelist():
                if member.endswith(".json"):
                    data = json.loads(archive.read(member))
                    _assert_no_machine_paths(_strings(data), forbidden, f"model.keras/{member}")


@pytest.mark.parametrize("name", list(PRESETS))
def test_the_exported_script_holds_no_secret_or_machine_path(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDIO_API_TOKEN", SECRET)
    code = keras_code(preset(name))
    for word in _machine_strings(tmp_path):
        assert word not in code
    assert not re.search(r"""["'](/|~/|[A-Za-z]:\\)""", code)  # No string literal is an absolute path.
