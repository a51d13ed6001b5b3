"""Unary elementwise ops against ONNX Runtime: math functions, activations with attributes,
Clip across opsets, IsNaN/IsInf, Not/BitwiseNot and Dropout in inference."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from ew_util import check, rand, run
from op_helpers import ODD_SIZES, assert_close

# op -> (low, high) of the input domain, opset
FLOAT_OPS = {
    "Abs": (-5, 5, 13), "Neg": (-5, 5, 13), "Exp": (-5, 5, 13), "Log": (0.01, 10, 13),
    "Sqrt": (0, 10, 13), "Reciprocal": (0.5, 5, 13), "Floor": (-5, 5, 13), "Ceil": (-5, 5, 13),
    "Round": (-5, 5, 11), "Sign": (-5, 5, 13), "Sin": (-5, 5, 7), "Cos": (-5, 5, 7), "Tan": (-1, 1, 7),
    "Asin": (-0.99, 0.99, 7), "Acos": (-0.99, 0.99, 7), "Atan": (-5, 5, 7), "Sinh": (-3, 3, 9),
    "Cosh": (-3, 3, 9), "Asinh": (-5, 5, 9), "Acosh": (1.01, 5, 9), "Atanh": (-0.99, 0.99, 9),
    "Erf": (-3, 3, 13), "Relu": (-5, 5, 14), "LeakyRelu": (-5, 5, 16), "Elu": (-5, 5, 6),
    "Selu": (-5, 5, 6), "Celu": (-5, 5, 12), "Sigmoid": (-20, 20, 13), "HardSigmoid": (-5, 5, 6),
    "HardSwish": (-5, 5, 14), "Softplus": (-20, 20, 1), "Softsign": (-5, 5, 1), "Tanh": (-5, 5, 13),
    "Gelu": (-5, 5, 20), "Mish": (-5, 5, 18), "ThresholdedRelu": (-3, 3, 10), "Shrink": (-3, 3, 9),
}


@pytest.mark.parametrize("op", sorted(FLOAT_OPS))
def test_float_unary_float32(op):
    lo, hi, opset = FLOAT_OPS[op]
    x = rand((3, 17), np.float32, lo, hi, seed=1)
    check(op, {"x": x}, opset=opset, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Relu",
                                "Sigmoid", "Tanh", "Round", "Sign", "Sin", "Cos"])
def test_float_unary_float64(op):
    lo, hi, opset = FLOAT_OPS[op]
    x = rand((7,), np.float64, lo, hi, seed=2)
    check(op, {"x": x}, opset=max(opset, 13), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("op", ["Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Relu",
                                "Sigmoid", "Tanh", "Erf", "Round", "Sign", "LeakyRelu", "Softplus", "Sin",
                                "Cos", "HardSwish", "Gelu", "Mish", "Elu"])
def test_float_unary_float16_like_numpy_float32(op):
    lo, hi, opset = FLOAT_OPS[op]
    x = rand((33,), np.float16, lo, hi, seed=3)
    ours = run(op, {"x": x}, opset=max(opset, 13))[0]
    ref = run(op, {"x": x.astype(np.float32)}, opset=max(opset, 13))[0].astype(np.float16)
    assert_close(ours, ref, rtol=1e-3, atol=1e-3, what=op)


@pytest.mark.parametrize("op,attrs", [
    ("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.5}), ("Selu", {"alpha": 1.5, "gamma": 2.0}),
    ("Celu", {"alpha": 2.0}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("ThresholdedRelu", {"alpha": 0.5}),
    ("Shrink", {"lambd": 1.0, "bias": 0.5}), ("Gelu", {"approximate": "tanh"})])
def test_activation_attributes(op, attrs):
    x = rand((4, 9), np.float32, -3, 3, seed=4)
    check(op, {"x": x}, attrs, opset=max(FLOAT_OPS[op][2], 13), rtol=1e-5, atol=1e-6)


def test_round_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6], np.float32)
    assert list(run("Round", {"x": x}, opset=11)[0]) == [0, 2, 2, -0, -2, -2, 2, 3]


def test_swish():
    x = rand((2, 5), np.float32, -4, 4, seed=5)
    got = run("Swish", {"x": x}, {"alpha": 0.5}, opset=24)[0]
    assert_close(got, x / (1 + np.exp(-0.5 * x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Abs", "Neg", "Sign", "Relu"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8])
def test_integer_unary(op, dtype):
    x = rand((3, 5), dtype, -20, 20, seed=6)
    ref = {"Abs": np.abs, "Neg": np.negative, "Sign": np.sign, "Relu": lambda v: np.maximum(v, 0)}[op](x)
    assert_close(run(op, {"x": x}, opset=14)[0], ref, what=op)


def test_float_only_op_rejects_int():
    x = np.ones(3, np.int32)
    with pytest.raises(fastinfer.NotImplemented):
        run("Exp", {"x": x}, opset=13)


@pytest.mark.parametrize("n", ODD_SIZES + [0, 40000])
def test_sizes_and_threads(n):
    x = rand((n,), np.float32, -4, 4, seed=7)
    got = run("Sigmoid", {"x": x}, opset=13, threads=3)[0]
    assert_close(got, (1 / (1 + np.exp(-x.astype(np.float64)))).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_isnan_isinf():
    x = np.array([1.0, np.nan, np.inf, -np.inf, -2.0], np.float32)
    check("IsNaN", {"x": x}, opset=13)
    for pos in (0, 1):
        for neg in (0, 1):
            check("IsInf", {"x": x}, {"detect_positive": pos, "detect_negative": neg}, opset=10)


def test_not_and_bitwise_not():
    b = rand((3, 4), bool, seed=8)
    check("Not", {"x": b}, opset=1)
    for dtype in (np.int32, np.uint8, np.int64, np.uint16):
        x = rand((7,), dtype, -100, 100, seed=9)
        assert_close(run("BitwiseNot", {"x": x}, opset=18)[0], np.invert(x))


def test_clip_opset6_attributes():
    x = rand((3, 7), np.float32, -5, 5, seed=10)
    check("Clip", {"x": x}, {"min": -1.0, "max": 2.0}, opset=6)
    check("Clip", {"x": x}, {"max": 0.5}, opset=6)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.uint8, np.float64])
def test_clip_inputs(dtype):
    x = rand((4, 5), dtype, -50, 50, seed=11)
    lo = np.array(3, dtype)
    hi = np.array(20, dtype)
    check("Clip", {"x": x}, opset=13, initializers={"lo": lo, "hi": hi}, input_names=["x", "lo", "hi"])
    check("Clip", {"x": x}, opset=13, initializers={"hi": hi}, input_names=["x", "", "hi"])
    check("Clip", {"x": x, "lo": lo}, opset=13)
    check("Clip", {"x": x}, opset=13)


def test_clip_min_above_max_and_bad_bound():
    x = rand((6,), np.float32, -5, 5, seed=12)
    lo = np.array(2.0, np.float32)
    hi = np.array(1.0, np.float32)
    check("Clip", {"x": x, "lo": lo, "hi": hi}, opset=13)
    with pytest.raises(fastinfer.InvalidArgument):
        run("Clip", {"x": x, "lo": np.ones(2, np.float32)}, opset=13)


@pytest.mark.parametrize("opset", [7, 10, 13])
def test_dropout_inference(opset):
    x = rand((3, 5), np.float32, seed=13)
    got = run("Dropout", {"x": x}, {"ratio": 0.3} if opset < 12 else None, opset=opset, n_outputs=2)
    assert_close(got[0], x)
    assert got[1].shape == x.shape and np.all(got[1] == 1)
    assert got[1].dtype == (np.float32 if opset < 10 else np.bool_)


def test_dropout_training():
    x = rand((3, 5), np.float32, seed=14)
    r = np.array(0.0, np.float32)
    t = np.array(True)
    got = run("Dropout", {"x": x, "r": r, "t": t}, opset=13, n_outputs=2)
    assert_close(got[0], x)
    with pytest.raises(fastinfer.NotImplemented):
        run("Dropout", {"x": x, "r": np.array(0.5, np.float32), "t": t}, opset=13)


@pytest.mark.parametrize("op", sorted(FLOAT_OPS))
def test_nan_and_inf_as_ort(op):
    """NaN and +-Inf come out where ONNX Runtime's do (Relu(NaN) is NaN, not 0)."""
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -1.5, 2.5, -np.nan], np.float32)
    check(op, {"x": x}, opset=FLOAT_OPS[op][2], rtol=1e-5, atol=1e-6)
