"""Cast, CastLike and BitCast: numeric pairs against ONNX Runtime, strings, float8 with and
without saturation, 4-bit types against ml_dtypes, and error paths."""

from __future__ import annotations

import fastinfer
import ml_dtypes
import numpy as np
import pytest
from ew_util import check, rand, run
from onnx import TensorProto, numpy_helper
from op_helpers import assert_close

NUMERIC = {
    TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16,
    TensorProto.INT8: np.int8, TensorProto.UINT8: np.uint8, TensorProto.INT16: np.int16,
    TensorProto.UINT16: np.uint16, TensorProto.INT32: np.int32, TensorProto.UINT32: np.uint32,
    TensorProto.INT64: np.int64, TensorProto.UINT64: np.uint64, TensorProto.BOOL: np.bool_,
}


def sample(dtype) -> np.ndarray:
    """Values representable in every numeric type (0..100), as `dtype`."""
    return rand((3, 7), np.int64, 0, 100, seed=int(np.dtype(dtype).num)).astype(dtype)


@pytest.mark.parametrize("src", sorted(NUMERIC))
@pytest.mark.parametrize("dst", sorted(NUMERIC))
def test_cast_numeric_pairs(src, dst):
    x = sample(NUMERIC[src])
    check("Cast", {"x": x}, {"to": dst}, opset=13)


def test_cast_float_to_int_truncates():
    x = np.array([1.7, -1.7, 0.5, -0.5, 126.9, -127.9], np.float32)
    for dst in (TensorProto.INT8, TensorProto.INT32, TensorProto.INT64):
        check("Cast", {"x": x}, {"to": dst}, opset=13)


def test_cast_nonfinite_to_float_types():
    x = np.array([np.nan, np.inf, -np.inf, 1e10, -0.0, 65520.0], np.float32)
    for dst in (TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16):
        got = run("Cast", {"x": x}, {"to": dst}, opset=13)[0]
        ref = x.astype(ml_dtypes.bfloat16 if dst == TensorProto.BFLOAT16 else NUMERIC[dst])
        np.testing.assert_array_equal(got.astype(np.float64), ref.astype(np.float64))


def test_cast_bfloat16_roundtrip():
    x = rand((5, 9), np.float32, seed=3)
    got = run("Cast", {"x": x}, {"to": TensorProto.BFLOAT16}, opset=13)[0]
    assert got.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(got.view(np.uint16), x.astype(ml_dtypes.bfloat16).view(np.uint16))
    back = run("Cast", {"x": got}, {"to": TensorProto.FLOAT}, opset=13)[0]
    np.testing.assert_array_equal(back, got.astype(np.float32))


F8 = {TensorProto.FLOAT8E4M3FN: ml_dtypes.float8_e4m3fn, TensorProto.FLOAT8E4M3FNUZ: ml_dtypes.float8_e4m3fnuz,
      TensorProto.FLOAT8E5M2: ml_dtypes.float8_e5m2, TensorProto.FLOAT8E5M2FNUZ: ml_dtypes.float8_e5m2fnuz}


@pytest.mark.parametrize("dst", sorted(F8))
def test_cast_float8_saturate(dst):
    x = np.array([0.3, -1.7, 1e6, -1e6, 1e-9, 448.0, 57344.0, 3.0, np.nan, 0.0], np.float32)
    got = run("Cast", {"x": x}, {"to": dst}, opset=19)[0]
    ref = numpy_helper.saturate_cast(x, F8[dst])
    np.testing.assert_array_equal(got.view(np.uint8), ref.view(np.uint8))
    nosat = run("Cast", {"x": x}, {"to": dst, "saturate": 0}, opset=19)[0]
    np.testing.assert_array_equal(nosat.view(np.uint8), x.astype(F8[dst]).view(np.uint8))
    back = run("Cast", {"x": got}, {"to": TensorProto.FLOAT}, opset=19)[0]
    np.testing.assert_array_equal(back, ref.astype(np.float32))


def test_cast_4bit_like_ml_dtypes():
    x = np.arange(-9, 16).astype(np.float32)
    for dst, np_t in [(TensorProto.INT4, ml_dtypes.int4), (TensorProto.UINT4, ml_dtypes.uint4)]:
        got = run("Cast", {"x": x}, {"to": dst}, opset=21)[0]
        np.testing.assert_array_equal(got.astype(np.int64), x.astype(np_t).astype(np.int64))
        back = run("Cast", {"x": got}, {"to": TensorProto.INT32}, opset=21)[0]
        np.testing.assert_array_equal(back, x.astype(np_t).astype(np.int32))
    f = np.array([0.48, 1.05, -3.5, 9, np.inf, -0.0, 0.25], np.float32)
    got = run("Cast", {"x": f}, {"to": TensorProto.FLOAT4E2M1}, opset=23)[0]
    np.testing.assert_array_equal(got.astype(np.float32), f.astype(ml_dtypes.float4_e2m1fn).astype(np.float32))


def test_cast_to_string():
    x = np.array([0.1, 1 / 3, 1e20, -2.5, np.nan, np.inf, -np.inf, 100.0], np.float32)
    check("Cast", {"x": x}, {"to": TensorProto.STRING}, opset=13)
    i = np.array([-5, 7, 0], np.int64)
    check("Cast", {"x": i}, {"to": TensorProto.STRING}, opset=13)
    b = np.array([True, False])
    check("Cast", {"x": b}, {"to": TensorProto.STRING}, opset=13)


def test_cast_from_string():
    s = np.array(["1.5", "1e-5", "NaN", "INF", "-INF", "+INF", "-0.25", "3"], dtype=object)
    check("Cast", {"x": s}, {"to": TensorProto.FLOAT}, opset=13)
    check("Cast", {"x": s}, {"to": TensorProto.DOUBLE}, opset=13)
    n = np.array(["12", "-7", "0"], dtype=object)
    check("Cast", {"x": n}, {"to": TensorProto.INT32}, opset=13)
    check("Cast", {"x": n}, {"to": TensorProto.INT64}, opset=13)
    u = np.array(["1", "0", "255"], dtype=object)
    check("Cast", {"x": u}, {"to": TensorProto.UINT8}, opset=13)
    check("Cast", {"x": u}, {"to": TensorProto.BOOL}, opset=13)


def test_cast_bad_string_raises():
    s = np.array(["1.5", "abc"], dtype=object)
    with pytest.raises(fastinfer.InvalidArgument):
        run("Cast", {"x": s}, {"to": TensorProto.FLOAT}, opset=13)
    with pytest.raises(fastinfer.InvalidArgument):
        run("Cast", {"x": np.array(["1.5"], dtype=object)}, {"to": TensorProto.INT32}, opset=13)


def test_cast_same_type_and_empty():
    x = rand((0, 3), np.float32)
    assert run("Cast", {"x": x}, {"to": TensorProto.INT64}, opset=13)[0].shape == (0, 3)
    y = rand((2, 3), np.float32)
    assert_close(run("Cast", {"x": y}, {"to": TensorProto.FLOAT}, opset=13)[0], y)


def test_cast_large_threaded():
    x = rand((50001,), np.float32, -1000, 1000, seed=4)
    got = run("Cast", {"x": x}, {"to": TensorProto.FLOAT16}, opset=13, threads=4)[0]
    np.testing.assert_array_equal(got, x.astype(np.float16))


def test_castlike():
    x = rand((3, 4), np.float32, seed=5)
    t = np.zeros((1,), np.int32)
    check("CastLike", {"x": x, "t": t}, opset=15)
    s = np.zeros((1,), dtype=object)
    check("CastLike", {"x": np.array([1.5, -2.0], np.float32), "t": s}, opset=15)


def test_cast_bad_target_raises():
    x = np.ones(2, np.float32)
    with pytest.raises(fastinfer.NotImplemented):
        run("Cast", {"x": x}, {"to": 99}, opset=13)


@pytest.mark.parametrize("src,dst,np_dst", [(np.float32, TensorProto.INT32, np.int32),
                                            (np.int64, TensorProto.DOUBLE, np.float64),
                                            (np.uint16, TensorProto.FLOAT16, np.float16),
                                            (np.int8, TensorProto.UINT8, np.uint8)])
def test_bitcast(src, dst, np_dst):
    x = rand((2, 5), src, -50, 50, seed=6)
    got = run("BitCast", {"x": x}, {"to": dst}, opset=26)[0]
    np.testing.assert_array_equal(got.view(np.uint8), x.view(np.uint8))
    assert got.dtype == np_dst


def test_bitcast_width_mismatch_raises():
    x = np.ones(3, np.float32)
    with pytest.raises(fastinfer.InvalidArgument):
        run("BitCast", {"x": x}, {"to": TensorProto.INT64}, opset=26)
