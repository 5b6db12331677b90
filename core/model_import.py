"""Importing a `.keras` model made elsewhere as a run of the store: checked, loaded safely, then registered.

An upload is refused, with the reason in Keras' voice, when it is too large, when it is not a Keras archive (a PNG
or an HDF5 file renamed, a truncated download, a zip of something else), when it would unpack to more than any
model of ours (a zip bomb), when Keras' safe mode refuses it (a Lambda layer, whose Python code would run as the
model loads), or when its input or output is not one 28x28x1 image. Only a model that passes every check becomes a
run, with the status "imported" (`core.runs.register_imported_run`); a refused upload leaves nothing in the store.

The server process never imports Keras: the file is written to a hidden staging directory in the store, and the
inference worker loads it there (`InferenceWorker.inspect`, with `safe_mode=True` as every load). This module
imports no Keras.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from core.inference import InferenceWorker, ModelFileError, ModelInspection
from core.runs import (
    DEFAULT_RUNS_DIR,
    RunInfo,
    check_model_archive,
    load_run,
    register_imported_run,
    staging_directory,
)
from core.spec import INPUT_SHAPE

# The largest upload, in bytes: `server.maxUploadSize` in .streamlit/config.toml (10, in Streamlit's MB of 2**20
# bytes) is the server's own limit, and this one is checked again here (tests/test_security.py keeps them equal).
# The studio's presets save models of 0.05 to 3 MB.
MAX_UPLOAD_BYTES = 10 * 2**20
MAX_LAYERS_KEPT = 500  # Layers listed in an imported run's config; a summary past 1 MB would not be read back.
IMAGE_SHAPE = (None, *INPUT_SHAPE)  # One batch of 28x28x1 images, of any size.
# The first bytes of files that are sometimes renamed to .keras by mistake, and what they are.
_SIGNATURES = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file, such as Keras 2's `.h5` format: load it in Keras and save it again with "
     '`model.save("model.keras")`'),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x93NUMPY", "a NumPy array file"),
)  # fmt: skip


class ModelImportError(ValueError):
    """An uploaded model that is not imported; the message says why, in Keras' voice."""


def import_model(
    data: bytes, file_name: str, worker: InferenceWorker, runs_dir: Path | str = DEFAULT_RUNS_DIR
) -> RunInfo:
    """Checks an uploaded `.keras` file, has the inference worker load it safely, and registers it as a run.

    Args:
        data: the file's bytes, at most `MAX_UPLOAD_BYTES` (checked before anything is written).
        file_name: the name it was uploaded under; only shown and recorded, never used as a path.
        worker: the inference worker that loads it (with `safe_mode=True`) and reports its shapes and layers.
        runs_dir: the store the run joins.

    Returns:
        The new run, with the status "imported", its model file, and a config naming `file_name` instead of a spec.

    Raises:
        ModelImportError: for a file too large, not a Keras archive, truncated, a zip bomb, one Keras' safe mode
            refuses (a Lambda layer), or a model whose input or output is not 28x28x1. Nothing is left in the store.
        InferenceError: if the inference worker stopped, timed out or failed; nothing is left in the store either.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise ModelImportError(
            f"Invalid model file. Expected at most {MAX_UPLOAD_BYTES:,} bytes ({MAX_UPLOAD_BYTES // 2**20} MB), the "
            f"upload limit. Received {len(data):,} bytes."
        )
    file_name = _base_name(file_name)
    with staging_directory(runs_dir) as staging:
        model_file = staging / "model.keras"
        model_file.write_bytes(data)
        try:
            check_model_archive(model_file)  # By the sizes its zip directory gives: a zip bomb stops here.
        except ValueError as error:
            raise ModelImportError(f"Invalid model file: {error}.") from error
        _check_keras_archive(model_file, data)
        try:
            inspection = worker.inspect(model_file)
        except ModelFileError as error:
            raise ModelImportError(_refusal(error.reason or str(error))) from error
        check_image_shapes(inspection)
        explorable = explorer_can_read(inspection)
        imported = {
            "file_name": file_name,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "layers": [list(layer) for layer in inspection.layers[:MAX_LAYERS_KEPT]],
            "layer_count": len(inspection.layers),
        }
        summary = {
            "params": inspection.params,
            "input_shape": list(inspection.input_shapes[0]),
            "output_shape": list(inspection.output_shapes[0]),
            "explorable": explorable,
        }
        path = register_imported_run(staging, run_name(file_name), imported, summary)
    return load_run(path.name, path.parent)


def check_image_shapes(inspection: ModelInspection) -> None:
    """Refuses a model that does not take and give one batch of 28x28x1 images, naming the shape it has.

    Raises:
        ModelImportError: for more than one input or output, or an input or output of another shape.
    """
    for what, shapes in (("input", inspection.input_shapes), ("output", inspection.output_shapes)):
        if len(shapes) != 1:
            raise ModelImportError(
                f"Invalid model {what}. Expected one {what} of shape {_format(IMAGE_SHAPE)}, a batch of 28x28x1 "
                f"images. Received {len(shapes)} {what}s: {', '.join(_format(shape) for shape in shapes)}."
            )
        if tuple(shapes[0][1:]) != INPUT_SHAPE:
            raise ModelImportError(
                f"Invalid model {what}. Expected shape {_format(IMAGE_SHAPE)}, a batch of 28x28x1 images, as an "
                f"MNIST autoencoder's. Received shape={_format(shapes[0])}."
            )


def explorer_can_read(inspection: ModelInspection) -> bool:
    """Whether the Layer explorer can show the model: the studio's encoder and decoder, each layer giving maps."""
    from core.explorer import layer_part  # Here, not above: it draws with Matplotlib, which the sidebar never needs.

    if inspection.feature_layers is None:
        return False
    try:
        return all(layer_part(name) and len(shape) == 3 for name, shape in inspection.feature_layers)
    except ValueError:  # A layer not named as the studio names them.
        return False


def run_name(file_name: str) -> str:
    """The display name of a run imported from `file_name`: the name without `.keras`, at most 64 characters."""
    stem = file_name[: -len(".keras")] if file_name.lower().endswith(".keras") else file_name
    return stem.strip()[:64].strip() or "imported model"


def _base_name(file_name: str) -> str:
    # A browser sends the bare name, but nothing stops a client sending a path: keep only its last part, printable.
    name = PureWindowsPath(PurePosixPath(str(file_name)).name).name
    name = re.sub(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", "", name)[:100]
    return name or "model.keras"


def _check_keras_archive(path: Path, data: bytes) -> None:
    # Keras answers a file that is not a zip archive with "File not found", so the reason is found here first.
    if not zipfile.is_zipfile(path):
        if data.startswith(b"PK\x03\x04"):
            raise ModelImportError(
                "Invalid model file. Expected a complete `.keras` archive. Received a zip archive that is truncated "
                "or damaged: its directory, at the end of the file, is missing."
            )
        found = next((what for signature, what in _SIGNATURES if data.startswith(signature)), None)
        raise ModelImportError(
            "Invalid model file. Expected a Keras `.keras` archive (a zip file, as `model.save` writes it). "
            f"Received {found or _unknown(data)}."
        )
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        damaged = None if "config.json" not in names else archive.testzip()  # Within `MAX_MODEL_BYTES` unpacked.
    if "config.json" not in names:
        listed = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
        raise ModelImportError(
            "Invalid model file. Expected a Keras `.keras` archive, with config.json and model.weights.h5. Received "
            f"a zip archive without config.json (it holds {listed or 'nothing'})."
        )
    if damaged is not None:
        raise ModelImportError(
            f"Invalid model file. Expected a complete `.keras` archive. Received one whose {damaged} is damaged "
            "(its checksum does not match)."
        )


def _unknown(data: bytes) -> str:
    if not data:
        return "an empty file"
    return f"a file of {len(data):,} bytes that starts with {data[:8]!r}"


def _refusal(reason: str) -> str:
    if "Lambda" in reason:
        return (
            "Invalid model file. Expected a model without Lambda layers. Received one with a Lambda layer, whose "
            "Python code would run as the model loads: Keras' safe mode (safe_mode=True), which the studio always "
            "loads models with, refuses it. Rebuild the model with Keras' own layers instead."
        )
    if "unpack to" in reason or "largest model" in reason:
        return f"Invalid model file: {reason}."
    return f"Invalid model file. Keras could not load it: {reason}"


def _format(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"
