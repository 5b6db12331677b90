"""The sidebar on every page: preset, training settings and the active run.

It is drawn by `dashboard.py` before the page runs, so its widgets (and their values) exist on every page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import streamlit as st

from core.backends import AUTO_PRECISION, BACKEND_NAMES, default_backend, installed_backends
from core.export import spec_from_upload
from core.presets import PRESET_DESCRIPTIONS, PRESETS, preset
from core.runs import RunInfo
from core.spec import (
    DTYPE_POLICIES,
    LEARNING_RATE_SCHEDULES,
    LOSSES,
    OPTIMIZERS,
    TRAINING_NOISE_KINDS,
    ExperimentSpec,
    NoiseSpec,
    SpecError,
    TrainingSpec,
    validate_training,
)
from ui import state
from ui.model_import import model_import_ui

PRESET_KEY = "sidebar_preset"
_TRAINING_KEYS = {
    "epochs": "sidebar_epochs",
    "batch_size": "sidebar_batch_size",
    "optimizer": "sidebar_optimizer",
    "learning_rate": "sidebar_learning_rate",
    "learning_rate_schedule": "sidebar_schedule",
    "loss": "sidebar_loss",
    "validation_split": "sidebar_validation_split",
    "noise_kind": "sidebar_noise_kind",
    "noise_amount": "sidebar_noise_amount",
    "seed": "sidebar_seed",
    "dtype_policy": "sidebar_dtype_policy",
}
LOADED_PRESET_KEY = "studio_loaded_preset"
RUN_KEY = "sidebar_run"
MIN_LEARNING_RATE = 0.00001  # The widgets' ranges, narrower than the spec's: an uploaded spec must fit them.
MAX_VALIDATION_SPLIT = 0.5
UPLOAD_KEY = "sidebar_spec_upload"
REFILLED_KEY = "sidebar_refilled"  # What an emptied number box got back, said once.
UPLOAD_RESULT_KEY = "studio_spec_upload_result"  # (file id, error or None) of the last file uploaded.
LOSS_LABELS = {"binary_crossentropy": "Binary cross-entropy", "mse": "Mean squared error"}
NOISE_LABELS = {"none": "None", "gaussian": "Gaussian", "salt_pepper": "Salt and pepper"}
PRECISION_LABELS = {
    "auto": f"Auto ({AUTO_PRECISION})",
    "float32": "float32",
    "mixed_bfloat16": "Mixed bfloat16",
    "mixed_float16": "Mixed float16 (with loss scaling)",
}


def _training_widget_values(training: TrainingSpec) -> dict[str, object]:
    return {**training.to_dict(), "noise_kind": training.noise.kind, "noise_amount": float(training.noise.amount)}


def _load_training_widgets(training: TrainingSpec) -> None:
    values = _training_widget_values(training)
    for name, key in _TRAINING_KEYS.items():
        st.session_state[key] = values[name]


def _bring_back_training_widgets() -> None:
    # Streamlit drops the values of widgets a run did not draw, and the Sweeps page's fragment, which draws no
    # sidebar, can switch page: the boxes then came back empty (or, before they could be emptied, at their minimum:
    # learning rate 0.00001, batch 1). The draft spec still holds every value.
    values = _training_widget_values(state.current_spec().training)
    for name, key in _TRAINING_KEYS.items():
        state.bring_back(key, values[name])


def _apply_preset(name: str) -> None:
    # Runs before the training widgets are drawn in this rerun, so it may still set their values.
    if st.session_state.get(LOADED_PRESET_KEY) == name:
        return
    spec = preset(name)
    state.set_spec(spec)
    _load_training_widgets(spec.training)
    st.session_state[LOADED_PRESET_KEY] = name


def _noise_kind_changed() -> None:
    # Noise of amount 0 is refused, and the slider sits at 0 while the kind is "none": picking a kind would disable
    # training at once. It starts where the shipped denoiser trained instead.
    keys = _TRAINING_KEYS
    if st.session_state[keys["noise_kind"]] != "none" and not st.session_state.get(keys["noise_amount"]):
        st.session_state[keys["noise_amount"]] = PRESETS["denoising"].training.noise.amount


def load_spec(spec: ExperimentSpec) -> None:
    """Makes `spec` the draft, its training settings included; call it from a callback, before the sidebar draws."""
    state.set_spec(spec)
    _load_training_widgets(spec.training)


def _load_uploaded_spec() -> None:
    # A callback: it runs before the rerun draws the training widgets, so it may still set their values.
    uploaded = st.session_state.get(UPLOAD_KEY)
    if uploaded is None:
        st.session_state.pop(UPLOAD_RESULT_KEY, None)
        return
    try:
        spec = spec_from_upload(uploaded.getvalue())
        _check_fits_the_widgets(spec.training)
    except SpecError as error:
        st.session_state[UPLOAD_RESULT_KEY] = (uploaded.file_id, f"{uploaded.name} was not loaded. {error}")
        return
    load_spec(spec)
    st.session_state[UPLOAD_RESULT_KEY] = (uploaded.file_id, None)


def _check_fits_the_widgets(training: TrainingSpec) -> None:
    # Streamlit refuses a widget value outside its range, so such a spec could not be shown, nor trained from here.
    if training.learning_rate < MIN_LEARNING_RATE:
        raise SpecError(
            f"Invalid value for argument `learning_rate` of training settings. Expected a number from "
            f"{MIN_LEARNING_RATE} to 1, the sidebar's range. Received learning_rate={training.learning_rate!r}."
        )
    if training.validation_split > MAX_VALIDATION_SPLIT:
        raise SpecError(
            f"Invalid value for argument `validation_split` of training settings. Expected a number from 0 to "
            f"{MAX_VALIDATION_SPLIT}, the sidebar's range. Received validation_split={training.validation_split!r}."
        )


def spec_upload_ui() -> None:
    """A spec JSON file (as a run's *Spec (JSON)* download) that replaces the architecture and training settings."""
    uploaded = st.file_uploader(
        "Load a spec (JSON)", type="json", key=UPLOAD_KEY, on_change=_load_uploaded_spec, max_upload_size=1,
        help="A spec saved from a run (Train page, Export a run) restores its architecture and training settings.",
    )  # fmt: skip
    result = st.session_state.get(UPLOAD_RESULT_KEY)
    if uploaded is None or result is None or result[0] != uploaded.file_id:
        return
    if result[1] is None:
        st.success(f"Loaded {state.current_spec().name} from {uploaded.name}.", icon=":material/upload_file:")
    else:
        st.error(result[1])


def training_ui() -> TrainingSpec:
    """Training settings; each widget refuses out-of-range values as they are typed."""
    keys = _TRAINING_KEYS
    epochs = _number_input("Epochs", keys["epochs"], min_value=1, max_value=1000, step=1)
    batch_size = _number_input("Batch size", keys["batch_size"], min_value=1, max_value=60_000, step=50)
    optimizer = st.selectbox("Optimizer", OPTIMIZERS, key=keys["optimizer"])
    learning_rate = _number_input(
        "Learning rate", keys["learning_rate"], min_value=MIN_LEARNING_RATE, max_value=1.0, step=0.0005, format="%.5f"
    )
    schedule = st.selectbox(
        "Learning-rate schedule",
        LEARNING_RATE_SCHEDULES,
        key=keys["learning_rate_schedule"],
        help="cosine: decay the learning rate to zero over the whole run.",
    )
    loss = st.selectbox("Loss", LOSSES, format_func=LOSS_LABELS.get, key=keys["loss"])
    validation_split = st.slider(
        "Validation split", min_value=0.0, max_value=MAX_VALIDATION_SPLIT, step=0.05, key=keys["validation_split"],
        help="The last fraction of the training images, held out as Keras' validation_split does.",
    )  # fmt: skip
    noise_kind = st.selectbox(
        "Denoising noise", TRAINING_NOISE_KINDS, format_func=NOISE_LABELS.get, key=keys["noise_kind"],
        help="Train on noisy inputs against clean targets, which makes the model a denoiser.",
        on_change=_noise_kind_changed,
    )  # fmt: skip
    noise_amount = st.slider(
        "Noise amount", min_value=0.0, max_value=1.0, step=0.05, key=keys["noise_amount"],
        disabled=noise_kind == "none", help="Standard deviation (Gaussian) or fraction of pixels (salt and pepper).",
    )  # fmt: skip
    seed = _number_input("Seed", keys["seed"], min_value=0, max_value=2**31 - 1, step=1)
    dtype_policy = st.selectbox(
        "Precision", DTYPE_POLICIES, format_func=PRECISION_LABELS.get, key=keys["dtype_policy"],
        help="Keras' dtype policy. Mixed precision computes in 16 bits and keeps the weights, the output layer and "
        "the loss in float32. Auto picks what was fastest for these models at the same loss (BENCHMARKS.md): mixed "
        "bfloat16 for TensorFlow on a CPU that computes bfloat16 in hardware (AVX512_BF16 or AMX: 1.29x the float32 "
        "rate over the seed preset), float32 on a CPU that emulates it (0.61x) and on a GPU, where bfloat16 compiles "
        "about 6 s longer than it saves on the presets. The Train page says what a job got.",
    )  # fmt: skip
    installed = installed_backends()
    st.selectbox(
        "Backend", installed, format_func=BACKEND_NAMES.get, key=state.BACKEND_KEY,
        help="The Keras backend the job trains on; only the installed ones are offered. TensorFlow is the fastest "
        "on CPUs, JAX on GPUs. A GPU is used when the backend sees one.",
    )  # fmt: skip
    _number_input(
        "Training images", state.LIMIT_KEY, min_value=10, max_value=60_000, step=1000,
        help="Train on the first N of the 60,000 MNIST training images, for quick experiments.",
    )  # fmt: skip
    if (refilled := st.session_state.pop(REFILLED_KEY, None)) is not None:
        st.warning(refilled, icon=":material/undo:")
    return TrainingSpec(
        optimizer=optimizer,
        learning_rate=float(learning_rate),
        learning_rate_schedule=schedule,
        loss=loss,
        batch_size=int(batch_size),
        epochs=int(epochs),
        validation_split=round(float(validation_split), 4),
        noise=NoiseSpec(kind=noise_kind, amount=round(float(noise_amount), 4) if noise_kind != "none" else 0.0),
        seed=int(seed),
        dtype_policy=dtype_policy,
    )


def _number_input(label: str, key: str, **options: object) -> float:
    """A number box that gives its last number back when emptied, and says so under the training settings.

    With a `value`, Streamlit reads an emptied box as `min_value`: clearing Batch size made it 1, unsaid, and Start
    would have trained 60,000 images one at a time. With value=None it reads None, which `_refill` replaces.
    """
    return st.number_input(label, value=None, key=key, on_change=_refill, args=(key, label, st.session_state.get(key)),
                           **options)  # fmt: skip


def _refill(key: str, label: str, previous: float | None) -> None:
    # A callback: it runs before the rerun draws the box, so it may still set its value.
    if st.session_state.get(key) is None and previous is not None:
        st.session_state[key] = previous
        st.session_state[REFILLED_KEY] = f"{label} needs a number: it was emptied, and keeps {previous:g}."


def run_label(run: RunInfo) -> str:
    """How a run appears in pickers: name, status, test loss, and whether it is a denoiser or shipped."""
    parts = [run.name, run.status]
    if run.test_loss is not None:
        parts.append(f"test {run.test_loss:.4f}")
    if run.is_denoiser:
        parts.append("denoiser")
    if run.read_only:
        parts.append("pretrained")
    return " · ".join(parts)


def run_labels(runs: list[RunInfo]) -> dict[str, str]:
    """`run_label` of each run, by run id; runs that would read the same also show their run id."""
    labels = {run.run_id: run_label(run) for run in runs}
    counts = Counter(labels.values())
    return {run_id: f"{label} · {run_id}" if counts[label] > 1 else label for run_id, label in labels.items()}


def _picker_key() -> str:
    return f"{RUN_KEY}_{st.session_state.get(state.PICKER_VERSION_KEY, 0)}"


def run_picker_ui() -> None:
    """Picks the active run among the runs with a model."""
    runs = state.usable_runs()
    if not runs:
        st.caption("No trained model yet: train one on the Train page.")
        return
    active = state.active_run(runs)  # From the same listing as the labels, so the active run is among them.
    st.session_state[state.ACTIVE_RUN_KEY] = active.run_id  # Pinned, so a newer run elsewhere does not take over.
    labels = run_labels(runs)
    key = _picker_key()

    def picked() -> None:
        # A browser that has not yet drawn the new picker may send the old one's value: ignore that one.
        if key == _picker_key():
            state.choose_run(st.session_state[key])

    st.selectbox("Active run", list(labels), index=list(labels).index(active.run_id), format_func=labels.get,
                 key=key, on_change=picked, help="The model the Reconstructions and Draw pages use.")  # fmt: skip


def sidebar_ui() -> None:
    """Draws the whole sidebar and stores the training settings in the draft spec."""
    state.init_state()
    # Kept, as the training settings are in the draft spec, for a run that drops them (`_bring_back_training_widgets`).
    kept = {PRESET_KEY: state.DEFAULT_PRESET, state.LIMIT_KEY: 60_000, state.BACKEND_KEY: default_backend()}
    state.bring_back_all(kept)
    with st.sidebar:
        name = st.selectbox(
            "Preset", list(PRESETS), key=PRESET_KEY,
            help="Loads an architecture and its training settings, replacing the current ones.",
        )  # fmt: skip
        _apply_preset(name)
        st.caption(PRESET_DESCRIPTIONS[name])
        with st.expander("Load a spec", icon=":material/upload_file:"):
            spec_upload_ui()
        with st.expander("Import a model", icon=":material/deployed_code:"):
            model_import_ui()
        with st.expander("Training settings", expanded=False):
            _bring_back_training_widgets()
            training = training_ui()
        try:
            validate_training(training)
        except SpecError as error:
            st.error(str(error))
        state.set_spec(replace(state.current_spec(), training=training))
        state.keep(*kept)
        run_picker_ui()
