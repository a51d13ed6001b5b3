"""Expand, Tile, Pad, CenterCropPad, Constant*, Range, EyeLike, DepthToSpace, SpaceToDepth, TensorScatter."""

import fastinfer
import numpy as np
import pytest
from onnx import helper, numpy_helper
from shape_util import check, i64, rand, run


@pytest.mark.parametrize("xs,target", [((3, 1), (2, 3, 4)), ((1,), (7,)), ((2, 3), (1, 1)), ((4, 1, 5), (4, 33, 1)),
                                       ((3,), (0, 3)), ((), (2, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, object, np.bool_])
def test_expand(xs, target, dtype):
    check("Expand", {"x": rand(xs, dtype)}, initializers={"s": i64(*target)}, threads=2)


def test_expand_errors():
    for target in ((2, 4), (-1, 3), (2**31, 2**31)):
        with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):  # contradiction: at load
            run("Expand", {"x": rand((2, 3))}, initializers={"s": i64(*target)})


@pytest.mark.parametrize("xs,reps", [((2, 3), (1, 1)), ((2, 3), (3, 2)), ((1, 5, 1), (4, 1, 3)), ((3,), (0,)),
                                     ((2, 1, 3), (2, 7, 1))])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, object])
def test_tile(xs, reps, dtype):
    check("Tile", {"x": rand(xs, dtype)}, initializers={"r": i64(*reps)})


def test_tile_errors():
    for reps in ((1,), (-1, 2), (2**40, 2**40)):
        with pytest.raises(fastinfer.InvalidArgument):
            run("Tile", {"x": rand((2, 3))}, initializers={"r": i64(*reps)})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [(1, 2, 2, 1), (0, 0, 0, 0), (-1, 1, 2, -2), (3, 0, 0, 3), (2, -1, -1, 3), (1, -2, -1, 2)])
def test_pad(mode, pads):
    x = rand((4, 5))
    if mode == "reflect" and max(pads) >= 4:
        pytest.skip("reflect pads must be smaller than the dim")
    opset = 19 if mode == "wrap" else 13
    inits = {"p": i64(*pads)}
    names = ["x", "p"]
    if mode == "constant":
        inits["v"] = np.array(2.5, np.float32)
        names.append("v")
    check("Pad", {"x": x}, {"mode": mode}, opset=opset, initializers=inits, input_names=names)


def test_pad_opset2_axes_types_errors():
    x = rand((3, 4, 5), np.int32)
    check("Pad", {"x": x.astype(np.float32)}, {"pads": [0, 1, 2, 1, 0, 0], "value": 7.0}, opset=10)
    check("Pad", {"x": x}, {"mode": "edge"}, opset=18, initializers={"p": i64(1, 2, 0, 3), "a": i64(0, -1)},
          input_names=["x", "p", "", "a"])
    for xs, fill in ((rand((2, 3), object), ""), (rand((2, 3), np.bool_), False)):
        got = run("Pad", {"x": xs}, opset=13, initializers={"p": i64(1, 0, 0, 1)})[0]
        np.testing.assert_array_equal(got, np.pad(xs, ((1, 0), (0, 1)), constant_values=fill))
    with pytest.raises(fastinfer.InvalidArgument):
        run("Pad", {"x": x}, opset=13, initializers={"p": i64(1, 2)})
    with pytest.raises(fastinfer.InvalidArgument):
        run("Pad", {"x": x}, opset=13, initializers={"p": i64(0, 0, -9, 0, 0, 0)})
    with pytest.raises(fastinfer.InvalidArgument):
        run("Pad", {"x": x}, {"mode": "reflect"}, opset=13, initializers={"p": i64(0, 0, 9, 0, 0, 0)})


def center_crop_pad_ref(x, shape, axes):
    """numpy CenterCropPad reference (as in the ONNX reference implementation)."""
    y = x
    for a, t in zip(axes, shape):
        d = y.shape[a]
        if t < d:
            off = (d - t) // 2
            y = np.take(y, np.arange(off, off + t), axis=a)
        elif t > d:
            b = (t - d) // 2
            pw = [(0, 0)] * y.ndim
            pw[a] = (b, t - d - b)
            y = np.pad(y, pw)
    return y


@pytest.mark.parametrize("shape,axes", [((3, 8), None), ((7, 2), [0, 1]), ((5,), [-1]), ((2, 9), [1, 0])])
def test_center_crop_pad(shape, axes):
    x = rand((4, 5))
    attrs = {} if axes is None else {"axes": axes}
    got = run("CenterCropPad", {"x": x}, attrs, opset=18, initializers={"s": i64(*shape)})[0]
    ax = [a % 2 for a in axes] if axes else list(range(len(shape)))
    np.testing.assert_array_equal(got, center_crop_pad_ref(x, shape, ax))


@pytest.mark.parametrize("attr,value", [
    ("value", numpy_helper.from_array(np.arange(6, dtype=np.float16).reshape(2, 3))),
    ("value", numpy_helper.from_array(np.array(["a", "bc"], dtype=object))),
    ("value_float", 1.5), ("value_floats", [1.0, 2.0]), ("value_int", 7), ("value_ints", [1, 2, 3]),
    ("value_string", "hi"), ("value_strings", ["x", "yz"]),
])
def test_constant(attr, value):
    check("Constant", {}, {attr: value}, opset=13)


@pytest.mark.parametrize("value", [None, np.array([3], np.int32), np.array([1.5], np.float64),
                                   np.array([True]), np.array([7], np.int8)])
@pytest.mark.parametrize("shape", [(2, 3), (0,), (), (1, 17, 1)])
def test_constant_of_shape(value, shape):
    attrs = {} if value is None else {"value": numpy_helper.from_array(value)}
    check("ConstantOfShape", {}, attrs, initializers={"s": np.array(shape, np.int64)})


def test_constant_of_shape_too_large():
    with pytest.raises(fastinfer.InvalidArgument):
        run("ConstantOfShape", {}, initializers={"s": i64(2**21, 2**21)})
    with pytest.raises(fastinfer.InvalidArgument):
        run("ConstantOfShape", {}, initializers={"s": i64(3, -1)})


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.int32, np.int64])
@pytest.mark.parametrize("start,limit,delta", [(0, 10, 3), (10, 0, -3), (5, 5, 1), (1, 0, 1), (-7, 17, 4)])
def test_range(dtype, start, limit, delta):
    feeds = {"s": np.array(start, dtype), "l": np.array(limit, dtype), "d": np.array(delta, dtype)}
    check("Range", feeds)


def test_range_errors():
    for s, lim, d in ((0, 10, 0), (0, 2**50, 1)):
        with pytest.raises(fastinfer.InvalidArgument):
            run("Range", {"s": np.array(s, np.int64), "l": np.array(lim, np.int64), "d": np.array(d, np.int64)})
    with pytest.raises(fastinfer.InvalidArgument):
        run("Range", {"s": np.array(0, np.float32), "l": np.array(np.inf, np.float32), "d": np.array(1, np.float32)})


@pytest.mark.parametrize("k", [0, 1, -2, 9])
@pytest.mark.parametrize("dtype", [None, 1, 7, 9])
def test_eye_like(k, dtype):
    attrs = {"k": k}
    if dtype is not None:
        attrs["dtype"] = dtype
    if dtype == 9:  # onnxruntime has no bool EyeLike
        got = run("EyeLike", {"x": rand((4, 6), np.int32)}, attrs)[0]
        np.testing.assert_array_equal(got, np.eye(4, 6, k, dtype=bool))
        return
    check("EyeLike", {"x": rand((4, 6), np.int32)}, attrs)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_depth_space(mode, dtype):
    x = rand((2, 8, 3, 5), dtype)
    check("DepthToSpace", {"x": x}, {"blocksize": 2, "mode": mode}, opset=13)
    check("SpaceToDepth", {"x": rand((2, 3, 6, 4), dtype)}, {"blocksize": 2}, opset=13)
    with pytest.raises(fastinfer.InvalidArgument):
        run("DepthToSpace", {"x": rand((2, 6, 3, 5), dtype)}, {"blocksize": 2, "mode": mode}, opset=13)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_space_strings(mode):
    x = rand((2, 8, 3, 5), np.int64)
    xs = x.astype(str).astype(object)
    for op, a, sx in (("DepthToSpace", {"blocksize": 2, "mode": mode}, xs),
                      ("SpaceToDepth", {"blocksize": 2}, rand((2, 3, 6, 4), np.int64).astype(str).astype(object))):
        ours = run(op, {"x": sx}, a, opset=13)[0]
        ref = run(op, {"x": sx.astype(np.int64)}, a, opset=13)[0]
        np.testing.assert_array_equal(ours, ref.astype(str).astype(object))


def test_space_to_depth_crd():
    x = rand((1, 2, 4, 6))
    got = run("SpaceToDepth", {"x": x}, {"blocksize": 2, "mode": "CRD"}, opset=28)[0]
    ref = x.reshape(1, 2, 2, 2, 3, 2).transpose(0, 1, 3, 5, 2, 4).reshape(1, 8, 2, 3)
    np.testing.assert_array_equal(got, ref)


def test_tensor_scatter():
    past = rand((2, 3, 6, 4))
    up = rand((2, 3, 2, 4), seed=1)
    w = i64(1, 4)
    got = run("TensorScatter", {"p": past, "u": up, "w": w}, opset=24)[0]
    ref = past.copy()
    for b in range(2):
        ref[b, :, w[b]:w[b] + 2] = up[b]
    np.testing.assert_array_equal(got, ref)
    got = run("TensorScatter", {"p": past, "u": up, "w": i64(5, 0)}, {"mode": "circular"}, opset=24)[0]
    ref = past.copy()
    ref[0, :, 5], ref[0, :, 0], ref[1, :, 0:2] = up[0, :, 0], up[0, :, 1], up[1]
    np.testing.assert_array_equal(got, ref)
    with pytest.raises(fastinfer.InvalidArgument):
        run("TensorScatter", {"p": past, "u": up, "w": i64(5, 0)}, opset=24)


def test_constant_sparse_not_implemented():
    sp = helper.make_sparse_tensor(numpy_helper.from_array(np.array([1.0], np.float32)),
                                   numpy_helper.from_array(np.array([0], np.int64)), [3])
    with pytest.raises((fastinfer.NotImplemented, fastinfer.InvalidModel)):
        run("Constant", {}, {"sparse_value": sp}, opset=13)
