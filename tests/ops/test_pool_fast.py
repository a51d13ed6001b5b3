"""Float32 1-D/2-D MaxPool/AveragePool fast paths (dilation 1, no Indices) against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
from op_helpers import check_against_ort, make_model, pool_out_dim, rng, run_fastinfer

SIZES = [(1, 1), (1, 7), (2, 3), (3, 17), (7, 7), (17, 33), (33, 2), (7, 1)]

# kernel, strides, pads (heads then tails), ceil_mode
WINDOWS = [
    ([2, 2], [2, 2], [0, 0, 0, 0], 0),
    ([2, 2], [2, 2], [0, 1, 1, 0], 0),
    ([2, 2], [2, 2], [1, 1, 1, 1], 1),
    ([2, 2], [1, 1], [0, 0, 0, 0], 0),
    ([3, 3], [1, 1], [1, 1, 1, 1], 0),
    ([3, 3], [1, 1], [0, 1, 2, 0], 0),
    ([3, 3], [2, 2], [1, 1, 1, 1], 0),
    ([3, 3], [2, 2], [1, 0, 0, 1], 1),
    ([3, 3], [2, 2], [0, 0, 0, 0], 1),
    ([5, 5], [1, 1], [2, 2, 2, 2], 0),
    ([4, 4], [2, 2], [1, 2, 2, 1], 1),
    ([3, 3], [3, 3], [1, 1, 1, 1], 1),
    ([1, 1], [1, 1], [0, 0, 0, 0], 0),
    ([7, 3], [2, 1], [3, 1, 3, 1], 0),
]


def _cases():
    for h, w in SIZES:
        for k, s, p, ceil in WINDOWS:
            if all(pool_out_dim(n, k[i], s[i], p[i], p[i + 2], ceil) >= 1 for i, n in enumerate((h, w))):
                yield (h, w), k, s, p, ceil


CASES = list(_cases())


def _attrs(k, s, p, ceil):
    return {"kernel_shape": k, "strides": s, "pads": p, "ceil_mode": ceil}


def _x(shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("hw,k,s,p,ceil", CASES)
def test_maxpool_2d(hw, k, s, p, ceil):
    check_against_ort("MaxPool", {"x": _x((1, 3, *hw))}, _attrs(k, s, p, ceil), opset=12)


@pytest.mark.parametrize("include_pad", [0, 1])
@pytest.mark.parametrize("hw,k,s,p,ceil", CASES)
def test_averagepool_2d(hw, k, s, p, ceil, include_pad):
    attrs = {**_attrs(k, s, p, ceil), "count_include_pad": include_pad}
    check_against_ort("AveragePool", {"x": _x((1, 3, *hw))}, attrs, opset=19)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("w,k,s,p,ceil", [(1, 1, 1, [0, 0], 0), (7, 3, 1, [1, 1], 0), (17, 3, 2, [1, 0], 1),
                                          (33, 2, 2, [0, 1], 0), (33, 5, 2, [2, 2], 1), (3, 4, 3, [1, 2], 0)])
def test_pool_1d(op, w, k, s, p, ceil):
    attrs = {"kernel_shape": [k], "strides": [s], "pads": p, "ceil_mode": ceil}
    if op == "AveragePool":
        attrs["count_include_pad"] = 1
    check_against_ort(op, {"x": _x((2, 3, w))}, attrs, opset=19 if op == "AveragePool" else 12)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("k,s,p", [([3, 3], [2, 2], [1, 1, 1, 1]), ([2, 2], [2, 2], [0, 0, 0, 0]),
                                   ([3, 3], [1, 1], [1, 1, 1, 1])])
def test_pool_threads(op, k, s, p, threads):
    check_against_ort(op, {"x": _x((2, 5, 17, 33), seed=1)}, {"kernel_shape": k, "strides": s, "pads": p},
                      opset=12, threads=threads)


def _nan_input():
    x = _x((1, 2, 7, 9), seed=2)
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 5, :] = np.nan
    x[0, 1, :, 0] = np.nan
    x[0, 1, 0:2, 7:9] = np.nan
    x[0, 1, 4:7, 4:7] = np.nan
    return x


def _maxpool_skip_nan(x, k, s, p):
    """MaxPool reference that skips NaNs (a window without numbers gives the lowest float)."""
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=np.nan)
    oh = (xp.shape[2] - k[0]) // s[0] + 1
    ow = (xp.shape[3] - k[1]) // s[1] + 1
    y = np.empty(x.shape[:2] + (oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].reshape(x.shape[:2] + (-1,))
            win = np.where(np.isnan(win), np.finfo(x.dtype).min, win)
            y[:, :, i, j] = win.max(axis=2)
    return y


NAN_WINDOWS = [([3, 3], [2, 2], [1, 1, 1, 1]), ([2, 2], [2, 2], [0, 0, 0, 0]), ([3, 3], [1, 1], [1, 1, 1, 1]),
               ([5, 5], [1, 1], [2, 2, 2, 2]), ([4, 3], [2, 1], [1, 0, 2, 1])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,s,p", NAN_WINDOWS)
def test_maxpool_nan_skipped(k, s, p, dtype):
    """MaxPool skips NaNs in every path (onnxruntime's own result depends on the NaN's lane, so no ORT here)."""
    x = _nan_input()
    model = make_model("MaxPool", {"x": x.astype(dtype)}, {"kernel_shape": k, "strides": s, "pads": p}, opset=12)
    for threads in (1, 2):
        (y,) = run_fastinfer(model, {"x": x.astype(dtype)}, threads)
        np.testing.assert_array_equal(y, _maxpool_skip_nan(x.astype(dtype), k, s, p))


@pytest.mark.parametrize("include_pad", [0, 1])
@pytest.mark.parametrize("k,s,p", NAN_WINDOWS)
def test_averagepool_nan(k, s, p, include_pad):
    attrs = {"kernel_shape": k, "strides": s, "pads": p, "count_include_pad": include_pad}
    check_against_ort("AveragePool", {"x": _nan_input()}, attrs, opset=12)


def test_maxpool_inf():
    x = _x((1, 1, 6, 6), seed=3)
    x[0, 0, 1, 1] = -np.inf
    x[0, 0, 4, 4] = np.inf
    x[0, 0, 0, :] = -np.inf
    check_against_ort("MaxPool", {"x": x}, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
                      opset=12)


@pytest.mark.parametrize("op,include_pad", [("MaxPool", 0), ("AveragePool", 0), ("AveragePool", 1)])
def test_pool_huge_window(op, include_pad):
    """Windows of 2^31 taps over a tiny input finish at once (only valid taps are walked)."""
    big = 2**31
    x = np.array([[[1.0, 4.0, -2.0]]], np.float32)
    attrs = {"kernel_shape": [big], "strides": [big], "pads": [big, big]}
    if op == "AveragePool":
        attrs["count_include_pad"] = include_pad
    model = make_model(op, {"x": x}, attrs, opset=19 if op == "AveragePool" else 12)
    (y,) = run_fastinfer(model, {"x": x})
    if op == "MaxPool":
        expected = [np.finfo(np.float32).min, 4.0]
    elif include_pad:
        expected = [0.0, 3.0 / big]
    else:
        expected = [np.nan, 1.0]
    np.testing.assert_allclose(y.reshape(-1), np.array(expected, np.float32), rtol=1e-6)
