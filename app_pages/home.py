"""Home: what the studio does, the architecture's shape flow, the active model on a few test digits, and where next."""

import streamlit as st

from core.losses import describe_test_loss
from core.shapes import describe_shape
from core.spec import SpecError
from core.text import plural
from core.validation import check_shapes
from ui import state
from ui.home import sample_digits_ui, shape_flow_ui

st.title("Conv2DTranspose Autoencoder Studio")
st.markdown(
    "Build a convolutional autoencoder — a **Conv2D** encoder that squeezes a 28x28 MNIST digit into a code, and "
    "a **Conv2DTranspose** decoder that grows it back — then train it while the loss falls, compare originals "
    "with reconstructions, and draw your own digits to see them denoised."
)

spec = state.current_spec()
run = state.active_run()
architecture, model = st.columns(2)
with architecture, st.container(border=True):
    st.subheader("Experiment")
    try:
        report = check_shapes(spec)
        st.metric("Preset / architecture", spec.name)
        st.write(
            f"{report.params:,} parameters · bottleneck {describe_shape(report.bottleneck_shape)} "
            f"({report.bottleneck_size:,} values for 784 pixels) · {plural(spec.training.epochs, 'epoch')}, "
            f"batch {spec.training.batch_size}"
        )
    except SpecError as error:
        st.error(f"The current architecture is invalid: {error}")
    shape_flow_ui(spec)
    st.page_link("app_pages/build.py", label="Edit the architecture", icon=":material/account_tree:")
    st.page_link("app_pages/train.py", label="Train it", icon=":material/monitoring:")
with model, st.container(border=True):
    st.subheader("Active model")
    if run is None:
        st.info("No trained model yet. Train one on the Train page.")
    else:
        st.metric(
            "Test loss" + (" (shipped pretrained model)" if run.read_only else ""),
            f"{run.test_loss:.4f}" if run.test_loss is not None else "—",
            help=describe_test_loss(run.spec.training.loss) if run.spec is not None else None,
        )
        params, epochs = run.summary.get("params"), run.summary.get("epochs_completed", 0)
        trained = f"from `{run.imported_from}`" if run.imported_from else plural(epochs, "epoch")
        st.write(
            f"**{run.name}** · {run.status} · {params:,} parameters · {trained}"
            + (" · denoiser" if run.is_denoiser else "")
        )
        digits = st.container()  # Filled last: the model's first call may wait for the worker to start.
        st.page_link("app_pages/reconstructions.py", label="Browse its reconstructions", icon=":material/grid_view:")
        st.page_link("app_pages/draw.py", label="Draw a digit and denoise it", icon=":material/draw:")
if run is not None:
    with digits:
        sample_digits_ui(run)
