"""Keras backends and precision: which backends are installed, which one a job trains on, and on what device.

A job picks its backend when it is queued (the sidebar, `python -m core.train --backend`, or `KERAS_BACKEND`);
the job runner starts its worker with `KERAS_BACKEND` set, since Keras reads it once, at import. Finding the
installed backends imports none of them, so the dashboard's server can offer the choice. The functions below the
line run inside a worker, where Keras is already imported on that backend.
"""

from __future__ import annotations

import importlib.util
import os
import platform
from typing import Any

from core.spec import SpecError

BACKENDS = ("tensorflow", "jax", "torch")
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
DEFAULT_BACKEND = "tensorflow"  # The fastest on CPUs here (BENCHMARKS.md); JAX is the fastest on GPUs.
# Linux's names for the instructions that compute bfloat16 on a CPU: AVX-512's dot products, and AMX's tiles.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
AUTO_PRECISION = "mixed_bfloat16 for TensorFlow on a CPU with bfloat16 instructions, else float32"  # See below.
OUT_OF_MEMORY_MARKERS = ("OOM", "RESOURCE_EXHAUSTED", "out of memory", "Out of memory", "CUDA error: out of memory")


def installed_backends() -> tuple[str, ...]:
    """The backends whose library is installed, in `BACKENDS` order; none of them is imported."""
    return tuple(name for name in BACKENDS if importlib.util.find_spec(name) is not None)


def describe_placement(backend: str, device: str, dtype_policy: str) -> str:
    """Where and how a job trains, in words: "TensorFlow on CPU (2 cores), float32"."""
    return f"{BACKEND_NAMES.get(backend, backend)} on {device}, {dtype_policy}"


def check_backend(backend: Any) -> str:
    """Returns `backend` if it is a backend this machine can train on.

    Raises:
        SpecError: for an unknown backend, or one whose library is not installed.
    """
    if backend not in BACKENDS:
        raise SpecError(f"Invalid value for argument `backend`. Expected one of {list(BACKENDS)}. Received "
                        f"backend={backend!r}.", argument="backend")  # fmt: skip
    if backend not in installed_backends():
        raise SpecError(
            f"Invalid value for argument `backend`. The {backend} backend is not installed here; installed: "
            f"{list(installed_backends())}. Received backend={backend!r}.",
            argument="backend",
        )
    return backend


def default_backend() -> str:
    """`KERAS_BACKEND` when it names an installed backend, else TensorFlow."""
    requested = os.environ.get("KERAS_BACKEND", "").strip().lower()
    return requested if requested in installed_backends() else DEFAULT_BACKEND


# --- Inside a worker process: Keras is imported, on the job's backend --------------------------------------------


def device_kind() -> str:
    """ "gpu" when the backend sees a GPU (and so will use it), else "cpu"."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return "gpu" if any(device.platform == "gpu" for device in jax.devices()) else "cpu"
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def describe_device() -> str:
    """The device a job trains on, in words: "CPU (2 cores)", "GPU: NVIDIA H100 80GB HBM3"."""
    import keras

    backend = keras.backend.backend()
    if device_kind() == "cpu":
        return f"CPU ({os.cpu_count()} cores)"
    if backend == "jax":
        import jax

        return f"GPU: {next(device for device in jax.devices() if device.platform == 'gpu').device_kind}"
    if backend == "torch":
        import torch

        return f"GPU: {torch.cuda.get_device_name(0)}"
    import tensorflow as tf

    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return f"GPU: {details.get('device_name', 'unnamed')}"


def data_parallel_devices(batch_size: int) -> list[Any]:
    """The devices a job on the JAX backend trains on together, data-parallel; an empty list for one device.

    JAX sees every GPU of the machine (on a CPU, as many devices as
    `XLA_FLAGS=--xla_force_host_platform_device_count=N` asks for). Each batch is split evenly between them, so
    this takes the most devices that divide `batch_size`: batch 1000 on 3 GPUs trains on 2. On TensorFlow and
    PyTorch a job uses one device.
    """
    import keras

    if keras.backend.backend() != "jax":
        return []
    import jax

    devices = jax.devices()
    count = max(count for count in range(1, len(devices) + 1) if batch_size % count == 0)
    return devices[:count] if count > 1 else []


def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bfloat16 in hardware: it reports AVX512_BF16 or AMX's bfloat16 (Linux's flags).

    False where `cpuinfo` cannot be read (not Linux): without those instructions oneDNN emulates bfloat16, slower than
    float32. A virtual machine may hide them from its guest although the host's CPU has them.
    """
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as file:
            flags = {flag for line in file if line.startswith("flags") for flag in line.partition(":")[2].split()}
    except OSError:
        return False
    return not flags.isdisjoint(BFLOAT16_CPU_FLAGS)


def resolve_dtype_policy(requested: str, device: str, backend: str) -> str:
    """The dtype policy a job trains with: `requested`, or for "auto" the one that pays on `device` and `backend`.

    "auto" is `AUTO_PRECISION`: mixed_bfloat16 for TensorFlow on a CPU with bfloat16 instructions
    (`cpu_has_bfloat16`), and float32 everywhere else, as measured (BENCHMARKS.md). On 2 cores of an AMD EPYC with
    AVX512_BF16, mixed_bfloat16 trained the seed preset's 25 epochs 1.29x faster than float32 through the runner (its
    steps alone 1.56x), to test BCE 0.06034 against 0.06031; on 2 Intel cores whose VM hides AVX512_BF16 and AMX
    (oneDNN emulates bfloat16 there) at 0.61x the float32 rate. On an H200 with JAX (the engine on `core.jax_loop`)
    it was 32% faster an epoch, but XLA took about 6 s longer to compile it, so the 25-epoch seed recipe still
    trained in 17.0 s against 12.1 s (on `fit`, seed-fast took 13.6 s against 7.9 s). JAX on that AMD CPU trained at
    76 img/s in mixed_bfloat16 against 80 in float32 (XLA's CPU kernels gain nothing from it), 25-35 times slower
    than TensorFlow anyway; PyTorch on a CPU was not measured. A model far larger than the presets, or trained for
    far more epochs, may gain from mixed_bfloat16 on a GPU, so it stays a choice.
    """
    if requested != "auto":
        return requested
    if device == "cpu" and backend == "tensorflow" and cpu_has_bfloat16():
        return "mixed_bfloat16"
    return "float32"


def library_versions() -> dict[str, str]:
    """Versions of the libraries a run depends on, stored in its summary: Python, Keras, NumPy and the backend."""
    import keras
    import numpy as np

    backend = keras.backend.backend()
    versions = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__}
    module = __import__(backend)
    versions[backend] = getattr(module, "__version__", "unknown")
    return versions


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` says the device ran out of memory, in any backend's words."""
    return isinstance(error, MemoryError) or any(marker in str(error) for marker in OUT_OF_MEMORY_MARKERS)
