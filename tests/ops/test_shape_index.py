"""Index-driven ops (Gather*, Scatter*, OneHot, NonZero, Unique, Compress, Trilu, ReverseSequence)."""

import fastinfer
import numpy as np
import pytest
from shape_util import check, i64, rand, run


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, object, np.float16])
def test_gather(axis, dtype):
    x = rand((5, 7, 3), dtype)
    dim = x.shape[axis]
    idx = np.array([[0, dim - 1], [-1, -dim], [1, 1]], np.int64)
    if dtype == object:  # onnxruntime 1.32 returns empty strings for string Gather
        np.testing.assert_array_equal(run("Gather", {"x": x, "i": idx}, {"axis": axis})[0], np.take(x, idx, axis))
        return
    check("Gather", {"x": x, "i": idx}, {"axis": axis})
    check("Gather", {"x": x, "i": idx.astype(np.int32)[0]}, {"axis": axis})
    check("Gather", {"x": x, "i": np.array(2, np.int64)}, {"axis": axis})


@pytest.mark.parametrize("bad", [5, -6, 100])
def test_gather_out_of_range(bad):
    with pytest.raises(fastinfer.InvalidArgument):
        run("Gather", {"x": rand((5, 3)), "i": i64(0, bad)})


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(axis):
    x = rand((4, 5, 3), np.float32)
    g = np.random.default_rng(1)
    shape = (3, 4, 2)
    idx = g.integers(-x.shape[axis], x.shape[axis], size=shape).astype(np.int64)
    check("GatherElements", {"x": x, "i": idx}, {"axis": axis})
    check("GatherElements", {"x": rand((4, 5, 3), object), "i": idx}, {"axis": axis})
    with pytest.raises(fastinfer.InvalidArgument):
        run("GatherElements", {"x": x, "i": np.full(shape, 9, np.int64)}, {"axis": axis})


@pytest.mark.parametrize("xs,ishape,b", [((4, 5, 3), (2, 1), 0), ((4, 5, 3), (2, 3, 2), 0), ((4, 5, 3), (3,), 0),
                                         ((2, 5, 3), (2, 4, 1), 1), ((2, 3, 4, 5), (2, 3, 2), 2)])
def test_gather_nd(xs, ishape, b):
    x = rand(xs)
    k = ishape[-1]
    g = np.random.default_rng(2)
    idx = np.stack([g.integers(0, xs[b + j], size=ishape[:-1]) for j in range(k)], -1).astype(np.int64)
    check("GatherND", {"x": x, "i": idx}, {"batch_dims": b})
    bad = idx.copy()
    bad.reshape(-1)[0] = 99
    with pytest.raises(fastinfer.InvalidArgument):
        run("GatherND", {"x": x, "i": bad}, {"batch_dims": b})


@pytest.mark.parametrize("reduction,opset", [("none", 11), ("add", 16), ("mul", 16), ("max", 18), ("min", 18)])
@pytest.mark.parametrize("axis", [0, -1])
def test_scatter_elements(reduction, opset, axis):
    x = rand((4, 5), np.float32)
    idx = np.array([[1, 0, 3], [2, 2, 0]], np.int64) if axis == -1 else np.array([[1, 0, 3], [3, 2, 0]], np.int64)
    up = rand(idx.shape, np.float32, seed=3)
    attrs = {"axis": axis} if reduction == "none" else {"axis": axis, "reduction": reduction}
    check("ScatterElements", {"x": x, "i": idx, "u": up}, attrs, opset=opset)
    check("ScatterElements", {"x": x.astype(np.int32), "i": -idx - 1, "u": (up * 10).astype(np.int32)}, attrs,
          opset=opset)
    with pytest.raises(fastinfer.InvalidArgument):
        run("ScatterElements", {"x": x, "i": idx + 5, "u": up}, attrs, opset=opset)


def test_scatter_legacy_and_strings():
    x = rand((3, 3), object)
    idx = np.array([[1, 0, 2]], np.int64)
    check("ScatterElements", {"x": x, "i": idx, "u": rand((1, 3), object, 4)}, {"axis": 0})
    check("Scatter", {"x": rand((3, 3)), "i": idx, "u": rand((1, 3), seed=5)}, {"axis": 1}, opset=10)


@pytest.mark.parametrize("reduction,opset", [("none", 11), ("add", 16), ("mul", 16), ("max", 18), ("min", 18)])
def test_scatter_nd(reduction, opset):
    x = rand((4, 5, 3))
    idx = np.array([[0, 1], [3, 4], [-1, 0]], np.int64)
    up = rand((3, 3), seed=6)
    attrs = {} if reduction == "none" else {"reduction": reduction}
    check("ScatterND", {"x": x, "i": idx, "u": up}, attrs, opset=opset)
    check("ScatterND", {"x": x, "i": np.array([[1], [2]], np.int64), "u": rand((2, 5, 3), seed=7)}, attrs, opset=opset)
    with pytest.raises(fastinfer.InvalidArgument):
        run("ScatterND", {"x": x, "i": idx * 9, "u": up}, attrs, opset=opset)
    with pytest.raises(fastinfer.InvalidArgument):
        run("ScatterND", {"x": x, "i": idx, "u": rand((3, 4))}, attrs, opset=opset)


def onehot_ref(idx, depth, values, axis):
    """numpy OneHot: out-of-range indices give all-off rows."""
    idx = np.asarray(idx).astype(np.int64)
    idx = np.where(idx < 0, idx + depth, idx)
    eye = np.arange(depth) == idx[..., None]
    out = np.where(eye, values[1], values[0]).astype(values.dtype)
    return np.moveaxis(out, -1, axis if axis >= 0 else idx.ndim + 1 + axis)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("vdtype", [np.float32, np.int64, object])
def test_onehot(axis, vdtype):
    idx = np.array([[0, 3, -1], [9, -5, 2]], np.int64)
    values = np.array([2, 7], vdtype) if vdtype != object else np.array(["off", "on"], dtype=object)
    for ind, depth in ((idx, np.array(5, np.int64)), (idx.astype(np.float32), np.array(4.0, np.float32)),
                       (idx.astype(np.int32), np.array(3, np.int32))):
        got = run("OneHot", {"i": ind}, {"axis": axis}, initializers={"d": depth, "v": values})[0]
        ref = onehot_ref(ind, int(depth), values, axis)
        assert got.shape == ref.shape and got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)
    if vdtype == np.float32:
        check("OneHot", {"i": idx}, {"axis": axis}, initializers={"d": np.array(5.0, np.float32), "v": values})
    with pytest.raises(fastinfer.InvalidArgument):
        run("OneHot", {"i": idx}, initializers={"d": np.array(0, np.int64), "v": values})
    with pytest.raises(fastinfer.InvalidArgument):
        run("OneHot", {"i": idx}, initializers={"d": np.array(2**50, np.int64), "v": values})


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (0, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_, np.uint8])
def test_nonzero(shape, dtype):
    x = rand(shape, dtype)
    if dtype != np.bool_:
        x = (x * (rand(shape, np.float32, 9) > 0)).astype(dtype)
    check("NonZero", {"x": x})


@pytest.mark.parametrize("sorted_", [0, 1])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_unique(sorted_, axis):
    x = np.array([[1, 3, 1, 3], [2, 2, 2, 2], [1, 3, 1, 3], [0, 5, 0, 5]], np.float32)
    attrs = {"sorted": sorted_}
    if axis is not None:
        attrs["axis"] = axis
    check("Unique", {"x": x}, attrs, n_outputs=4, opset=11)
    check("Unique", {"x": x.astype(np.int64)}, attrs, n_outputs=4, opset=11)


def test_unique_strings_and_empty():
    check("Unique", {"x": np.array(["b", "a", "b", "c", "a"], dtype=object)}, {"sorted": 0}, n_outputs=4)
    check("Unique", {"x": np.array(["b", "a", "b", "c", "a"], dtype=object)}, n_outputs=4)
    check("Unique", {"x": np.zeros((0,), np.float32)}, n_outputs=4)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_compress(axis):
    x = rand((4, 3))
    cond = np.array([True, False, True], bool)
    attrs = {} if axis is None else {"axis": axis}
    check("Compress", {"x": x, "c": cond}, attrs)
    check("Compress", {"x": rand((4, 3), object), "c": cond[:2]}, attrs)
    with pytest.raises(fastinfer.InvalidArgument):
        run("Compress", {"x": x, "c": np.ones(13, bool)}, attrs)


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, 0, 2, -1, -9, 9])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 7, 3), (0, 3)])
def test_trilu(upper, k, shape):
    inits = {} if k is None else {"k": np.array(k, np.int64)}
    check("Trilu", {"x": rand(shape)}, {"upper": upper}, opset=14, initializers=inits)
    check("Trilu", {"x": rand(shape, np.int64)}, {"upper": upper}, opset=14, initializers=inits)


@pytest.mark.parametrize("batch_axis,time_axis", [(1, 0), (0, 1)])
def test_reverse_sequence(batch_axis, time_axis):
    shape = (4, 3, 2) if batch_axis == 1 else (3, 4, 2)
    lens = np.array([4, 1, 0], np.int64)
    attrs = {"batch_axis": batch_axis, "time_axis": time_axis}
    check("ReverseSequence", {"x": rand(shape), "l": lens}, attrs)
    check("ReverseSequence", {"x": rand(shape, object), "l": lens}, attrs)
    with pytest.raises(fastinfer.InvalidArgument):
        run("ReverseSequence", {"x": rand(shape), "l": np.array([5, 1, 0], np.int64)}, attrs)
