"""A channels-last Conv with a fused residual (Conv -> Add -> Relu, ResNet's skip connection) writes
its output over the residual when the residual dies there: results against ONNX Runtime on every
path that can run in place (1x1 GEMM, im2row with several K blocks, Winograd with its bad-value
fallback), and the arena one buffer smaller than when the residual lives on."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import assert_close, run_ort


def block_model(c: int, hw: int, k: int, keep_residual: bool = False, batch: int = 1):
    """r = Relu(x); h = Relu(Conv1x1(r)); y = Relu(Conv_kxk(h) + r) [; z = y + r, keeping r alive]."""
    rng = np.random.default_rng(c * 100 + k)
    w1 = (rng.standard_normal((c, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
    w2 = (rng.standard_normal((c, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
    b2 = rng.standard_normal(c).astype(np.float32)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Conv", ["r", "w1"], ["h0"]),
        helper.make_node("Relu", ["h0"], ["h"]),
        helper.make_node("Conv", ["h", "w2", "b2"], ["c2"], pads=[k // 2] * 4),
        helper.make_node("Add", ["c2", "r"], ["s"]),
        helper.make_node("Relu", ["s"], ["y"]),
    ]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if keep_residual:
        nodes.append(helper.make_node("Add", ["y", "r"], ["z"]))
        outs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, c, hw, hw])],
                          outs, [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
                                 numpy_helper.from_array(b2, "b2")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def check(model, x, threads, **config):
    sess = fastinfer.Session(model, threads=threads, config=config)
    ref = run_ort(model, {"x": x})
    for _ in range(3):  # the trace run, then planned runs (in place)
        got = sess.run(None, {"x": x})
        for a, b in zip(got, ref):
            assert_close(a, b, rtol=1e-4, atol=1e-4)
    return sess


@pytest.mark.parametrize("threads", [1, 2])
def test_pointwise_residual_in_place_matches_ort_and_saves_a_buffer(threads):
    c, hw = 64, 20
    x = np.random.default_rng(1).standard_normal((1, c, hw, hw)).astype(np.float32)
    in_place = check(block_model(c, hw, 1), x, threads)
    kept = check(block_model(c, hw, 1, keep_residual=True), x, threads)
    buf = c * hw * hw * 4
    # At the last conv: r (its output's memory too) and h, against r, h and the output.
    assert in_place._sess.planned_arena_bytes() <= kept._sess.planned_arena_bytes() - buf


@pytest.mark.parametrize("threads", [1, 2])
def test_im2row_residual_in_place_over_several_k_blocks(threads):
    # 3x3 over 160 channels: K = 1440 > the GEMM's 1024-deep K block, so the residual, already in
    # C, is accumulated into rather than added by the last block's epilogue.
    c, hw = 160, 9
    x = np.random.default_rng(2).standard_normal((2, c, hw, hw)).astype(np.float32)
    check(block_model(c, hw, 3, batch=2), x, threads, **{"conv.winograd": "0"})


@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_residual_in_place_and_its_bad_value_fallback(threads):
    c, hw = 32, 40  # 100 tiles in several tasks: the bad one is not the first
    model = block_model(c, hw, 3)
    x = np.random.default_rng(3).standard_normal((1, c, hw, hw)).astype(np.float32)
    sess = check(model, x, threads, **{"conv.winograd": "1"})
    assert any(n["kernel"].startswith("winograd") for n in sess._describe_nodes())
    # A NaN (h is NaN at that pixel) sends the in-place conv to im2row before Winograd writes a
    # thing: the NaNs land where ORT's do and every other output is still right.
    x[0, 5, 37, 36] = np.nan
    got = sess.run(None, {"x": x})[0]
    ref = run_ort(model, {"x": x})[0]
    finite = np.isfinite(ref)
    assert not finite.all()
    np.testing.assert_array_equal(np.isfinite(got), finite)
    assert_close(got[finite], ref[finite], rtol=1e-4, atol=1e-3)
