"""`bench.layer_costs` reads oneDNN's log: the logged step's primitives, their work and rates."""

import json

import pytest

from bench.layer_costs import STEP_BEGINS, STEP_ENDS, logged_primitives

LOG = f"""onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel DL Boost
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,forward_training,src:f32,,alg:convolution_direct,mb9_ic1oc1_ih3oh3kh3sh1dh0ph1_iw3ow3kw3sw1dw0pw1,99.0
{STEP_BEGINS}
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,forward_training,src:f32,,alg:convolution_direct,mb1000_ic32oc1_ih28oh28kh3sh1dh0ph1_iw28ow28kw3sw1dw0pw1,28.224
onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,src:f32,,alg:convolution_direct,mb1000_ic32oc16_ih28oh26kh3sh1dh0ph0_iw28ow26kw3sw1dw0pw0,23.0
onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:abcd,,,16x32x3x3,0.1
onednn_verbose,v1,primitive,create:cache_hit,cpu,convolution,jit:avx512_core,backward_weights,src:f32,,,mb1,0.01
{STEP_ENDS}
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,forward_training,src:f32,,alg:convolution_direct,mb9_ic1oc1_ih3oh3kh3sh1dh0ph1_iw3ow3kw3sw1dw0pw1,99.0
{json.dumps({"train_step_ms": 60.0})}
"""


def test_the_logged_step_alone_is_read_with_each_convolutions_work_and_rate():
    logged = logged_primitives(LOG)
    assert logged["isa"] == "Intel AVX-512 with Intel DL Boost"
    assert [row["prop_kind"] for row in logged["primitives"]] == ["forward_training", "backward_weights", "undef"]
    output_layer, decoder_layer, reorder = logged["primitives"]
    # The output Conv2D(1): 1000 images x 28 x 28 pixels x 1 channel x 3 x 3 x 32 inputs multiply-adds.
    assert output_layer["gflop"] == pytest.approx(2 * 1000 * 28 * 28 * 9 * 32 / 1e9)
    assert output_layer["gflops_per_second"] == pytest.approx(16.0, abs=0.05)
    assert decoder_layer["gflop"] == pytest.approx(2 * 1000 * 26 * 26 * 9 * 32 * 16 / 1e9)
    assert reorder["gflop"] == 0.0 and reorder["gflops_per_second"] is None
    assert logged["primitives_ms"] == pytest.approx(51.3, abs=0.05)
    assert logged["outside_onednn_ms"] == pytest.approx(8.7, abs=0.05)
    assert logged["convolution_gflops_per_second"] == pytest.approx(
        (output_layer["gflop"] + decoder_layer["gflop"]) / (28.224 + 23.0) * 1000, abs=0.05
    )
