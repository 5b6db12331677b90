"""Tests for core.backends: installed backends, the backend a job picks, precision, and a job on JAX."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import backends, jobs, runs
from core.jobs import JobRunner
from core.presets import preset
from core.spec import SpecError

ROOT = Path(__file__).resolve().parents[1]
HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None  # Not in CI: its default wheel brings the CUDA stack.


def test_installed_backends_are_found_without_importing_them() -> None:
    before = set(sys.modules)
    installed = backends.installed_backends()
    assert "tensorflow" in installed
    assert set(installed) <= set(backends.BACKENDS)
    assert not {"tensorflow", "jax", "torch"} & (set(sys.modules) - before)


def test_check_backend_refuses_unknown_and_missing_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backends.check_backend("tensorflow") == "tensorflow"
    with pytest.raises(SpecError, match=r"Invalid value for argument `backend`. Expected one of \['tensorflow', "):
        backends.check_backend("theano")
    monkeypatch.setattr(backends, "installed_backends", lambda: ("tensorflow",))
    with pytest.raises(SpecError, match="The torch backend is not installed here; installed: \\['tensorflow'\\]"):
        backends.check_backend("torch")


def test_default_backend_follows_keras_backend_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "installed_backends", lambda: ("tensorflow", "jax"))
    monkeypatch.setenv("KERAS_BACKEND", "JAX")
    assert backends.default_backend() == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # Not installed: the default, not a failure at Start.
    assert backends.default_backend() == "tensorflow"
    monkeypatch.delenv("KERAS_BACKEND")
    assert backends.default_backend() == "tensorflow"


@pytest.mark.parametrize(
    "requested, device, backend, bfloat16_cpu, expected",
    [("auto", "cpu", "tensorflow", False, "float32"), ("auto", "cpu", "tensorflow", True, "mixed_bfloat16"),
     ("auto", "cpu", "jax", True, "float32"), ("auto", "cpu", "torch", True, "float32"),
     ("auto", "gpu", "jax", True, "float32"), ("auto", "gpu", "tensorflow", True, "float32"),
     ("mixed_float16", "cpu", "tensorflow", True, "mixed_float16"), ("float32", "cpu", "tensorflow", True, "float32"),
     ("mixed_bfloat16", "gpu", "jax", False, "mixed_bfloat16"), ("float32", "gpu", "jax", False, "float32")],
)  # fmt: skip
def test_auto_precision_is_bfloat16_only_for_tensorflow_on_a_bfloat16_cpu_and_a_chosen_one_is_kept(
    monkeypatch: pytest.MonkeyPatch, requested: str, device: str, backend: str, bfloat16_cpu: bool, expected: str
) -> None:
    monkeypatch.setattr(backends, "cpu_has_bfloat16", lambda: bfloat16_cpu)
    assert backends.resolve_dtype_policy(requested, device, backend) == expected


@pytest.mark.parametrize(
    "flags, expected",
    [("fpu sse2 avx2 avx512f avx512_vnni", False), ("fpu avx512f avx512_bf16 avx512_vnni", True),
     ("fpu avx512f amx_bf16 amx_tile", True), ("fpu avx512f avx512bf16x", False)],
)  # fmt: skip
def test_a_bfloat16_cpu_is_told_by_its_flags(tmp_path: Path, flags: str, expected: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n"
                       f"flags\t\t: {flags}\n")  # fmt: skip
    assert backends.cpu_has_bfloat16(str(cpuinfo)) is expected


def test_a_cpu_without_cpuinfo_is_taken_for_one_without_bfloat16(tmp_path: Path) -> None:
    assert backends.cpu_has_bfloat16(str(tmp_path / "absent")) is False


def test_out_of_memory_is_recognised_in_each_backends_words() -> None:
    assert backends.is_out_of_memory(MemoryError())
    assert backends.is_out_of_memory(RuntimeError("OOM when allocating tensor with shape[1000,32,26,26]"))
    assert backends.is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"))
    assert backends.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not backends.is_out_of_memory(ValueError("Invalid value for argument `filters`."))


def test_the_worker_reports_device_and_versions_of_its_backend() -> None:
    assert backends.device_kind() == "cpu"  # This machine has no GPU.
    assert backends.describe_device() == f"CPU ({os.cpu_count()} cores)"
    versions = backends.library_versions()
    assert set(versions) == {"python", "keras", "numpy", "tensorflow"}


def test_submit_records_the_backend_and_refuses_a_missing_one(tmp_path: Path) -> None:
    path = jobs.submit(preset("strided"), 600, tmp_path, backend="tensorflow", start=False)
    assert runs.read_config(path)["settings"]["backend"] == "tensorflow"
    with pytest.raises(SpecError, match="argument `backend`"):
        jobs.submit(preset("strided"), 600, tmp_path, backend="theano", start=False)
    assert len(list(tmp_path.iterdir())) == 1  # The refused job wrote nothing.


def test_a_jobs_worker_is_started_on_its_backend(tmp_path: Path) -> None:
    path = jobs.submit(preset("strided"), 600, tmp_path, backend="jax" if HAS_JAX else "tensorflow", start=False)
    environment = jobs._worker_environment(path)
    assert environment["KERAS_BACKEND"] == ("jax" if HAS_JAX else "tensorflow")
    if HAS_JAX:  # Its compiled programs go to the project's cache, unless JAX_COMPILATION_CACHE_DIR says elsewhere.
        expected = os.environ.get("JAX_COMPILATION_CACHE_DIR", str(jobs.JAX_CACHE_DIR))
        assert environment["JAX_COMPILATION_CACHE_DIR"] == expected
        # Every compiled program is kept, the weights' small initializers too, unless the user says otherwise.
        kept = os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        assert environment["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == kept
    config = runs.read_config(path)
    del config["settings"]["backend"]  # A run queued before backends were a setting trained on TensorFlow.
    (path / "config.json").write_text(json.dumps(config))
    environment = jobs._worker_environment(path)
    assert environment["KERAS_BACKEND"] == "tensorflow"
    assert environment.get("JAX_COMPILATION_CACHE_DIR") == os.environ.get("JAX_COMPILATION_CACHE_DIR")
    minimum = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"
    assert environment.get(minimum) == os.environ.get(minimum)


# --- Real training and models on another backend ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_a_job_trains_on_jax_in_its_worker_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = preset("strided").with_training(batch_size=100, epochs=2, learning_rate=0.003, dtype_policy="float32")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "compiled"))
    monkeypatch.delenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", raising=False)  # The worker's own default.
    runner = JobRunner(tmp_path / "runs")
    job_id = runner.start(spec, limit=600, backend="jax")
    snapshot = runner.join(job_id, timeout=300)
    assert snapshot.status == "completed", snapshot.message
    summary = runs.read_summary(tmp_path / "runs" / job_id)
    assert (summary["backend"], summary["dtype_policy"]) == ("jax", "float32")
    # Its programs are kept however short they took to compile: the training step, and the weights' initializers.
    kept = {path.name.split("-")[0] for path in (tmp_path / "compiled").iterdir()}
    assert {"jit_train_step", "jit__truncated_normal"} <= kept
    assert summary["device"].startswith("CPU") and "jax" in summary["versions"]
    assert "tensorflow" not in summary["versions"]
    losses = [event["loss"] for event in snapshot.events if event["kind"] == "epoch"]
    assert losses[1] < losses[0]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
def test_a_job_trains_on_torch_in_its_worker_and_says_so(tmp_path: Path) -> None:
    spec = preset("strided").with_training(batch_size=100, epochs=2, learning_rate=0.003, dtype_policy="auto")
    runner = JobRunner(tmp_path)
    snapshot = runner.join(runner.start(spec, limit=600, backend="torch"), timeout=300)
    assert snapshot.status == "completed", snapshot.message
    summary = runs.read_summary(tmp_path / snapshot.job_id)
    # `auto` is bfloat16 only for TensorFlow on a CPU that has it (tests above): float32 here.
    assert (summary["backend"], summary["dtype_policy"]) == ("torch", "float32")
    assert summary["device"] == f"CPU ({os.cpu_count()} cores)"
    assert {"torch", "keras"} <= set(summary["versions"]) and "tensorflow" not in summary["versions"]
    losses = [event["loss"] for event in snapshot.events if event["kind"] == "epoch"]
    assert losses[1] < losses[0] and np.isfinite(summary["test_loss"])
    assert not (tmp_path / snapshot.job_id / "tensorboard").exists()  # TensorBoard's files come from TensorFlow.


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_a_job_on_several_jax_devices_trains_data_parallel_to_the_same_losses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No machine here has two GPUs; JAX can split this CPU into two devices, which takes the same code path.
    spec = preset("strided").with_training(batch_size=100, epochs=2, learning_rate=0.003, dtype_policy="float32")
    runner = JobRunner(tmp_path)
    one = runner.join(runner.start(spec, limit=600, backend="jax"), timeout=300)
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    two = runner.join(runner.start(spec, limit=600, backend="jax"), timeout=300)
    assert (one.status, two.status) == ("completed", "completed"), (one.message, two.message)
    summaries = [runs.read_summary(tmp_path / snapshot.job_id) for snapshot in (one, two)]
    assert "data-parallel" not in summaries[0]["device"]
    assert summaries[1]["device"].endswith(", data-parallel on 2 devices")
    # Each device takes half of every batch, and the gradients are averaged: the same training, to rounding.
    for name in ("loss", "val_loss", "test_loss"):
        assert summaries[1][name] == pytest.approx(summaries[0][name], rel=1e-4), name


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend",
    [pytest.param("jax", marks=pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")),
     pytest.param("torch", marks=pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed"))],
)  # fmt: skip
def test_a_model_saved_on_tensorflow_loads_on_another_backend_with_the_same_outputs(
    tmp_path: Path, backend: str
) -> None:
    import keras

    from core.mnist import load_mnist, scale
    from core.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model(preset("strided"))
    model.save(tmp_path / "model.keras")
    images = scale(load_mnist().x_test[:16])
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "tensorflow.npy", model.predict_on_batch(images))
    script = (
        "import sys, numpy as np, keras; path = sys.argv[1]; "
        "model = keras.saving.load_model(path + '/model.keras', compile=False, safe_mode=True); "
        "assert keras.backend.backend() == sys.argv[2]; "
        "outputs = model.predict_on_batch(np.load(path + '/images.npy')); "
        "np.save(path + '/other.npy', keras.ops.convert_to_numpy(outputs))"
    )
    environment = {**os.environ, "KERAS_BACKEND": backend}
    command = [sys.executable, "-c", script, str(tmp_path), backend]
    subprocess.run(command, cwd=ROOT, env=environment, check=True, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "other.npy"), np.load(tmp_path / "tensorflow.npy"), atol=1e-5)


# --- Mixed precision ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_computes_in_16_bits_and_keeps_the_output_layer_and_weights_in_float32(policy: str) -> None:
    import keras

    from core.model import build_model

    model = build_model(preset("strided"), dtype_policy=policy)
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    first, output = encoder.layers[1], decoder.layers[-1]
    assert first.dtype_policy.name == policy and first.compute_dtype == policy.removeprefix("mixed_")
    assert all(weight.dtype == "float32" for weight in model.weights)
    assert output.dtype_policy.name == "float32"
    assert model.predict_on_batch(np.zeros((2, 28, 28, 1), np.float32)).dtype == np.float32
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    assert keras.config.dtype_policy().name == "float32"  # The global policy is put back.


def test_build_model_wants_a_resolved_dtype_policy() -> None:
    from core.model import build_model

    with pytest.raises(ValueError, match="Invalid value for argument `dtype_policy`"):
        build_model(preset("strided"), dtype_policy="auto")


@pytest.mark.slow
def test_a_short_bfloat16_run_learns(tmp_path: Path) -> None:
    from core import training

    spec = preset("strided").with_training(batch_size=100, epochs=2, learning_rate=0.003,
                                           dtype_policy="mixed_bfloat16")  # fmt: skip
    path = jobs.submit(spec, 600, tmp_path, start=False)
    assert training.train_run(path) == "completed"
    summary = runs.read_summary(path)
    assert summary["dtype_policy"] == "mixed_bfloat16"
    history = [json.loads(line) for line in (path / "history.jsonl").read_text().splitlines()]
    assert history[1]["loss"] < history[0]["loss"] and np.isfinite(summary["test_loss"])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")
def test_the_model_batch_and_loop_tests_pass_on_jax() -> None:
    # The training procedure itself runs on JAX in `test_a_job_trains_on_jax_in_its_worker_and_says_so`; here, its
    # chart's batch losses, with a short batch, on `core.jax_loop`.
    short_batch = "tests/test_training.py::test_each_batch_event_is_that_batchs_own_loss_with_a_short_batch[gaussian]"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_model.py",
               "tests/test_batches.py", "tests/test_jax_loop.py", short_batch]  # fmt: skip
    environment = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
def test_the_model_batch_and_training_tests_pass_on_torch() -> None:
    # Where PyTorch is installed (not in CI), the model, batch, training and latent-space tests run on it whole:
    # its fit reads Keras' PyDataset, and its tensors, which require grad, must reach NumPy through Keras.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_model.py",
               "tests/test_batches.py", "tests/test_training.py", "tests/test_latent.py"]  # fmt: skip
    environment = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
