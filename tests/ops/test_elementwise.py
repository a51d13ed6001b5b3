"""Elementwise binary ops against ONNX Runtime (or numpy where ORT lacks a type): arithmetic,
Pow, Mod, comparisons, logic, bitwise, variadic ops, PRelu and Where, with broadcasting."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from ew_util import check, rand
from op_helpers import assert_close, make_model, run_fastinfer

SHAPE_PAIRS = [
    ((7,), (7,)),
    ((3, 17), ()),
    ((), (2, 5)),
    ((4, 33), (33,)),
    ((3, 1, 5), (1, 4, 1)),
    ((2, 3, 4, 5), (3, 1, 5)),
    ((2, 1, 7), (2, 3, 1)),
    ((0, 3), (3,)),
    ((1,), (1, 1)),
]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS)
def test_arith_float_broadcast(op, sa, sb):
    a = rand(sa, np.float32, seed=1)
    b = rand(sb, np.float32, seed=2, nonzero=True)
    check(op, {"a": a, "b": b}, opset=14)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64])
def test_arith_dtypes(op, dtype):
    a = rand((3, 7), dtype, seed=3)
    b = rand((7,), dtype, seed=4, nonzero=True)
    check(op, {"a": a, "b": b}, opset=14, rtol=1e-3 if dtype == np.float16 else 1e-6)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.uint32, np.uint64])
def test_arith_small_ints_wrap_like_numpy(dtype):
    a = rand((5, 9), dtype, lo=-200, hi=250, seed=5)
    b = rand((9,), dtype, lo=-200, hi=250, seed=6, nonzero=True)
    feeds = {"a": a, "b": b}
    for op, ref in [("Add", a + b), ("Sub", a - b), ("Mul", a * b)]:
        got = run_fastinfer(make_model(op, feeds, opset=14), feeds)[0]
        assert_close(got, ref, what=op)


def test_int_div_truncates_and_div_by_zero_raises():
    a = np.array([7, -7, 7, -7, -2147483648], np.int32)
    b = np.array([2, 2, -2, -2, -1], np.int32)
    check("Div", {"a": a[:4], "b": b[:4]}, opset=14)
    got = run_fastinfer(make_model("Div", {"a": a, "b": b}), {"a": a, "b": b})[0]
    assert list(got) == [3, -3, -3, 3, -2147483648]
    z = np.array([1, 0], np.int32)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("Div", {"a": z, "b": z}), {"a": z, "b": z})


@pytest.mark.parametrize("fmod", [0, 1])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8, np.uint8])
def test_mod_int(fmod, dtype):
    a = rand((4, 6), dtype, lo=-50, hi=50, seed=7)
    b = rand((6,), dtype, lo=-9, hi=9, seed=8, nonzero=True)
    check("Mod", {"a": a, "b": b}, {"fmod": fmod}, opset=13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_mod_float_fmod(dtype):
    a = rand((4, 6), dtype, seed=9)
    b = rand((1, 6), dtype, lo=1, hi=4, seed=10)
    check("Mod", {"a": a, "b": -b}, {"fmod": 1}, opset=13, rtol=1e-3, atol=1e-3)


def test_mod_by_zero_raises():
    z = np.array([3, 0], np.int64)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("Mod", {"a": z, "b": z}), {"a": z, "b": z})


@pytest.mark.parametrize("bt,et", [(np.float32, np.float32), (np.float32, np.int64), (np.int64, np.int64),
                                   (np.int32, np.float32), (np.float64, np.int32), (np.int64, np.float64)])
def test_pow_mixed_types(bt, et):
    x = rand((3, 5), bt, lo=1, hi=4, seed=11)
    e = rand((5,), et, lo=0, hi=3, seed=12)
    check("Pow", {"x": x, "e": e}, opset=15, rtol=1e-5)


def test_pow_float_opset7_broadcast():
    x = rand((2, 3, 4), np.float32, lo=0.5, hi=3, seed=13)
    check("Pow", {"x": x, "e": np.array(2.5, np.float32)}, opset=7)


@pytest.mark.parametrize("op", ["Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.float64])
def test_compare(op, dtype):
    a = rand((4, 5), dtype, lo=-3, hi=3, seed=14)
    b = rand((5,), dtype, lo=-3, hi=3, seed=15)
    check(op, {"a": a, "b": b}, opset=16)


def test_compare_other_types_like_numpy():
    for dtype in [np.float16, np.uint8, np.int8, np.uint64]:
        a = rand((3, 4), dtype, lo=0, hi=3, seed=16)
        b = rand((4,), dtype, lo=0, hi=3, seed=17)
        for op, ref in [("Less", a < b), ("Equal", a == b), ("GreaterOrEqual", a >= b)]:
            got = run_fastinfer(make_model(op, {"a": a, "b": b}, opset=16), {"a": a, "b": b})[0]
            assert_close(got, ref, what=f"{op} {dtype}")


def test_equal_strings_and_bool():
    a = np.array([["a", "bc"], ["", "x"]], dtype=object)
    b = np.array(["a", "x"], dtype=object)
    check("Equal", {"a": a, "b": b}, opset=19)
    p = np.array([True, False, True])
    check("Equal", {"a": p, "b": np.array([True])}, opset=13)


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic(op):
    a = rand((3, 1, 4), bool, seed=18)
    b = rand((5, 1), bool, seed=19)
    check(op, {"a": a, "b": b}, opset=7)


def test_logic_rejects_non_bool():
    a = np.ones(3, np.float32)
    with pytest.raises(fastinfer.NotImplemented):
        run_fastinfer(make_model("And", {"a": a, "b": a}), {"a": a, "b": a})


@pytest.mark.parametrize("op,fn", [("BitwiseAnd", np.bitwise_and), ("BitwiseOr", np.bitwise_or),
                                   ("BitwiseXor", np.bitwise_xor)])
@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64, np.uint16])
def test_bitwise(op, fn, dtype):
    a = rand((3, 7), dtype, lo=-100, hi=100, seed=20)
    b = rand((7,), dtype, lo=-100, hi=100, seed=21)
    got = run_fastinfer(make_model(op, {"a": a, "b": b}, opset=18), {"a": a, "b": b})[0]
    assert_close(got, fn(a, b))


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint32, np.uint64])
def test_bitshift_unsigned(direction, dtype):
    a = rand((4, 5), dtype, lo=0, hi=200, seed=22)
    s = rand((5,), dtype, lo=0, hi=7, seed=23)
    check("BitShift", {"a": a, "s": s}, {"direction": direction}, opset=11)


def test_bitshift_signed_and_out_of_range():
    a = np.array([-8, 8, -1, 5, -128], np.int8)
    s = np.array([1, 9, 8, -1, 2], np.int8)
    feeds = {"a": a, "s": s}
    right = run_fastinfer(make_model("BitShift", feeds, {"direction": "RIGHT"}), feeds)[0]
    left = run_fastinfer(make_model("BitShift", feeds, {"direction": "LEFT"}), feeds)[0]
    assert list(right) == [-4, 0, -1, 0, -32]
    assert list(left) == [-16, 0, 0, 0, 0]


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic_broadcast(op):
    ins = {"a": rand((3, 1, 5), np.float32, seed=24), "b": rand((4, 1), np.float32, seed=25),
           "c": rand((5,), np.float32, seed=26)}
    check(op, ins, opset=13)
    check(op, {"a": ins["a"]}, opset=13)


@pytest.mark.parametrize("op", ["Max", "Min"])
def test_max_min_int_and_nan(op):
    a = rand((6,), np.int64, seed=27)
    b = rand((2, 6), np.int64, seed=28)
    check(op, {"a": a, "b": b}, opset=13)
    x = np.array([1.0, np.nan, 3.0], np.float32)
    y = np.array([np.nan, 2.0, 1.0], np.float32)
    got = run_fastinfer(make_model(op, {"x": x, "y": y}, opset=13), {"x": x, "y": y})[0]
    assert np.isnan(got[0]) and np.isnan(got[1]) and got[2] == (3.0 if op == "Max" else 1.0)


@pytest.mark.parametrize("xs,ss", [((2, 3, 4), (3, 1)), ((2, 3, 4), (4,)), ((5,), (1,)), ((2, 3), (2, 3))])
def test_prelu(xs, ss):
    x = rand(xs, np.float32, seed=29)
    s = rand(ss, np.float32, lo=0, hi=1, seed=30)
    check("PRelu", {"x": x, "s": s}, opset=16)


def test_prelu_bad_slope_raises():
    x = np.ones((2, 3), np.float32)
    s = np.ones((4,), np.float32)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("PRelu", {"x": x, "s": s}), {"x": x, "s": s})


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8, np.float16])
def test_where_broadcast(dtype):
    c = rand((3, 1, 5), bool, seed=31)
    x = rand((4, 1), dtype, seed=32)
    y = rand((5,), dtype, seed=33)
    check("Where", {"c": c, "x": x, "y": y}, opset=16)


def test_where_bool_like_numpy():
    c = rand((3, 1, 5), bool, seed=37)
    x = rand((4, 1), bool, seed=38)
    y = rand((5,), bool, seed=39)
    got = run_fastinfer(make_model("Where", {"c": c, "x": x, "y": y}), {"c": c, "x": x, "y": y})[0]
    assert_close(got, np.where(c, x, y))


def test_where_strings():
    c = np.array([[True, False], [False, True]])
    x = np.array(["a", "b"], dtype=object)
    y = np.array([["c"], ["dd"]], dtype=object)
    check("Where", {"c": c, "x": x, "y": y}, opset=16)


def test_broadcast_mismatch_raises():
    a = np.ones((2, 3), np.float32)
    b = np.ones((4,), np.float32)
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):  # contradiction: at load
        run_fastinfer(make_model("Add", {"a": a, "b": b}), {"a": a, "b": b})


def test_dtype_mismatch_raises():
    a = np.ones((3,), np.float32)
    b = np.ones((3,), np.float64)
    model = make_model("Mul", {"a": a, "b": b})
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):
        run_fastinfer(model, {"a": a, "b": b})


@pytest.mark.parametrize("sa,sb", [((70, 1000), (1000,)), ((3, 129, 257), (129, 1)), ((40000,), ()),
                                   ((2, 50, 3, 70), (50, 1, 70)), ((33000,), (33000,))])
def test_large_threaded_matches_numpy(sa, sb):
    a = rand(sa, np.float32, seed=34)
    b = rand(sb, np.float32, seed=35)
    feeds = {"a": a, "b": b}
    got = run_fastinfer(make_model("Sub", feeds), feeds, threads=4)[0]
    np.testing.assert_array_equal(got, a - b)
    c = rand(sa, bool, seed=36)
    feeds = {"c": c, "a": a, "b": b}
    got = run_fastinfer(make_model("Where", feeds), feeds, threads=4)[0]
    np.testing.assert_array_equal(got, np.where(c, a, b))


@pytest.mark.parametrize("sa,sb", [((3, 600), (600,)), ((40000,), ()), ((5, 300, 7), (300, 1)), ((17, 1), (1, 2000))])
def test_float16_broadcast_threaded_matches_float32_math(sa, sb):
    a = rand(sa, np.float16, seed=40)
    b = rand(sb, np.float16, seed=41, nonzero=True)
    feeds = {"a": a, "b": b}
    for op, ref in [("Mul", a.astype(np.float32) * b.astype(np.float32)),
                    ("Div", a.astype(np.float32) / b.astype(np.float32))]:
        got = run_fastinfer(make_model(op, feeds), feeds, threads=3)[0]
        np.testing.assert_array_equal(got, ref.astype(np.float16))
    got = run_fastinfer(make_model("Less", feeds), feeds, threads=3)[0]
    np.testing.assert_array_equal(got, a < b)


def test_legacy_broadcast_axis_opset6():
    a = rand((2, 3, 4, 5), np.float32, seed=42)
    b = rand((3, 4), np.float32, seed=43, nonzero=True)
    feeds = {"a": a, "b": b}
    got = run_fastinfer(make_model("Div", feeds, {"broadcast": 1, "axis": 1}, opset=6), feeds)[0]
    np.testing.assert_allclose(got, a / b.reshape(1, 3, 4, 1), rtol=1e-6)
    c = rand((5,), np.float32, seed=44)
    got = run_fastinfer(make_model("Add", {"a": a, "c": c}, {"broadcast": 1}, opset=6), {"a": a, "c": c})[0]
    np.testing.assert_allclose(got, a + c, rtol=1e-6)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("Mul", feeds, {"broadcast": 1, "axis": 3}, opset=6), feeds)


def test_bfloat16_arith_like_float32_rounded():
    import ml_dtypes

    a = rand((4, 33), np.float32, seed=45).astype(ml_dtypes.bfloat16)
    b = rand((33,), np.float32, seed=46, nonzero=True).astype(ml_dtypes.bfloat16)
    feeds = {"a": a, "b": b}
    for op, ref in [("Add", a.astype(np.float32) + b.astype(np.float32)),
                    ("Mul", a.astype(np.float32) * b.astype(np.float32))]:
        got = run_fastinfer(make_model(op, feeds), feeds)[0]
        assert got.dtype == ml_dtypes.bfloat16
        np.testing.assert_array_equal(got.astype(np.float32), ref.astype(ml_dtypes.bfloat16).astype(np.float32))
