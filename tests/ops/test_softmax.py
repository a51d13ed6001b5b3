"""Softmax, LogSoftmax and Hardmax against ONNX Runtime, for the 2-D coercion (opset < 13) and
single-axis (opset >= 13) semantics."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from op_helpers import check_against_ort, make_model, rng, run_fastinfer

OPS = ["Softmax", "LogSoftmax", "Hardmax"]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 5), (1, 17, 3, 4), (33,)])
def test_softmax_axes(op, opset, shape):
    x = (rng(0).standard_normal(shape) * 4).astype(np.float32)
    for axis in range(-len(shape), len(shape)):
        check_against_ort(op, {"x": x}, {"axis": axis}, opset=opset, rtol=1e-5, atol=1e-6)
    if len(shape) > 1 or opset >= 13:  # the old default axis 1 is out of range for 1-D
        check_against_ort(op, {"x": x}, {}, opset=opset, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_softmax_dtypes(op, dtype):
    if op == "Hardmax" and dtype == np.float64:
        pytest.skip("ONNX Runtime has no double Hardmax")
    x = rng(1).standard_normal((4, 9)).astype(dtype)
    tol = 2e-3 if dtype == np.float16 else 1e-7
    check_against_ort(op, {"x": x}, {"axis": 0}, opset=13, rtol=tol, atol=tol)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_large_values_stable(op):
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]], np.float32)
    out = check_against_ort(op, {"x": x}, {}, opset=13)[0]
    assert np.isfinite(out).all()


def test_hardmax_ties_first_index():
    x = np.array([[1, 3, 3], [2, 2, 2]], np.float32)
    out = run_fastinfer(make_model("Hardmax", {"x": x}, {}, opset=13), {"x": x})[0]
    np.testing.assert_array_equal(out, [[0, 1, 0], [1, 0, 0]])


def test_softmax_empty_and_errors():
    x = np.zeros((0, 3), np.float32)
    assert run_fastinfer(make_model("Softmax", {"x": x}, {}, opset=13), {"x": x})[0].shape == (0, 3)
    x = np.ones((2, 3), np.float32)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("Softmax", {"x": x}, {"axis": 2}, opset=13), {"x": x})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("LogSoftmax", {"x": x}, {"axis": -3}, opset=11), {"x": x})
    xi = np.ones((2, 3), np.int32)
    with pytest.raises((fastinfer.NotImplemented, fastinfer.InvalidModel)):
        run_fastinfer(make_model("Softmax", {"x": xi}, {}, opset=13), {"x": xi})


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_wide_range_and_masks(op):
    # Exponents spanning the whole float range (the float exp is our own), -inf masks and NaN.
    x = np.linspace(-120, 30, 1001, dtype=np.float32).reshape(7, 143)
    check_against_ort(op, {"x": x}, {}, opset=13, rtol=2e-6, atol=1e-30)
    x = rng(2).standard_normal((3, 9)).astype(np.float32)
    x[0, 2:5] = -np.inf
    x[1, 4] = np.nan
    out = check_against_ort(op, {"x": x}, {}, opset=13, rtol=1e-6, atol=1e-7)[0]
    if op == "Softmax":
        assert (out[0, 2:5] == 0).all()
    assert np.isnan(out[1]).all() and np.isfinite(out[2]).all()
