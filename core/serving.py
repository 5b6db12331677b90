"""The loop an inference worker runs: requests in over a pipe, arrays out, models cached between requests.

The dashboard never imports Keras: Streamlit clears the Keras session after every script run once Keras is in
its process, which races model calls on other threads and can crash the server. So every model call goes to one
long-lived worker process per server, started by `core.inference.InferenceWorker` as

    python -m core.serving FD

where FD is the worker's end of a socket pair, wrapped in a `multiprocessing.connection.Connection`. The worker
is a fresh interpreter, never a fork of a process that holds TensorFlow. It imports Keras as soon as it starts,
so a worker started early has it ready by the first request, then answers one request at a time:

    {"id": 7, "operation": "reconstruct", "path": "/abs/run/model.keras", "images": (n, 28, 28, 1) float32}
        -> {"id": 7, "result": (n, 28, 28, 1) float32}
    {"id": 8, "operation": "feature_maps", "path": ..., "image": (28, 28, 1) float32}
        -> {"id": 8, "result": [(layer name, (height, width, channels) float32), ...]}
    {"id": 9, "operation": "weights", "path": ..., "layer": "decoder_2_conv2d_transpose"}
        -> {"id": 9, "result": LayerWeights(layer, type, kernel or None, bias or None)}
    {"id": 10, "operation": "encode", "path": ..., "images": (n, 28, 28, 1) float32}
        -> {"id": 10, "result": (n, height, width, channels) float32: the codes, the encoder's output}
    {"id": 11, "operation": "decode", "path": ..., "codes": (n, height, width, channels) float32}
        -> {"id": 11, "result": (n, 28, 28, 1) float32: the decoder's output}
    {"id": 12, "operation": "inspect", "path": "/abs/store/.import-x/model.keras"}
        -> {"id": 12, "result": ModelInspection(input_shapes, output_shapes, params, layers, feature_layers)}
    {"id": 13, "operation": "info"}
        -> {"id": 13, "result": {"pid": ..., "models": [paths, least recently used first], "loads": ...}}

"inspect" loads a model being imported (`core.model_import`) and leaves it out of the cache: it moves into its run.

A request that fails answers {"id": ..., "error": kind, "message": ...}, where kind is "missing" (no model file),
"unreadable" (Keras cannot load it) or "failed" (anything else); the worker carries on. It exits when the
connection closes, which happens when the server exits or dies, or when its parent process is gone.

Importing this module imports no Keras; only `serve` does.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import OrderedDict
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from core import inference, runs

CACHE_SIZE = 4  # Models kept loaded: the runs a user flips between in the sidebar.
OPERATIONS = ("reconstruct", "feature_maps", "weights", "encode", "decode", "inspect", "info")
PARENT_CHECK_SECONDS = 2.0  # How often an idle worker checks that the process that started it is still there.


class RequestError(Exception):
    """A request the worker cannot answer; `kind` is "missing", "unreadable" or "failed" (see the module)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class LoadedModel:
    """A model loaded from one version of its file, with its feature model and its two halves once asked for."""

    model: Any
    version: tuple[int, int]  # (st_mtime_ns, st_size) of the file it was loaded from.
    features: Any = None
    halves: Any = None  # (encoder, decoder) from `core.model.latent_models`.


def load_keras_model(path: str) -> Any:
    """Loads a saved `.keras` model for inference: uncompiled, and refusing archives that would run code.

    Raises:
        RequestError: "unreadable" for any file Keras cannot load.
    """
    try:
        runs.check_model_archive(Path(path))  # Before Keras unpacks anything: no zip bomb gets that far.
    except ValueError as error:
        raise RequestError("unreadable", str(error)) from error
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a damaged archive.
        raise RequestError("unreadable", str(error) or type(error).__name__) from error


class ModelCache:
    """The most recently used models, by file path; a file rewritten since it was loaded is loaded again.

    A run still training rewrites its `model.keras` after every epoch (by renaming a new file over it), so each
    request compares the file's modification time and size with those of the loaded version.
    """

    def __init__(self, capacity: int = CACHE_SIZE) -> None:
        if capacity < 1:
            raise ValueError(
                f"Invalid value for argument `capacity`. Expected at least 1. Received capacity={capacity}."
            )
        self.capacity = capacity
        self.loads = 0  # Models loaded from disk since the worker started, reloads included.
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()

    def get(self, path: str) -> LoadedModel:
        """The model saved at `path`, loaded now unless this version of the file is cached.

        Raises:
            RequestError: "missing" when there is no file at `path`, "unreadable" when Keras cannot load it.
        """
        try:
            stat = os.stat(path)
        except FileNotFoundError as error:
            raise RequestError("missing", f"No model file at {path}.") from error
        except OSError as error:  # A path through a file, or a directory the worker may not read.
            raise RequestError("unreadable", f"{type(error).__name__}: {error.strerror}") from error
        version = (stat.st_mtime_ns, stat.st_size)
        loaded = self._models.get(path)
        if loaded is None or loaded.version != version:
            self._models.pop(path, None)  # Free the old weights before loading the new ones.
            loaded = LoadedModel(load_keras_model(path), version)
            self.loads += 1
        self._models[path] = loaded
        self._models.move_to_end(path)
        while len(self._models) > self.capacity:
            self._models.popitem(last=False)
        return loaded

    @property
    def paths(self) -> list[str]:
        """The cached models' paths, least recently used first."""
        return list(self._models)


def handle(request: dict[str, Any], cache: ModelCache) -> dict[str, Any]:
    """Answers one request (see the module docstring); never raises for a bad request or a bad model file.

    Args:
        request: the request, as the client sent it.
        cache: the worker's models.

    Returns:
        {"id": ..., "result": ...} or {"id": ..., "error": kind, "message": ...}.
    """
    request_id = request.get("id")
    try:
        return {"id": request_id, "result": _answer(request, cache)}
    except RequestError as error:
        return {"id": request_id, "error": error.kind, "message": str(error)}
    except Exception as error:  # A bug or a model that cannot take the input: report it and keep serving.
        return {"id": request_id, "error": "failed", "message": f"{type(error).__name__}: {error}"}


def _answer(request: dict[str, Any], cache: ModelCache) -> Any:
    operation = request.get("operation")
    if operation == "reconstruct":
        model = cache.get(request["path"]).model
        return inference.reconstruct(model, request["images"], request.get("batch_size", 1000))
    if operation == "feature_maps":
        from core.model import feature_model

        loaded = cache.get(request["path"])
        if loaded.features is None:
            loaded.features = feature_model(loaded.model)
        return inference.feature_maps(loaded.model, request["image"], features=loaded.features)
    if operation == "weights":
        return inference.layer_weights(cache.get(request["path"]).model, request["layer"])
    if operation in ("encode", "decode"):
        from core.model import latent_models

        loaded = cache.get(request["path"])
        if loaded.halves is None:
            loaded.halves = latent_models(loaded.model)
        batch_size = request.get("batch_size", inference.BATCH_SIZE)
        if operation == "encode":
            return inference.encode(loaded.model, request["images"], batch_size, halves=loaded.halves)
        return inference.decode(loaded.model, request["codes"], batch_size, halves=loaded.halves)
    if operation == "inspect":
        if not os.path.isfile(request["path"]):
            raise RequestError("missing", f"No model file at {request['path']}.")
        return inference.inspect_model(load_keras_model(request["path"]))
    if operation == "info":
        return {"pid": os.getpid(), "models": cache.paths, "loads": cache.loads}
    raise RequestError(
        "failed",
        f"Invalid value for argument `operation`. Expected one of {list(OPERATIONS)}. "
        f"Received operation={operation!r}.",
    )


def serve(connection: Connection, parent_pid: int | None = None) -> None:
    """Answers requests from `connection` until it closes or the parent process is gone.

    Args:
        connection: the worker's end of the connection to the server.
        parent_pid: the server's process id; the loop ends if the worker's parent is no longer that process
            (a server killed while another process still holds a copy of its end of the connection).
    """
    try:
        import keras  # noqa: F401  The slow part (TensorFlow), done before any request is waiting on it.

        import core.model  # noqa: F401
    except Exception as error:  # Answer every request with the reason rather than dying without a word.
        startup_problem: str | None = f"The model worker cannot import Keras: {type(error).__name__}: {error}"
    else:
        startup_problem = None
    cache = ModelCache()
    while True:
        try:
            while not connection.poll(PARENT_CHECK_SECONDS):
                if parent_pid is not None and os.getppid() != parent_pid:
                    return
            request = connection.recv()
        except (EOFError, OSError):
            return  # The server closed its end or died: there is no one left to answer.
        if startup_problem is not None:
            response = {"id": request.get("id"), "error": "failed", "message": startup_problem}
        else:
            response = handle(request, cache)
        try:
            connection.send(response)
        except (EOFError, OSError):
            return


def main(argv: list[str] | None = None) -> int:
    """`python -m core.serving FD`: serves the connection on file descriptor FD until it closes."""
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1 or not arguments[0].isdigit():
        print("Usage: python -m core.serving FD (started by core.inference.InferenceWorker)", file=sys.stderr)
        return 2
    # Ctrl-C in the terminal of `make run` reaches this process too: the server's exit closes the connection,
    # which ends the loop cleanly, so the interrupt itself is ignored rather than printed as a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(int(arguments[0]))
    try:
        serve(connection, parent_pid=os.getppid())
    finally:
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
