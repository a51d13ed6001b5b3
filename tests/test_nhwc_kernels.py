"""The ai.fastinfer channels-last ops (NhwcConv, NhwcMaxPool, NhwcAveragePool, NhwcGlobalAveragePool,
NchwToNhwc, NhwcToNchw) as single-node models against onnxruntime's NCHW ops on the transposed data:
odd channel counts (vector tails), 1x1/3x3/5x5/7x7, strides, dilations, asymmetric pads, depthwise, bias,
fused clamp and residual; every case under each FASTINFER_ISA tier (child processes) and threaded."""

from __future__ import annotations

import os
import sys

import fastinfer
from fastinfer import _core
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child_env import assert_runs_at_isa
from op_helpers import run_ort

DOM = "ai.fastinfer"
OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid(DOM, 1)]

# (N, C, H, W, M, k, stride, pads (t, l, b, r), dilation, group, bias, clamp, residual)
CONV_CASES = [
    (1, 3, 7, 9, 5, 1, 1, (0, 0, 0, 0), 1, 1, True, None, False),
    (2, 17, 5, 6, 33, 1, 1, (0, 0, 0, 0), 1, 1, True, (0.0, 6.0), True),
    (1, 33, 9, 7, 17, 1, 2, (0, 0, 0, 0), 1, 1, False, None, False),
    (2, 7, 11, 13, 19, 3, 1, (1, 1, 1, 1), 1, 1, True, (0.0, np.inf), True),
    (1, 5, 12, 10, 8, 3, 2, (1, 0, 2, 1), 1, 1, True, None, False),
    (1, 3, 17, 15, 16, 7, 2, (3, 3, 3, 3), 1, 1, True, (0.0, np.inf), False),
    (1, 9, 10, 11, 7, 3, 1, (2, 2, 2, 2), 2, 1, False, None, False),
    (1, 4, 9, 9, 6, 5, 1, (2, 2, 2, 2), 1, 1, True, (-1.0, 1.0), False),
    (2, 17, 9, 11, 17, 3, 1, (1, 1, 1, 1), 1, 17, True, (0.0, 6.0), False),
    (1, 33, 14, 13, 33, 3, 2, (1, 1, 1, 1), 1, 33, True, (0.0, 6.0), False),
    (1, 40, 10, 12, 40, 5, 1, (2, 2, 2, 2), 1, 40, True, None, False),
    (2, 24, 11, 9, 24, 5, 2, (2, 1, 2, 2), 1, 24, False, None, True),
    (1, 1, 5, 33, 1, 3, 1, (1, 1, 1, 1), 1, 1, True, None, False),
    (1, 19, 3, 4, 19, 3, 1, (2, 1, 2, 2), 2, 19, True, None, False),
    # wide rows: the depthwise kernel's 8-pixel register-reuse form for 3x3 / 5x5, strides 1 and 2
    (2, 35, 4, 30, 35, 3, 1, (1, 1, 1, 1), 1, 35, False, None, True),
    (1, 20, 6, 40, 20, 3, 2, (1, 1, 1, 1), 1, 20, True, (0.0, 6.0), False),
    (1, 9, 4, 26, 9, 5, 1, (2, 2, 2, 2), 1, 9, True, None, False),
    (1, 21, 5, 45, 21, 5, 2, (2, 2, 2, 2), 1, 21, True, None, False),
    (0, 3, 4, 4, 5, 3, 1, (1, 1, 1, 1), 1, 1, True, None, False),
    # rows of fewer than 8 output pixels, edges and the last pixels of a row: the wide form checked
    # (taps in the padding skipped, the first np pixels stored)
    (1, 35, 7, 7, 35, 3, 1, (1, 1, 1, 1), 1, 35, True, (0.0, 6.0), False),
    (1, 48, 14, 14, 48, 3, 2, (1, 1, 1, 1), 1, 48, True, None, False),
    (1, 19, 9, 14, 19, 3, 2, (0, 0, 1, 1), 1, 19, False, None, False),
    (2, 20, 6, 7, 20, 5, 1, (2, 2, 2, 2), 1, 20, True, None, False),
    (1, 9, 5, 3, 9, 5, 2, (2, 2, 2, 2), 1, 9, True, None, False),
    (1, 16, 4, 1, 16, 3, 1, (1, 1, 1, 1), 1, 16, True, (-0.5, 0.5), False),
    (1, 8, 5, 6, 8, 3, 1, (1, 3, 1, 3), 1, 8, True, None, False),
    (1, 17, 3, 21, 17, 5, 2, (1, 4, 2, 0), 1, 17, False, None, False),
    # 3x3 output rows in pairs (AVX-512): odd and even row counts, channel tails, both strides
    (2, 40, 16, 23, 40, 3, 2, (1, 1, 1, 1), 1, 40, True, (0.0, 6.0), False),
    (1, 24, 11, 10, 24, 3, 1, (0, 1, 2, 1), 1, 24, True, None, False),
    # 196+ output pixels and 64+ channels: weights packed for the 6x64 tile (a partial last panel)
    (1, 16, 15, 14, 70, 1, 1, (0, 0, 0, 0), 1, 1, True, (0.0, 6.0), True),
    (1, 20, 31, 29, 96, 3, 2, (1, 1, 1, 1), 1, 1, True, None, True),
    # grouped (not depthwise): a GEMM per group, 1x1 in place, k x k through offset pointers
    (1, 16, 9, 11, 24, 1, 1, (0, 0, 0, 0), 1, 4, True, (0.0, 6.0), True),
    (2, 24, 7, 8, 12, 1, 1, (0, 0, 0, 0), 1, 4, False, None, False),
    (1, 136, 28, 28, 136, 1, 1, (0, 0, 0, 0), 1, 4, True, (0.0, np.inf), True),
    (2, 12, 6, 7, 20, 1, 2, (0, 0, 0, 0), 1, 4, True, None, False),
    (1, 32, 9, 10, 48, 3, 1, (1, 1, 1, 1), 1, 2, True, None, True),
    (1, 64, 11, 9, 64, 3, 2, (1, 0, 1, 1), 1, 8, True, (0.0, np.inf), False),
    (1, 6, 5, 5, 12, 3, 1, (1, 1, 1, 1), 2, 3, True, None, False),
]

# (op, N, C, H, W, attrs)
POOL_CASES = [
    ("MaxPool", 1, 17, 9, 11, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", 2, 3, 8, 7, {"kernel_shape": [2, 3], "strides": [1, 2], "pads": [0, 1, 1, 0], "ceil_mode": 1}),
    ("MaxPool", 1, 33, 10, 10, {"kernel_shape": [3, 3], "dilations": [2, 2]}),
    ("AveragePool", 1, 17, 9, 11, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", 2, 5, 9, 8, {"kernel_shape": [3, 2], "strides": [2, 1], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ("AveragePool", 1, 7, 7, 7, {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    ("GlobalAveragePool", 2, 33, 7, 5, {}),
    ("GlobalAveragePool", 1, 1, 1, 1, {}),
    # many channels: the output columns run in several L1-sized blocks, padding at both ends
    ("MaxPool", 1, 200, 5, 37, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", 1, 160, 4, 41, {"kernel_shape": [3, 5], "strides": [1, 3], "pads": [1, 2, 1, 4],
                                    "ceil_mode": 1}),
    ("MaxPool", 1, 130, 3, 45, {"kernel_shape": [2, 3], "dilations": [1, 2], "pads": [0, 2, 0, 2]}),
]


def _nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def conv_case(case, threads):
    """Runs one NhwcConv case and compares with onnxruntime's Conv (+ residual, clip)."""
    n, c, h, w, m, k, s, pads, d, grp, with_b, clamp, res = case
    r = np.random.default_rng(hash(case) % 1000)
    x = r.standard_normal((n, c, h, w)).astype(np.float32)
    wt = r.standard_normal((m, c // grp, k, k)).astype(np.float32)
    inits = [numpy_helper.from_array(wt, "w")]
    names = ["x", "w"]
    if with_b:
        inits.append(numpy_helper.from_array(r.standard_normal(m).astype(np.float32), "b"))
        names.append("b")
    attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [pads[0], pads[1], pads[2], pads[3]],
                 "dilations": [d, d], "group": grp}
    ref_model = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", names, ["y"], **attrs)], "c",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits),
        opset_imports=OPSETS[:1], ir_version=8)
    ref = run_ort(ref_model, {"x": x})[0].astype(np.float64)
    feeds = {"x": _nhwc(x)}
    ins = ["x", "w", "b" if with_b else ""]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(feeds["x"].shape))]
    if res:
        rr = r.standard_normal(ref.shape).astype(np.float32)
        ref = ref + rr
        feeds["r"] = _nhwc(rr)
        ins.append("r")
        inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, list(feeds["r"].shape)))
    if clamp is not None:
        attrs["fi.clamp_min"], attrs["fi.clamp_max"] = float(clamp[0]), float(clamp[1])
        ref = np.clip(ref, clamp[0], clamp[1])
    # The output's declared NHWC shape lets the kernel pick its GEMM tile by the row count.
    y_shape = [ref.shape[0], ref.shape[2], ref.shape[3], ref.shape[1]]
    model = helper.make_model(helper.make_graph(
        [helper.make_node("NhwcConv", ins, ["y"], domain=DOM, **attrs)], "c", inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits), opset_imports=OPSETS, ir_version=8)
    sess = fastinfer.Session(model, threads=threads)
    if grp == 1 and n * y_shape[1] * y_shape[2] >= 196 and m >= 64 and _core.cpu_info()["isa"] == "avx512":
        assert "6x64" in sess._describe_nodes()[0]["kernel"] or "winograd" in sess._describe_nodes()[0]["kernel"]
    got = sess.run(None, feeds)[0]
    np.testing.assert_allclose(_nchw(got), ref, rtol=1e-4, atol=1e-4, err_msg=str(case))


def pool_case(case, threads):
    """Runs one Nhwc*Pool case and compares with onnxruntime's pool."""
    op, n, c, h, w, attrs = case
    x = np.random.default_rng(7).standard_normal((n, c, h, w)).astype(np.float32)
    if op == "MaxPool" and "dilations" not in attrs:  # onnxruntime's dilated path keeps a leading NaN
        x[0, 0, 0, 0] = np.nan

    def model(o, dom, shape):
        g = helper.make_graph([helper.make_node(o, ["x"], ["y"], domain=dom, **attrs)], "p",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        return helper.make_model(g, opset_imports=OPSETS, ir_version=8)

    ref = run_ort(model(op, "", list(x.shape)), {"x": x})[0]
    got = fastinfer.Session(model("Nhwc" + op, DOM, [n, h, w, c]), threads=threads).run(None, {"x": _nhwc(x)})[0]
    np.testing.assert_allclose(_nchw(got), ref, rtol=1e-5, atol=1e-5, err_msg=str(case))


# (N, C, H, W, size, alpha, beta, bias): beta 0.75 takes the sqrt form, others exp(-beta log t)
LRN_CASES = [
    (1, 64, 5, 6, 5, 1e-4, 0.75, 1.0),
    (2, 17, 3, 4, 5, 2e-3, 0.75, 2.0),
    (1, 3, 4, 4, 5, 0.5, 0.75, 1.0),
    (1, 33, 2, 3, 4, 0.1, 0.5, 1.5),
    (1, 20, 3, 3, 1, 0.3, 1.0, 0.7),
    (2, 9, 2, 2, 3, 1.0, 0.9, 1.0),
]


def lrn_reference(x, size, alpha, beta, bias):
    """The ONNX LRN formula in float64 (onnxruntime takes odd sizes only)."""
    x64, c = x.astype(np.float64), x.shape[1]
    sq = np.zeros_like(x64)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + size // 2)
        sq[:, ch] = (x64[:, lo:hi + 1] ** 2).sum(axis=1)
    return x64 / (bias + alpha / size * sq) ** beta


def lrn_case(case, threads):
    """NhwcLRN against the formula on the same data in NCHW (and onnxruntime's LRN for odd sizes)."""
    n, c, h, w, size, alpha, beta, bias = case
    x = (np.random.default_rng(11).standard_normal((n, c, h, w)) * 3).astype(np.float32)
    attrs = {"size": size, "alpha": alpha, "beta": beta, "bias": bias}

    def model(op, dom, shape):
        g = helper.make_graph([helper.make_node(op, ["x"], ["y"], domain=dom, **attrs)], "l",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        return helper.make_model(g, opset_imports=OPSETS, ir_version=8)

    got = _nchw(fastinfer.Session(model("NhwcLRN", DOM, [n, h, w, c]), threads=threads).run(None, {"x": _nhwc(x)})[0])
    np.testing.assert_allclose(got, lrn_reference(x, size, alpha, beta, bias), rtol=2e-6, atol=1e-6, err_msg=str(case))
    if size % 2:
        ref = run_ort(model("LRN", "", list(x.shape)), {"x": x})[0]
        np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-6, err_msg=str(case))


def reorder_case(shape, threads):
    """NchwToNhwc then NhwcToNchw against numpy transposes."""
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    nodes = [helper.make_node("NchwToNhwc", ["x"], ["t"], domain=DOM),
             helper.make_node("NhwcToNchw", ["t"], ["y"], domain=DOM)]
    g = helper.make_graph(nodes, "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info("t", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    t, y = fastinfer.Session(helper.make_model(g, opset_imports=OPSETS, ir_version=8), threads=threads).run(
        None, {"x": x})
    np.testing.assert_array_equal(t, _nhwc(x))
    np.testing.assert_array_equal(y, x)


REORDER_SHAPES = [(1, 3, 5, 7), (2, 33, 17, 9), (1, 64, 1, 1), (0, 3, 2, 2), (1, 1, 40, 37), (2, 37, 19, 23), (1, 48, 8, 8)]


def run_all(threads: int) -> None:
    """Every case once (used in the child processes)."""
    for case in CONV_CASES:
        conv_case(case, threads)
    for case in POOL_CASES:
        pool_case(case, threads)
    for shape in REORDER_SHAPES:
        reorder_case(shape, threads)
    for case in LRN_CASES:
        lrn_case(case, threads)


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@pytest.mark.parametrize("threads", [1, 2])
def test_nhwc_conv(case, threads):
    conv_case(case, threads)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_nhwc_pool(case):
    pool_case(case, 2)


@pytest.mark.parametrize("case", LRN_CASES, ids=str)
@pytest.mark.parametrize("threads", [1, 2])
def test_nhwc_lrn(case, threads):
    lrn_case(case, threads)


@pytest.mark.parametrize("shape", REORDER_SHAPES, ids=str)
def test_reorders(shape):
    reorder_case(shape, 2)


@pytest.mark.parametrize("isa", ["ref", "avx2"])
def test_every_isa_tier(isa):
    """All cases in a child process whose kernels are capped at the tier (the default tier runs above)."""
    assert_runs_at_isa(isa, "import test_nhwc_kernels as t; t.run_all(1); t.run_all(2); print('ok')",
                       os.path.dirname(os.path.abspath(__file__)))


def test_nhwc_errors():
    """Bad inputs raise instead of crashing: wrong rank, channel mismatch, residual shape, non-constant W."""
    wt = np.ones((4, 3, 3, 3), np.float32)

    def model(w_init=True, with_r=False):
        ins = ["x", "w", "", "r"] if with_r else ["x", "w"]
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)]
        if with_r:
            inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, None))
        if not w_init:
            inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, None))
        g = helper.make_graph([helper.make_node("NhwcConv", ins, ["y"], domain=DOM, pads=[1, 1, 1, 1])], "e", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(wt, "w")] if w_init else [])
        return helper.make_model(g, opset_imports=OPSETS, ir_version=8)

    s = fastinfer.Session(model())
    with pytest.raises(fastinfer.InvalidArgument):
        s.run(None, {"x": np.ones((1, 5, 5), np.float32)})
    with pytest.raises(fastinfer.InvalidArgument):
        s.run(None, {"x": np.ones((1, 5, 5, 4), np.float32)})
    with pytest.raises(fastinfer.InvalidArgument):
        fastinfer.Session(model(with_r=True)).run(None, {"x": np.ones((1, 5, 5, 3), np.float32),
                                                         "r": np.ones((1, 5, 5, 3), np.float32)})
    with pytest.raises(fastinfer.InvalidModel):
        fastinfer.Session(model(w_init=False))
    g = helper.make_graph([helper.make_node("NhwcToNchw", ["x"], ["y"], domain=DOM)], "e",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(fastinfer.InvalidArgument):
        fastinfer.Session(helper.make_model(g, opset_imports=OPSETS, ir_version=8)).run(
            None, {"x": np.ones((2, 3), np.float32)})


def _single(op, ins, inits, **attrs):
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ins if n and n not in
              {i.name for i in inits}]
    g = helper.make_graph([helper.make_node(op, ins, ["y"], domain=DOM, **attrs)], "e", inputs,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=OPSETS, ir_version=8)


def test_conv_into_a_concat_buffer():
    """fi.out_channels / fi.out_offset: the conv writes its channels of P's copy (P a graph input, so
    never in place) and leaves the others; bad offsets, a depthwise conv and a P of another shape raise."""
    r = np.random.default_rng(3)
    x = r.standard_normal((1, 5, 6, 6)).astype(np.float32)  # NHWC
    wt = r.standard_normal((4, 6, 3, 3)).astype(np.float32)
    w = numpy_helper.from_array(wt, "w")
    p = r.standard_normal((1, 5, 6, 11)).astype(np.float32)
    got = fastinfer.Session(_single("NhwcConv", ["x", "w", "", "", "p"], [w], pads=[1, 1, 1, 1],
                                    **{"fi.out_channels": 11, "fi.out_offset": 5})).run(None, {"x": x, "p": p})[0]
    conv = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "c",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w]), opset_imports=OPSETS[:1], ir_version=8)
    want = p.copy()
    want[..., 5:9] = _nhwc(run_ort(conv, {"x": _nchw(x)})[0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(fastinfer.InvalidModel, match="do not fit"):
        fastinfer.Session(_single("NhwcConv", ["x", "w"], [w], **{"fi.out_channels": 11, "fi.out_offset": 8}))
    dw = numpy_helper.from_array(np.ones((6, 1, 3, 3), np.float32), "w")
    with pytest.raises(fastinfer.InvalidModel, match="GEMM path"):
        fastinfer.Session(_single("NhwcConv", ["x", "w"], [dw], group=6, **{"fi.out_channels": 8}))
    with pytest.raises(fastinfer.InvalidArgument, match="writes into"):
        fastinfer.Session(_single("NhwcConv", ["x", "w", "", "", "p"], [w], pads=[1, 1, 1, 1],
                                  **{"fi.out_channels": 11})).run(None, {"x": x, "p": p[..., :10]})


@pytest.mark.parametrize("k,stride", [(1, 1), (3, 1), (3, 2)])
def test_conv_into_a_concat_buffer_chained(k, stride):
    """At 2 threads a planned run hands the conv (1x1 GEMM, Winograd, implicit GEMM) to the
    executor's chained job; P's channels are then copied in a phase of their own before it."""
    r = np.random.default_rng(k + stride)
    x = r.standard_normal((1, 32, 32, 32)).astype(np.float32)  # NHWC
    wt = (r.standard_normal((48, 32, k, k)) / np.sqrt(32 * k * k)).astype(np.float32)
    w = numpy_helper.from_array(wt, "w")
    o = (32 + 2 * (k // 2) - k) // stride + 1
    p = r.standard_normal((1, o, o, 80)).astype(np.float32)
    pads = [k // 2] * 4
    sess = fastinfer.Session(_single("NhwcConv", ["x", "w", "", "", "p"], [w], pads=pads, strides=[stride] * 2,
                                     **{"fi.out_channels": 80, "fi.out_offset": 16}), threads=2)
    conv = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=pads, strides=[stride] * 2)], "c",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w]), opset_imports=OPSETS[:1], ir_version=8)
    want = p.copy()
    want[..., 16:64] = _nhwc(run_ort(conv, {"x": _nchw(x)})[0])
    for _ in range(3):  # the first run traces, the others run the plan
        np.testing.assert_allclose(sess.run(None, {"x": x, "p": p})[0], want, rtol=1e-4, atol=1e-4)


def test_concat_into():
    """ConcatInto copies its inputs into the buffer's copy at their offsets, along any axis; counts and
    shapes that do not fit raise."""
    r = np.random.default_rng(4)
    b = r.standard_normal((2, 3, 9, 4)).astype(np.float32)
    a, c = r.standard_normal((2, 3, 2, 4)).astype(np.float32), r.standard_normal((2, 3, 3, 4)).astype(np.float32)
    got = fastinfer.Session(_single("ConcatInto", ["b", "a", "c"], [], axis=2, offsets=[1, 6])).run(
        None, {"b": b, "a": a, "c": c})[0]
    want = b.copy()
    want[:, :, 1:3], want[:, :, 6:9] = a, c
    np.testing.assert_array_equal(got, want)
    with pytest.raises(fastinfer.InvalidModel, match="offsets"):
        fastinfer.Session(_single("ConcatInto", ["b", "a", "c"], [], axis=2, offsets=[1]))
    with pytest.raises(fastinfer.InvalidArgument, match="does not fit"):
        fastinfer.Session(_single("ConcatInto", ["b", "a"], [], axis=2, offsets=[8])).run(None, {"b": b, "a": a})


def test_nhwc_lrn_errors():
    def model(size):
        g = helper.make_graph([helper.make_node("NhwcLRN", ["x"], ["y"], domain=DOM, size=size)], "l",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        return helper.make_model(g, opset_imports=OPSETS, ir_version=8)

    with pytest.raises(fastinfer.InvalidModel, match="size must be positive"):
        fastinfer.Session(model(0))
    with pytest.raises(fastinfer.InvalidArgument, match="NHWC"):
        fastinfer.Session(model(3)).run(None, {"x": np.ones((2, 3), np.float32)})
