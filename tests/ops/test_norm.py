"""BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization,
RMSNormalization, LpNormalization, MeanVarianceNormalization and LRN against ONNX Runtime (or numpy)."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from op_helpers import assert_close, check_against_ort, make_model, rng, run_fastinfer


def params(c, dtype=np.float32, seed=1):
    """scale, bias, mean, var of c channels."""
    g = rng(seed)
    return (g.standard_normal(c).astype(dtype), g.standard_normal(c).astype(dtype),
            g.standard_normal(c).astype(dtype), g.uniform(0.5, 2.0, c).astype(dtype))


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 7), (1, 5, 4, 3), (3, 17, 2, 2, 2)])
def test_batchnorm_inference(opset, shape):
    x = rng(0).standard_normal(shape).astype(np.float32)
    s, b, m, v = params(shape[1])
    check_against_ort("BatchNormalization", {"x": x}, {"epsilon": 1e-3}, opset=opset,
                      initializers={"s": s, "b": b, "m": m, "v": v}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_batchnorm_dtypes(dtype):
    x = rng(0).standard_normal((2, 4, 5)).astype(dtype)
    s, b, m, v = params(4, dtype)
    tol = 5e-3 if dtype == np.float16 else 1e-7
    check_against_ort("BatchNormalization", {"x": x}, {}, opset=15,
                      initializers={"s": s, "b": b, "m": m, "v": v}, rtol=tol, atol=tol)


def test_batchnorm_training_mode():
    x = rng(2).standard_normal((4, 3, 5)).astype(np.float32)
    s, b, m, v = params(3)
    model = make_model("BatchNormalization", {"x": x}, {"training_mode": 1, "momentum": 0.8}, n_outputs=3,
                       opset=15, initializers={"s": s, "b": b, "m": m, "v": v})
    y, rm, rv = run_fastinfer(model, {"x": x})
    bm, bv = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    ref = s[None, :, None] * (x - bm[None, :, None]) / np.sqrt(bv[None, :, None] + 1e-5) + b[None, :, None]
    assert_close(y, ref.astype(np.float32), rtol=1e-4, atol=1e-5)
    assert_close(rm, (m * 0.8 + bm * 0.2).astype(np.float32), rtol=1e-5, atol=1e-6)
    assert_close(rv, (v * 0.8 + bv * 0.2).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_batchnorm_errors():
    x = np.ones((2, 3, 4), np.float32)
    s, b, m, v = params(4)
    model = make_model("BatchNormalization", {"x": x}, {}, opset=15, initializers={"s": s, "b": b, "m": m, "v": v})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x})


@pytest.mark.parametrize("shape", [(2, 3, 7), (1, 5, 4, 3), (3, 2, 17), (2, 3, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_instance_norm(shape, dtype):
    x = (rng(3).standard_normal(shape) * 3 + 1).astype(dtype)
    s, b, _, _ = params(shape[1], dtype)
    tol = 1e-2 if dtype == np.float16 else 1e-4
    check_against_ort("InstanceNormalization", {"x": x}, {"epsilon": 1e-4}, opset=6,
                      initializers={"s": s, "b": b}, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape,axis", [((2, 7), -1), ((3, 4, 5), -1), ((3, 4, 5), 1), ((2, 3, 4, 5), 2),
                                        ((5, 33), 0), ((1, 65), -1)])
def test_layer_norm(shape, axis):
    x = (rng(4).standard_normal(shape) * 2 + 3).astype(np.float32)
    nshape = shape[axis:]
    s = rng(5).standard_normal(nshape).astype(np.float32)
    b = rng(6).standard_normal(nshape).astype(np.float32)
    check_against_ort("LayerNormalization", {"x": x}, {"axis": axis}, n_outputs=3, opset=17,
                      initializers={"s": s, "b": b}, rtol=1e-4, atol=1e-5)
    # No bias, only Y; a scale broadcast from its trailing dim.
    check_against_ort("LayerNormalization", {"x": x}, {"axis": axis, "epsilon": 1e-3}, opset=17,
                      initializers={"s": s[..., :1].copy()}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("threads", [2, 3])
def test_layer_norm_rows_split_over_threads(threads):
    # 600 rows of 384: past two 64K-value chunks, so the rows split over the pool.
    x = (rng(9).standard_normal((2, 300, 384)) * 2 + 1).astype(np.float32)
    s = rng(10).standard_normal(384).astype(np.float32)
    b = rng(11).standard_normal(384).astype(np.float32)
    check_against_ort("LayerNormalization", {"x": x}, {"axis": -1}, n_outputs=3, opset=17,
                      initializers={"s": s, "b": b}, rtol=1e-4, atol=1e-5, threads=threads)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_layer_norm_dtypes(dtype):
    x = rng(7).standard_normal((3, 8)).astype(dtype)
    s = rng(8).standard_normal(8).astype(dtype)
    tol = 5e-3 if dtype == np.float16 else 1e-5
    check_against_ort("LayerNormalization", {"x": x}, {}, n_outputs=3, opset=17, initializers={"s": s},
                      rtol=tol, atol=tol)


def test_layer_norm_errors():
    x = np.ones((2, 3), np.float32)
    model = make_model("LayerNormalization", {"x": x}, {}, opset=17, initializers={"s": np.ones(4, np.float32)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x})
    model = make_model("LayerNormalization", {"x": x}, {"axis": 2}, opset=17,
                       initializers={"s": np.ones(3, np.float32)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x})


def np_group_norm(x, groups, scale, bias, eps, per_channel):
    """Reference GroupNormalization (opset 18: per-group scale; 21: per-channel)."""
    n, c = x.shape[:2]
    xg = x.reshape(n, groups, -1).astype(np.float64)
    y = (xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + eps)
    y = y.reshape(x.shape)
    shp = (1, c) + (1,) * (x.ndim - 2)
    if not per_channel:
        scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
    return (y * scale.reshape(shp) + bias.reshape(shp)).astype(x.dtype)


@pytest.mark.parametrize("opset", [18, 21])
@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((1, 4, 3, 3), 2), ((3, 4, 7), 4), ((2, 3, 1), 1)])
def test_group_norm(opset, shape, groups):
    x = (rng(9).standard_normal(shape) * 2 + 1).astype(np.float32)
    k = shape[1] if opset >= 21 else groups
    s = rng(10).standard_normal(k).astype(np.float32)
    b = rng(11).standard_normal(k).astype(np.float32)
    model = make_model("GroupNormalization", {"x": x}, {"num_groups": groups, "epsilon": 1e-3}, opset=opset,
                       initializers={"s": s, "b": b})
    got = run_fastinfer(model, {"x": x})[0]
    assert_close(got, np_group_norm(x, groups, s, b, 1e-3, opset >= 21), rtol=1e-4, atol=1e-5)


def test_group_norm_errors():
    x = np.ones((2, 6, 3), np.float32)
    model = make_model("GroupNormalization", {"x": x}, {"num_groups": 4}, opset=21,
                       initializers={"s": np.ones(6, np.float32), "b": np.ones(6, np.float32)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x})


@pytest.mark.parametrize("shape,axis", [((2, 7), -1), ((3, 4, 5), 1), ((2, 3, 17), -1)])
def test_rms_norm(shape, axis):
    x = rng(12).standard_normal(shape).astype(np.float32)
    s = rng(13).standard_normal(shape[axis:]).astype(np.float32)
    check_against_ort("RMSNormalization", {"x": x}, {"axis": axis}, opset=23, initializers={"s": s},
                      rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_lp_norm(p, axis):
    x = rng(14).standard_normal((3, 5, 4)).astype(np.float32)
    check_against_ort("LpNormalization", {"x": x}, {"p": p, "axis": axis}, opset=1, rtol=1e-5, atol=1e-6)


def test_lp_norm_zero_row():
    x = np.zeros((2, 3), np.float32)
    x[1] = [3, 4, 0]
    out = run_fastinfer(make_model("LpNormalization", {"x": x}, {}, opset=1), {"x": x})[0]
    np.testing.assert_allclose(out, [[0, 0, 0], [0.6, 0.8, 0]], rtol=1e-6)


@pytest.mark.parametrize("opset", [9, 13])
@pytest.mark.parametrize("axes", [None, [0, 2, 3], [1], [2, 3], [0, 1, 2, 3]])
def test_mvn(opset, axes):
    x = (rng(15).standard_normal((2, 3, 4, 5)) * 2 + 1).astype(np.float32)
    attrs = {} if axes is None else {"axes": axes}
    check_against_ort("MeanVarianceNormalization", {"x": x}, attrs, opset=opset, rtol=1e-4, atol=1e-5)


def np_lrn(x, size, alpha, beta, bias):
    """Reference LRN across channels (ONNX formula)."""
    c = x.shape[1]
    sq = np.zeros_like(x, dtype=np.float64)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + size - 1 - (size - 1) // 2)
        sq[:, ch] = (x[:, lo:hi + 1].astype(np.float64) ** 2).sum(axis=1)
    return (x / (bias + alpha / size * sq) ** beta).astype(x.dtype)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn(size):
    x = rng(16).standard_normal((2, 7, 3, 3)).astype(np.float32)
    check_against_ort("LRN", {"x": x}, {"size": size, "alpha": 0.01, "beta": 0.6, "bias": 2.0}, opset=13,
                      rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [2, 4])
@pytest.mark.parametrize("shape", [(2, 7, 3, 3), (1, 4, 5)])
def test_lrn_even_size_and_3d(size, shape):
    x = rng(16).standard_normal(shape).astype(np.float32)
    model = make_model("LRN", {"x": x}, {"size": size, "alpha": 0.01, "beta": 0.6, "bias": 2.0}, opset=13)
    assert_close(run_fastinfer(model, {"x": x})[0], np_lrn(x, size, 0.01, 0.6, 2.0), rtol=1e-5, atol=1e-6)


def test_norm_threads():
    x = rng(17).standard_normal((8, 16, 9, 9)).astype(np.float32)
    s, b, _, _ = params(16)
    model = make_model("InstanceNormalization", {"x": x}, {}, opset=6, initializers={"s": s, "b": b})
    one = run_fastinfer(model, {"x": x}, threads=1)[0]
    four = run_fastinfer(model, {"x": x}, threads=4)[0]
    np.testing.assert_array_equal(one, four)


def test_batchnorm_runtime_params():
    # Parameters fed at run time (not folded at session creation).
    x = rng(18).standard_normal((2, 3, 4)).astype(np.float32)
    s, b, m, v = params(3)
    feeds = {"x": x, "s": s, "b": b, "m": m, "v": v}
    check_against_ort("BatchNormalization", feeds, {"epsilon": 1e-2}, opset=15, rtol=1e-5, atol=1e-6)
    bad = dict(feeds, s=np.ones(4, np.float32))
    model = make_model("BatchNormalization", bad, {}, opset=15)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, bad)
