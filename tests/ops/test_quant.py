"""Quantisation reference kernels against onnxruntime: QuantizeLinear / DequantizeLinear
(per tensor, per axis, blocked, 8/16/4-bit and float8 types, saturate, output_dtype, ties to even),
DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv."""

from __future__ import annotations

import fastinfer
import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from op_helpers import assert_close, onnx_type, rng, run_fastinfer, run_ort


def build(op, inputs, attrs, out_types, opset, inits=None, names=None):
    """One node with typed outputs; `inputs` are fed, `inits` become initializers."""
    inits = inits or {}
    names = names if names is not None else list(inputs) + list(inits)
    outs = [f"y{i}" for i in range(len(out_types))]
    node = helper.make_node(op, names, outs, **(attrs or {}))
    g = helper.make_graph(
        [node], "q", [helper.make_tensor_value_info(k, onnx_type(v), v.shape) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, t, None) for o, t in zip(outs, out_types)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def check(op, inputs, attrs, out_types, opset, inits=None, names=None, rtol=1e-5, atol=1e-6):
    """Compares both runtimes; returns our outputs."""
    m = build(op, inputs, attrs, out_types, opset, inits, names)
    ours = run_fastinfer(m, inputs)
    ref = run_ort(m, inputs)
    for i, (a, b) in enumerate(zip(ours, ref)):
        if a.dtype != b.dtype and a.dtype.itemsize == 1 and b.dtype.itemsize == 1:
            a, b = a.astype(np.float32), b.astype(np.float32)  # float8 / 4-bit dtypes: compare values
        assert_close(a, b, rtol, atol, what=f"{op} output {i}")
    return ours


U8, I8 = TensorProto.UINT8, TensorProto.INT8


def ties(shape, scale, r):
    """Values whose x/scale land on halves (and random ones) to exercise round-half-to-even."""
    x = (r.integers(-300, 300, size=shape) + 0.5) * scale
    x.ravel()[::3] = r.standard_normal(x.size)[::3] * 50 * scale
    return x.astype(np.float32)


@pytest.mark.parametrize("zp_dtype,opset", [(np.uint8, 10), (np.int8, 13), (np.uint16, 21), (np.int16, 21)])
def test_quantize_per_tensor(zp_dtype, opset):
    r = rng(0)
    x = ties((3, 17), 0.25, r)
    zp = np.array(3, zp_dtype)
    check("QuantizeLinear", {"x": x}, {}, [onnx_type(zp)], opset,
          inits={"s": np.array(0.25, np.float32), "zp": zp})


def test_quantize_default_uint8_without_zero_point():
    r = rng(1)
    check("QuantizeLinear", {"x": ties((33,), 0.1, r)}, {}, [U8], 13, inits={"s": np.array(0.1, np.float32)})


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_quantize_dequantize_per_axis(axis):
    r = rng(2)
    x = r.standard_normal((3, 5, 7)).astype(np.float32) * 10
    n = x.shape[axis]
    s = (r.random(n) + 0.05).astype(np.float32)
    zp = r.integers(-20, 20, n).astype(np.int8)
    q = check("QuantizeLinear", {"x": x}, {"axis": axis}, [I8], 13, inits={"s": s, "zp": zp})[0]
    check("DequantizeLinear", {"q": q}, {"axis": axis}, [TensorProto.FLOAT], 13, inits={"s": s, "zp": zp})


@pytest.mark.parametrize("block", [1, 2, 3, 4])
def test_quantize_dequantize_blocked(block):
    r = rng(3)
    x = r.standard_normal((4, 7)).astype(np.float32) * 5
    s = (r.random((4, -(-7 // block))) + 0.1).astype(np.float32)
    zp = r.integers(0, 40, s.shape).astype(np.uint8)
    q = check("QuantizeLinear", {"x": x}, {"axis": 1, "block_size": block}, [U8], 21, inits={"s": s, "zp": zp})[0]
    check("DequantizeLinear", {"q": q}, {"axis": 1, "block_size": block}, [TensorProto.FLOAT], 21,
          inits={"s": s, "zp": zp})


@pytest.mark.parametrize("dt", [TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E5M2, TensorProto.FLOAT8E4M3FNUZ,
                                TensorProto.FLOAT8E5M2FNUZ])
@pytest.mark.parametrize("saturate", [0, 1])
def test_quantize_float8_saturate(dt, saturate):
    x = np.array([0.0, 1.0, -2.5, 3.14, 1e4, -1e6, 1e-4, 448.0, 500.0], np.float32)
    zp = helper.make_tensor("zp", dt, [], [0.0])
    m = build("QuantizeLinear", {"x": x}, {"saturate": saturate}, [dt], 19, inits={"s": np.array(0.5, np.float32)},
              names=["x", "s", "zp"])
    m.graph.initializer.append(zp)
    ours = run_fastinfer(m, {"x": x})[0]
    if dt == TensorProto.FLOAT8E4M3FN:  # the only float8 type ORT hands back to numpy
        ref = run_ort(m, {"x": x})[0]
    else:
        ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    np.testing.assert_array_equal(ours.view(np.uint8), ref.view(np.uint8))


def test_quantize_output_dtype_and_int4():
    r = rng(4)
    x = ties((2, 9), 0.5, r)
    for dt in (TensorProto.INT8, TensorProto.UINT16):
        check("QuantizeLinear", {"x": x}, {"output_dtype": dt}, [dt], 21, inits={"s": np.array(0.5, np.float32)})
    m = build("QuantizeLinear", {"x": x}, {"output_dtype": TensorProto.INT4}, [TensorProto.INT4], 21,
              inits={"s": np.array(0.5, np.float32)})
    ours = run_fastinfer(m, {"x": x})[0]
    want = np.clip(np.rint(x / 0.5), -8, 7)  # numpy rint rounds half to even
    np.testing.assert_array_equal(ours.astype(np.float32), want)


def test_dequantize_types():
    r = rng(5)
    q = r.integers(-128, 128, (3, 7)).astype(np.int8)
    check("DequantizeLinear", {"q": q}, {}, [TensorProto.FLOAT], 10,
          inits={"s": np.array(0.3, np.float32), "zp": np.array(-4, np.int8)})
    q32 = r.integers(-(2**31), 2**31 - 1, (17,)).astype(np.int32)
    check("DequantizeLinear", {"q": q32}, {}, [TensorProto.FLOAT], 13, inits={"s": np.array(0.01, np.float32)})
    q16 = r.integers(0, 65535, (5,)).astype(np.uint16)
    check("DequantizeLinear", {"q": q16}, {}, [TensorProto.FLOAT], 21,
          inits={"s": np.array(0.5, np.float32), "zp": np.array(100, np.uint16)})
    q4 = np.array([-8, -1, 0, 3, 7], ml_dtypes.int4)
    m = build("DequantizeLinear", {}, {}, [TensorProto.FLOAT], 21,
              inits={"q": q4, "s": np.array(2.0, np.float32), "zp": np.array(1, ml_dtypes.int4)})
    np.testing.assert_array_equal(run_fastinfer(m, {})[0], (q4.astype(np.float32) - 1) * 2)


def test_dequantize_float16_scale():
    q = np.arange(-5, 6, dtype=np.int8)
    out = check("DequantizeLinear", {"q": q}, {}, [TensorProto.FLOAT16], 19,
                inits={"s": np.array(0.5, np.float16), "zp": np.array(1, np.int8)})[0]
    assert out.dtype == np.float16


def test_quantize_float16_input():
    r = rng(12)
    x = ties((4, 9), 0.5, r).astype(np.float16)
    check("QuantizeLinear", {"x": x}, {"axis": 0}, [I8], 19,
          inits={"s": np.array([0.5, 0.25, 1.0, 2.0], np.float16), "zp": np.array([1, 2, 3, -4], np.int8)})


def test_threaded_integer_kernels():
    """The parallel loops give the same result with a thread pool."""
    r = rng(13)
    a, b = int8_arr(r, (65, 33), np.uint8), int8_arr(r, (33, 17), np.uint8)
    m = build("MatMulInteger", {"a": a, "b": b}, {}, [TensorProto.INT32], 10)
    want = a.astype(np.int32) @ b.astype(np.int32)
    np.testing.assert_array_equal(run_fastinfer(m, {"a": a, "b": b}, threads=4)[0], want)
    x, w = int8_arr(r, (2, 4, 9, 9), np.uint8), int8_arr(r, (8, 4, 3, 3), np.uint8)
    m = build("ConvInteger", {"x": x}, {"pads": [1, 1, 1, 1]}, [TensorProto.INT32], 10, inits={"w": w})
    np.testing.assert_array_equal(run_fastinfer(m, {"x": x}, threads=4)[0], run_ort(m, {"x": x})[0])
    big = ties((7, 65, 127), 0.5, r)  # several chunks of the parallel store
    m = build("QuantizeLinear", {"x": big}, {"axis": 1}, [I8], 13,
              inits={"s": (r.random(65) + 0.1).astype(np.float32), "zp": r.integers(-9, 9, 65).astype(np.int8)})
    np.testing.assert_array_equal(run_fastinfer(m, {"x": big}, threads=4)[0], run_ort(m, {"x": big})[0])


def test_quantize_bad_scale_size():
    x = np.zeros((2, 3), np.float32)
    m = build("QuantizeLinear", {"x": x}, {"axis": 1}, [U8], 13, inits={"s": np.ones(4, np.float32)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"x": x})


@pytest.mark.parametrize("kind", ["random", "positive", "negative", "zeros", "empty"])
def test_dynamic_quantize(kind):
    r = rng(6)
    x = {"random": r.standard_normal((3, 33)) * 4, "positive": r.random((7,)) + 1, "negative": -r.random((7,)) - 2,
         "zeros": np.zeros((5,)), "empty": np.zeros((0, 3))}[kind].astype(np.float32)
    check("DynamicQuantizeLinear", {"x": x}, {}, [U8, TensorProto.FLOAT, U8], 11)


def int8_arr(r, shape, dt):
    lo, hi = (0, 256) if dt == np.uint8 else (-128, 128)
    return r.integers(lo, hi, shape).astype(dt)


@pytest.mark.parametrize("ashape,bshape", [((3, 7), (7, 5)), ((2, 3, 17), (17, 4)), ((1, 4, 3), (2, 3, 6)),
                                           ((7,), (7, 3)), ((2, 5), (5,)), ((0, 3), (3, 2))])
@pytest.mark.parametrize("adt,bdt", [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)])
def test_matmul_integer(ashape, bshape, adt, bdt):
    r = rng(7)
    a, b = int8_arr(r, ashape, adt), int8_arr(r, bshape, bdt)
    check("MatMulInteger", {"a": a, "b": b}, {}, [TensorProto.INT32], 10,
          inits={"azp": np.array(5, adt), "bzp": np.array(3, bdt)})


def test_matmul_integer_per_row_and_column_zero_points():
    r = rng(8)
    a, b = int8_arr(r, (4, 6), np.uint8), int8_arr(r, (6, 5), np.uint8)
    azp, bzp = int8_arr(r, (4,), np.uint8), int8_arr(r, (5,), np.uint8)
    check("MatMulInteger", {"a": a, "b": b}, {}, [TensorProto.INT32], 10, inits={"azp": np.array(2, np.uint8),
                                                                                "bzp": bzp})
    check("MatMulInteger", {"a": a, "b": b}, {}, [TensorProto.INT32], 10)
    m = build("MatMulInteger", {"a": a, "b": b}, {}, [TensorProto.INT32], 10, inits={"azp": azp, "bzp": bzp})
    want = (a.astype(np.int32) - azp[:, None].astype(np.int32)) @ (b.astype(np.int32) - bzp.astype(np.int32))
    np.testing.assert_array_equal(run_fastinfer(m, {"a": a, "b": b})[0], want)  # ORT lacks per-row zero points
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):  # contradiction: at load
        run_fastinfer(build("MatMulInteger", {"a": a, "b": a}, {}, [TensorProto.INT32], 10), {"a": a})


@pytest.mark.parametrize("dt", [np.uint8, np.int8])
@pytest.mark.parametrize("per_column", [False, True])
def test_qlinear_matmul(dt, per_column):
    r = rng(9)
    a, b = int8_arr(r, (2, 5, 17), dt), int8_arr(r, (17, 6), dt)
    bs = (r.random(6 if per_column else ()) * 0.05 + 0.01).astype(np.float32)
    bzp = np.array(0 if dt == np.int8 else 128, dt)
    inits = {"as": np.array(0.02, np.float32), "azp": np.array(3, dt), "bs": bs, "bzp": bzp,
             "ys": np.array(0.3, np.float32), "yzp": np.array(10, dt)}
    check("QLinearMatMul", {"a": a, "b": b}, {}, [onnx_type(a)], 10, inits=inits,
          names=["a", "as", "azp", "b", "bs", "bzp", "ys", "yzp"])


CONV_CASES = [
    ((1, 3, 7, 7), (4, 3, 3, 3), {}),
    ((2, 4, 9, 8), (6, 2, 3, 2), {"group": 2, "strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2]}),
    ((1, 2, 17), (3, 2, 4), {"auto_pad": "SAME_UPPER", "strides": [2]}),
    ((1, 2, 5, 6), (2, 2, 2, 3), {"auto_pad": "SAME_LOWER"}),
    ((1, 1, 4, 5, 3), (2, 1, 2, 3, 1), {"pads": [1, 0, 0, 0, 1, 0]}),
    ((1, 3, 5, 5), (3, 1, 3, 3), {"group": 3, "auto_pad": "VALID"}),
]


@pytest.mark.parametrize("xshape,wshape,attrs", CONV_CASES)
def test_conv_integer(xshape, wshape, attrs):
    r = rng(10)
    x, w = int8_arr(r, xshape, np.uint8), int8_arr(r, wshape, np.uint8)
    zps = {"xzp": np.array(7, np.uint8), "wzp": np.array(120, np.uint8)}
    check("ConvInteger", {"x": x}, attrs, [TensorProto.INT32], 10, inits=dict(w=w, **zps))
    check("ConvInteger", {"x": x, "w": w}, attrs, [TensorProto.INT32], 10, inits=zps)  # weight fed at run time


@pytest.mark.parametrize("xshape,wshape,attrs", CONV_CASES[:4])
@pytest.mark.parametrize("dt,per_channel", [(np.uint8, False), (np.int8, True), (np.uint8, True)])
def test_qlinear_conv(xshape, wshape, attrs, dt, per_channel):
    r = rng(11)
    m = wshape[0]
    x = int8_arr(r, xshape, dt)
    w = int8_arr(r, wshape, np.int8 if per_channel else dt)
    ws = (r.random(m if per_channel else ()) * 0.02 + 0.005).astype(np.float32)
    wzp = np.zeros(m if per_channel else (), w.dtype) if per_channel else np.array(9, w.dtype)
    inits = {"xs": np.array(0.05, np.float32), "xzp": np.array(4, dt), "w": w, "ws": ws, "wzp": wzp,
             "ys": np.array(0.2, np.float32), "yzp": np.array(20, dt), "b": r.integers(-500, 500, m).astype(np.int32)}
    check("QLinearConv", {"x": x}, attrs, [onnx_type(x)], 10, inits=inits,
          names=["x", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp", "b"])


def test_conv_integer_bad_channels():
    x = np.zeros((1, 3, 4, 4), np.uint8)
    m = build("ConvInteger", {"x": x}, {}, [TensorProto.INT32], 10, inits={"w": np.zeros((2, 2, 3, 3), np.uint8)})
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):  # contradiction: at load
        run_fastinfer(m, {"x": x})
