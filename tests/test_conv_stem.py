"""The channels-last stem kernel (kernels/conv_stem.h): NhwcConv with fi.nchw_input = 1 reads an NCHW image with
few channels and writes NHWC, directly (no im2row). Single-node models against onnxruntime's Conv on shapes with
channel tails (M not a multiple of 8 or 16), every register block (1-4 channel vectors), 3x3 / 7x7 stride 2 (the
unrolled forms) and other kernels, strides, dilations, asymmetric pads, images narrower than one block, bias,
clamp and a fused activation, batch and threads; every FASTINFER_ISA tier in a child process; and the fused
residual, which takes the im2row path instead."""

from __future__ import annotations

import os
import sys

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child_env import assert_runs_at_isa
from op_helpers import run_ort

DOM = "ai.fastinfer"
OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid(DOM, 1)]

# (N, C, H, W, M, (kh, kw), (sh, sw), pads (t, l, b, r), dilation, bias, clamp, activation)
CASES = [
    (1, 3, 32, 40, 32, (3, 3), (2, 2), (1, 1, 1, 1), 1, True, (0.0, 6.0), None),      # MobileNet stem
    (1, 3, 45, 50, 64, (7, 7), (2, 2), (3, 3, 3, 3), 1, True, (0.0, np.inf), None),   # ResNet stem
    (2, 3, 21, 33, 16, (3, 3), (2, 2), (1, 1, 1, 1), 1, False, None, "Silu"),         # YOLO stem
    (1, 3, 17, 19, 48, (3, 3), (2, 2), (0, 0, 1, 1), 1, True, None, None),            # 3 vectors
    (1, 4, 13, 29, 70, (5, 5), (1, 1), (2, 2, 2, 2), 1, True, None, None),            # 4 + 1 vectors, tail
    (1, 1, 9, 30, 5, (3, 3), (1, 1), (1, 1, 1, 1), 1, True, None, "HardSwish"),       # one channel, M < 8
    (1, 2, 15, 26, 17, (3, 5), (2, 3), (1, 2, 0, 1), 1, False, (-1.0, 1.0), None),    # rect kernel, stride 3
    (1, 3, 20, 31, 24, (3, 3), (1, 2), (2, 2, 2, 2), 2, True, None, None),            # dilation 2
    (1, 3, 6, 5, 33, (7, 7), (2, 2), (3, 3, 3, 3), 1, True, None, None),              # narrower than a block
    (3, 3, 11, 64, 64, (3, 3), (2, 2), (1, 1, 1, 1), 1, True, (0.0, 6.0), "Sigmoid"), # batch, long rows
]


def model_pair(case, residual=False):
    n, c, h, w, m, k, s, pads, d, with_b, clamp, act = case
    r = np.random.default_rng(abs(hash(str(case))) % 1000)
    wt = r.standard_normal((m, c, *k)).astype(np.float32)
    inits = [numpy_helper.from_array(wt, "w")]
    if with_b:
        inits.append(numpy_helper.from_array(r.standard_normal(m).astype(np.float32), "b"))
    attrs = {"kernel_shape": list(k), "strides": list(s), "pads": list(pads), "dilations": [d, d]}
    x = r.standard_normal((n, c, h, w)).astype(np.float32)
    ins = ["x", "w", "b" if with_b else ""]
    ref_nodes = [helper.make_node("Conv", ins, ["conv"], **attrs)]
    last = "conv"
    if residual:
        ref_nodes.append(helper.make_node("Add", [last, "r"], ["sum"]))
        last = "sum"
    if clamp is not None:
        inits += [numpy_helper.from_array(np.array(v, np.float32), nm) for v, nm in zip(clamp, ("lo", "hi"))]
        ref_nodes.append(helper.make_node("Clip", [last, "lo", "hi"], ["clip"]))
        last = "clip"
    if act == "Silu":
        ref_nodes += [helper.make_node("Sigmoid", [last], ["sg"]), helper.make_node("Mul", [last, "sg"], ["act"])]
        last = "act"
    elif act:
        ref_nodes.append(helper.make_node(act, [last], ["act"]))
        last = "act"
    ref_nodes.append(helper.make_node("Identity", [last], ["y"]))
    ref_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))]
    feeds = {"x": x}
    if residual:
        oh = (h + pads[0] + pads[2] - d * (k[0] - 1) - 1) // s[0] + 1
        ow = (w + pads[1] + pads[3] - d * (k[1] - 1) - 1) // s[1] + 1
        feeds["r"] = r.standard_normal((n, m, oh, ow)).astype(np.float32)
        ref_inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, list(feeds["r"].shape)))
    ref = helper.make_model(helper.make_graph(ref_nodes, "ref", ref_inputs,
                                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits),
                            opset_imports=OPSETS[:1], ir_version=8)
    want = np.ascontiguousarray(run_ort(ref, feeds)[0].transpose(0, 2, 3, 1))

    fattrs = dict(attrs, **{"fi.nchw_input": 1})
    if clamp is not None:
        fattrs["fi.clamp_min"], fattrs["fi.clamp_max"] = float(clamp[0]), float(clamp[1])
    if act:
        fattrs["fi.activation"] = act
    fi_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))]
    fi_feeds = {"x": x}
    fins = list(ins)
    if residual:
        fins.append("r")
        fi_feeds["r"] = np.ascontiguousarray(feeds["r"].transpose(0, 2, 3, 1))
        fi_inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, list(fi_feeds["r"].shape)))
    fi_inits = [t for t in inits if t.name in ("w", "b")]
    fi_model = helper.make_model(helper.make_graph(
        [helper.make_node("NhwcConv", fins, ["y"], domain=DOM, **fattrs)], "stem", fi_inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], fi_inits), opset_imports=OPSETS, ir_version=8)
    return fi_model, fi_feeds, want


def check(case, threads, residual=False):
    model, feeds, want = model_pair(case, residual)
    got = fastinfer.Session(model, threads=threads).run(None, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=str(case))


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("threads", [1, 2])
def test_stem_matches_ort(case, threads):
    check(case, threads)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_residual_takes_im2row_path(threads):
    check((1, 3, 16, 18, 20, (3, 3), (2, 2), (1, 1, 1, 1), 1, True, (0.0, 6.0), None), threads, residual=True)
    # 400 rows, one im2row chunk: with 2+ threads the rows are gathered in parallel into one buffer
    # and a single GEMM splits over the threads.
    check((1, 3, 40, 40, 64, (7, 7), (2, 2), (3, 3, 3, 3), 1, True, None, None), threads, residual=True)


def test_inspect_names_the_kernel():
    model, _, _ = model_pair(CASES[0])
    kernels = [n["kernel"] for n in fastinfer.Session(model)._describe_nodes()]
    assert any("f32_conv_stem__" in k for k in kernels), kernels


def run_all() -> None:
    for case in CASES:
        check(case, 1)
        check(case, 2)


@pytest.mark.parametrize("isa", ["ref", "avx2"])
def test_every_isa_tier(isa):
    assert_runs_at_isa(isa, "import test_conv_stem as t; t.run_all(); print('ok')",
                       os.path.dirname(os.path.abspath(__file__)), timeout=300)
