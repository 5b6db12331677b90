"""Conv2DTranspose, step by step: a small example whose every number can be followed, in NumPy only."""

import streamlit as st

from core.spec import SpecError
from core.transposed import output_size, scatter_steps
from ui import transposed

st.title("Conv2DTranspose, step by step")
st.caption(
    "A transposed convolution stamps the kernel once per input value: each value times the kernel is added into "
    "its window of the output, and the windows move by `strides`. Change the example and the settings, then walk "
    "through the sum. One channel in and out, no bias; the numbers are Keras' own (the tests check them against "
    "`keras.layers.Conv2DTranspose`)."
)

input_size, kernel_size, settings = transposed.settings_ui()
inputs, kernel = transposed.example_ui(input_size, kernel_size)
try:
    steps = scatter_steps(inputs, kernel, settings)  # Checks the settings as Keras would, first.
except SpecError as error:
    st.error(str(error) + (f" Try: {error.hint}." if error.hint else ""), icon=":material/error:")
    st.stop()
transposed.output_size_ui(output_size(input_size, kernel_size, settings), settings)

output = steps[-1].partial_sum
transposed.scatter_ui(inputs, steps)
transposed.zero_insertion_ui(inputs, kernel, settings, output)
transposed.upsampling_ui(inputs, kernel, settings, output)
transposed.apply_to_decoder_ui(kernel_size, settings)
