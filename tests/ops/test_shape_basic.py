"""Reshape-like, transpose, concat, split and slice ops against onnxruntime."""

import fastinfer
import numpy as np
import pytest
from op_helpers import run_fastinfer
from shape_util import check, i64, model, rand, run

DTYPES = [np.float32, np.float16, np.int8, np.int64, np.bool_, np.float64, np.uint16]


@pytest.mark.parametrize("dtype", DTYPES + [object])
def test_identity_reshape_types(dtype):
    x = rand((3, 4, 5), dtype)
    check("Identity", {"x": x})
    check("Reshape", {"x": x}, initializers={"s": i64(5, -1, 2)})


@pytest.mark.parametrize("shape,target,allowzero", [
    ((2, 3, 4), (0, -1), 0), ((2, 3, 4), (4, 0, 2), 0), ((0, 3), (3, 0), 1), ((7,), (-1,), 0),
    ((1, 17), (17,), 0), ((2, 3, 4), (2, 0, -1), 0), ((0, 4), (0, 2, 2), 1),
])
def test_reshape_shapes(shape, target, allowzero):
    check("Reshape", {"x": rand(shape)}, {"allowzero": allowzero}, opset=14,
                      initializers={"s": i64(*target)})


@pytest.mark.parametrize("target", [(5,), (-1, -1), (7, -2), (0, 0, 0, 0, 5), (4, -1)])
def test_reshape_errors(target):
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):  # contradiction: at load
        run("Reshape", {"x": rand((2, 3))}, initializers={"s": i64(*target)})


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1, -3])
def test_flatten(axis):
    check("Flatten", {"x": rand((2, 3, 1, 5))}, {"axis": axis})


def test_squeeze_unsqueeze_opsets():
    x = rand((1, 3, 1, 5))
    check("Squeeze", {"x": x}, opset=11)
    check("Squeeze", {"x": x}, {"axes": [0, -2]}, opset=11)
    check("Squeeze", {"x": x}, opset=13, initializers={"a": i64(2)})
    check("Squeeze", {"x": x}, opset=13, initializers={"a": np.zeros(0, np.int64)})
    check("Unsqueeze", {"x": x}, {"axes": [0, 5]}, opset=11)
    check("Unsqueeze", {"x": x}, opset=13, initializers={"a": i64(-1, 1)})
    check("Unsqueeze", {"x": np.array(3.0, dtype=np.float32)}, opset=13, initializers={"a": i64(0)})
    with pytest.raises(fastinfer.InvalidArgument):
        run("Squeeze", {"x": x}, opset=13, initializers={"a": i64(1)})
    with pytest.raises(fastinfer.InvalidArgument):
        run("Unsqueeze", {"x": x}, opset=13, initializers={"a": i64(0, 0)})


@pytest.mark.parametrize("start,end", [(None, None), (1, None), (-2, None), (0, -1), (5, 9), (-9, 2), (3, 1)])
def test_shape_size(start, end):
    attrs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    check("Shape", {"x": rand((2, 3, 4, 5))}, attrs, opset=15)
    check("Size", {"x": rand((2, 0, 4))})


@pytest.mark.parametrize("shape,perm", [
    ((33, 17), None), ((65, 127), (1, 0)), ((2, 3, 4), (0, 2, 1)), ((2, 7, 33, 5), (0, 2, 3, 1)),
    ((3, 4, 5, 6), (3, 0, 1, 2)), ((1, 5, 1, 7), (2, 3, 0, 1)), ((4, 0, 3), (2, 1, 0)), ((), None),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.float16, np.int64])
def test_transpose(shape, perm, dtype):
    attrs = {"perm": list(perm)} if perm is not None else {}
    check("Transpose", {"x": rand(shape, dtype)}, attrs, threads=2)


def test_transpose_strings_and_bad_perm():
    check("Transpose", {"x": rand((3, 5), object)})
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):
        run("Transpose", {"x": rand((2, 3))}, {"perm": [0, 0]})


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.bool_, object, np.complex64])
def test_concat(axis, dtype):
    shapes = [(3, 4, 5), (3, 4, 5)]
    inputs = {}
    for i, s in enumerate(shapes):
        s = list(s)
        s[axis] = [1, 7][i]
        inputs[f"x{i}"] = rand(tuple(s), dtype, seed=i)
    if dtype == np.complex64:
        out = run("Concat", inputs, {"axis": axis})[0]
        np.testing.assert_array_equal(out, np.concatenate(list(inputs.values()), axis=axis))
        return
    check("Concat", inputs, {"axis": axis})


def test_concat_empty_and_errors():
    a, b = rand((2, 0)), rand((2, 3))
    check("Concat", {"a": a, "b": b}, {"axis": 1})
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):  # contradiction: at load
        run("Concat", {"a": rand((2, 3)), "b": rand((3, 3))}, {"axis": 1})


def test_split_variants():
    x = rand((6, 7), np.float32)
    check("Split", {"x": x}, {"axis": 0}, n_outputs=3, opset=11)
    check("Split", {"x": x}, {"axis": 1, "split": [2, 5]}, n_outputs=2, opset=11)
    check("Split", {"x": x}, {"axis": -1}, n_outputs=2, opset=13, initializers={"s": i64(3, 4)})
    check("Split", {"x": x}, {"axis": 1, "num_outputs": 3}, n_outputs=3, opset=18)
    check("Split", {"x": rand((5, 2), object)}, {"axis": 0, "num_outputs": 2}, n_outputs=2, opset=18)
    check("Split", {"x": x}, {"axis": 0}, n_outputs=2, opset=13, initializers={"s": i64(0, 6)})
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):  # contradiction: at load
        run("Split", {"x": x}, {"axis": 1}, n_outputs=2, opset=13, initializers={"s": i64(3, 3)})


BIG = np.iinfo(np.int64).max
SMALL = np.iinfo(np.int64).min


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ((1, 0), (3, 10), (0, 1), (1, 1)), ((-1,), (SMALL,), (1,), (-1,)), ((0,), (BIG,), (-1,), (3,)),
    ((10, -100), (-10, 100), (0, 1), (-2, 7)), ((2,), (2,), (0,), (1,)), ((5,), (1,), (1,), (-2,)),
    ((0, 0, 0), (1, 1, 1), None, None), ((BIG,), (SMALL,), (0,), (SMALL,)), ((-3,), (BIG,), (2,), (1,)),
])
@pytest.mark.parametrize("idx_type", [np.int64, np.int32])
def test_slice(starts, ends, axes, steps, idx_type):
    if idx_type == np.int32 and any(abs(v) > 2**31 - 1 for v in starts + ends + (steps or ())):
        pytest.skip("int64 limits do not fit int32")
    x = rand((5, 17, 3))
    inits = {"s": np.array(starts, idx_type), "e": np.array(ends, idx_type)}
    names = ["x", "s", "e"]
    if axes is not None:
        inits["a"] = np.array(axes, idx_type)
        names.append("a")
    if steps is not None:
        inits["t"] = np.array(steps, idx_type)
        names.append("t")
    check("Slice", {"x": x}, initializers=inits, input_names=names)


def test_slice_opset1_strings_and_errors():
    x = rand((4, 6), object)
    check("Slice", {"x": x}, {"starts": [1, -3], "ends": [3, 100], "axes": [0, 1]}, opset=9)
    with pytest.raises(fastinfer.InvalidArgument):
        run("Slice", {"x": rand((4, 6))}, initializers={"s": i64(0), "e": i64(2), "a": i64(0), "t": i64(0)})
    with pytest.raises(fastinfer.InvalidArgument):
        run("Slice", {"x": rand((4, 6))}, initializers={"s": i64(0), "e": i64(2), "a": i64(2)})


def test_parallel_paths_match_numpy():
    # Every output past 512 KiB (two of kParallelCopyChunkBytes), so the copies split over the threads.
    x = rand((64, 65, 127))
    idx = np.array([5, -1, 0, 17, 64] * 8, np.int64)
    cases = [
        ("Transpose", {"x": x}, {"perm": [2, 0, 1]}, {}, np.transpose(x, (2, 0, 1))),
        ("Gather", {"x": x, "i": idx}, {"axis": 1}, {}, np.take(x, idx, axis=1)),
        ("Concat", {"a": x, "b": x[:, :3]}, {"axis": 1}, {}, np.concatenate([x, x[:, :3]], 1)),
        ("Slice", {"x": x}, {}, {"s": i64(-1, 2), "e": i64(0, 120), "a": i64(1, 2), "t": i64(-2, 1)},
         x[:, -1:0:-2, 2:120]),
        ("Slice", {"x": x}, {}, {"s": i64(0), "e": i64(127), "a": i64(2), "t": i64(2)}, x[:, :, 0:127:2]),
        ("Expand", {"x": x[:, :1]}, {}, {"s": i64(4, 1, 1, 1)}, np.broadcast_to(x[:, :1], (4,) + x[:, :1].shape)),
    ]
    for op, feeds, attrs, inits, ref in cases:
        got = run_fastinfer(model(op, feeds, attrs, initializers=inits), feeds, threads=4)[0]
        np.testing.assert_array_equal(got, ref, err_msg=op)
