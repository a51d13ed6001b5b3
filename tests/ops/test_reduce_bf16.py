"""bfloat16 through the reduce family (ONNX Runtime has few bfloat16 CPU kernels, so the reference
is numpy in float32 on the same bfloat16 values)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from op_helpers import make_model, rng, run_fastinfer

BF16 = ml_dtypes.bfloat16


def softmax(x, axis):
    """float32 softmax."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, s, b):
    """float32 layer norm over the last axis."""
    m = x.mean(-1, keepdims=True)
    return (x - m) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * s + b


CASES = [
    ("ReduceSum", {"keepdims": 0}, 13, {"axes": np.array([1], np.int64)}, lambda x: x.sum(axis=1)),
    ("ReduceMax", {"keepdims": 0}, 18, {"axes": np.array([0], np.int64)}, lambda x: x.max(axis=0)),
    ("ReduceLogSumExp", {"keepdims": 0}, 18, {"axes": np.array([1], np.int64)},
     lambda x: np.log(np.exp(x).sum(axis=1))),
    ("Softmax", {}, 13, {}, lambda x: softmax(x, -1)),
    ("LogSoftmax", {"axis": 0}, 13, {}, lambda x: np.log(softmax(x, 0))),
    ("CumSum", {}, 14, {"axis": np.array(1, np.int64)}, lambda x: np.cumsum(x, axis=1)),
    ("LayerNormalization", {}, 17, {"s": np.full(9, 2, BF16), "b": np.ones(9, BF16)},
     lambda x: layer_norm(x, 2.0, 1.0)),
]


@pytest.mark.parametrize("op,attrs,opset,inits,ref", CASES, ids=[c[0] for c in CASES])
def test_bfloat16(op, attrs, opset, inits, ref):
    x = rng(0).standard_normal((5, 9)).astype(BF16)
    model = make_model(op, {"x": x}, attrs, 1, opset, inits)
    got = run_fastinfer(model, {"x": x})[0]
    assert got.dtype == BF16
    np.testing.assert_allclose(got.astype(np.float32), ref(x.astype(np.float32)), rtol=2e-2, atol=2e-2)


def test_argmax_topk_bfloat16():
    x = rng(1).standard_normal((4, 17)).astype(BF16)
    got = run_fastinfer(make_model("ArgMax", {"x": x}, {"axis": 1, "keepdims": 0}, opset=13), {"x": x})[0]
    np.testing.assert_array_equal(got, x.astype(np.float32).argmax(axis=1))
    vals, idx = run_fastinfer(make_model("TopK", {"x": x}, {}, 2, 11, {"k": np.array([3], np.int64)}), {"x": x})
    np.testing.assert_array_equal(vals.astype(np.float32), np.take_along_axis(x.astype(np.float32), idx, 1))
    np.testing.assert_array_equal(vals.astype(np.float32), -np.sort(-x.astype(np.float32), axis=1)[:, :3])
