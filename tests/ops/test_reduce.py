"""Reduce*, ArgMax/ArgMin, CumSum/CumProd, TopK and Det against ONNX Runtime (or numpy)."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from op_helpers import assert_close, check_against_ort, make_model, rng, run_fastinfer, run_ort

REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


def axes_from_input(op: str, opset: int) -> bool:
    """Whether `axes` is an input (not an attribute) of `op` at `opset`."""
    return opset >= (13 if op == "ReduceSum" else 18)


def data_for(op: str, shape, dtype, seed=0):
    """Random input suited to op (positive where a log or product needs it)."""
    g = rng(seed)
    if np.dtype(dtype).kind in "iu":
        lo = 0 if np.dtype(dtype).kind == "u" or op in ("ReduceLogSum",) else -4
        return g.integers(lo, 5, size=shape).astype(dtype)
    if op in ("ReduceLogSum", "ReduceProd"):
        return g.uniform(0.5, 1.5, size=shape).astype(dtype)
    return g.standard_normal(shape).astype(dtype)


def check_reduce(op, x, axes, keepdims=1, opset=18, noop=None, rtol=1e-5, atol=1e-6):
    attrs = {"keepdims": keepdims}
    inits = {}
    names = ["x"]
    if noop is not None:
        attrs["noop_with_empty_axes"] = noop
    if axes is not None:
        if axes_from_input(op, opset):
            inits["axes"] = np.array(axes, dtype=np.int64)
            names.append("axes")
        else:
            attrs["axes"] = list(axes)
    return check_against_ort(op, {"x": x}, attrs, opset=opset, initializers=inits, input_names=names,
                             rtol=rtol, atol=atol)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("shape,axes", [
    ((3, 7, 5), [1]), ((3, 7, 5), [0]), ((3, 7, 5), [-1]), ((3, 7, 5), [0, 2]), ((3, 7, 5), None),
    ((2, 3, 4, 5), [1, 3]), ((17,), [0]), ((33, 65), [1]), ((1, 5, 1), [0, 2]), ((4, 1, 3), [1]),
])
def test_reduce_float(op, opset, shape, axes):
    x = data_for(op, shape, np.float32)
    for keepdims in (0, 1):
        check_reduce(op, x, axes, keepdims, opset, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64])
def test_reduce_dtypes(op, dtype):
    if op == "ReduceLogSumExp" and np.dtype(dtype).kind in "iu":
        pytest.skip("ReduceLogSumExp on integers is not meaningful")
    x = data_for(op, (5, 6, 7), dtype, seed=1)
    tol = 1e-2 if dtype == np.float16 else 1e-6
    check_reduce(op, x, [1], 1, 18, rtol=tol, atol=tol)
    check_reduce(op, x, [0, 2], 0, 18, rtol=tol, atol=tol)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.uint32, np.uint64])
def test_reduce_minmax_small_ints(op, dtype):
    x = data_for(op, (4, 9), dtype, seed=2)
    fn = np.max if op == "ReduceMax" else np.min
    for axis, keepdims in ((1, 0), (0, 1)):
        model = make_model(op, {"x": x}, {"keepdims": keepdims}, opset=18,
                           initializers={"axes": np.array([axis], np.int64)})
        assert_close(run_fastinfer(model, {"x": x})[0], fn(x, axis=axis, keepdims=bool(keepdims)))


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_reduce_minmax_bool(op):
    x = rng(3).integers(0, 2, size=(3, 5)).astype(bool)
    model = make_model(op, {"x": x}, {"keepdims": 0}, opset=20, initializers={"axes": np.array([1], np.int64)})
    got = run_fastinfer(model, {"x": x})[0]
    ref = x.max(axis=1) if op == "ReduceMax" else x.min(axis=1)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("op", REDUCE_OPS)
def test_reduce_noop_and_empty_axes(op):
    x = data_for(op, (3, 4), np.float32, seed=4)
    check_reduce(op, x, [], 1, 18, noop=1, rtol=1e-5)
    check_reduce(op, x, [], 0, 18, noop=0, rtol=1e-5)
    check_against_ort(op, {"x": x}, {"keepdims": 0, "noop_with_empty_axes": 1}, opset=18, rtol=1e-5)


def test_reduce_sum_runtime_axes():
    x = data_for("ReduceSum", (4, 5, 6), np.float32)
    model = make_model("ReduceSum", {"x": x, "axes": np.array([0, -1], np.int64)}, {"keepdims": 0},
                             opset=13)
    model.graph.input[1].type.tensor_type.shape.dim[0].dim_param = "n"
    sess = fastinfer.Session(model.SerializeToString())
    for axes in ([0, -1], [1], []):
        a = np.array(axes, np.int64)
        got = sess.run(None, {"x": x, "axes": a})[0]
        assert_close(got, run_ort(model, {"x": x, "axes": a})[0], rtol=1e-5, atol=1e-5)


EMPTY_VALUES = {"ReduceSum": 0.0, "ReduceProd": 1.0, "ReduceMax": -np.inf, "ReduceMin": np.inf, "ReduceL1": 0.0,
                "ReduceL2": 0.0, "ReduceLogSum": -np.inf, "ReduceLogSumExp": -np.inf, "ReduceSumSquare": 0.0}


@pytest.mark.parametrize("op", sorted(EMPTY_VALUES))
def test_reduce_empty_set(op):
    x = np.zeros((2, 0, 4), np.float32)
    model = make_model(op, {"x": x}, {"keepdims": 1}, opset=18, initializers={"axes": np.array([1], np.int64)})
    got = run_fastinfer(model, {"x": x})[0]
    np.testing.assert_array_equal(got, np.full((2, 1, 4), EMPTY_VALUES[op], np.float32))
    # Reducing a kept empty axis gives an empty output.
    model = make_model(op, {"x": x}, {"keepdims": 0}, opset=18, initializers={"axes": np.array([2], np.int64)})
    assert run_fastinfer(model, {"x": x})[0].shape == (2, 0)


def test_reduce_threads_large():
    x = rng(5).standard_normal((64, 33, 17)).astype(np.float32)
    for axes in ([0], [1], [2], [0, 2]):
        model = make_model("ReduceSum", {"x": x}, {"keepdims": 0}, opset=13,
                           initializers={"axes": np.array(axes, np.int64)})
        got = run_fastinfer(model, {"x": x}, threads=4)[0]
        np.testing.assert_allclose(got, x.sum(axis=tuple(axes)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceL2", "ReduceMean"])
def test_reduce_long_rows_chunked(op):
    # Long contiguous reductions (split into fixed chunks) and wide kept rows (split into blocks):
    # same numbers for 1 and 4 threads, close to a float64 reference.
    x = rng(6).standard_normal((2, 70001)).astype(np.float32)
    ref = {"ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMean": np.mean,
           "ReduceL2": lambda a, axis: np.sqrt(np.sum(a * a, axis=axis))}[op]
    for axes in ([1], [0], None):
        inits = {} if axes is None else {"axes": np.array(axes, np.int64)}
        model = make_model(op, {"x": x}, {"keepdims": 0}, opset=18, initializers=inits)
        one = run_fastinfer(model, {"x": x}, threads=1)[0]
        four = run_fastinfer(model, {"x": x}, threads=4)[0]
        np.testing.assert_array_equal(one, four)
        want = ref(x.astype(np.float64), axis=None if axes is None else tuple(axes))
        np.testing.assert_allclose(one, want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("op", REDUCE_OPS)
def test_reduce_scalar(op):
    x = np.array(1.5, np.float32)
    check_against_ort(op, {"x": x}, {"keepdims": 0}, opset=18, rtol=1e-6)
    check_against_ort(op, {"x": x}, {"keepdims": 1}, opset=11, rtol=1e-6)
    model = make_model(op, {"x": x}, {"keepdims": 1}, opset=18, initializers={"axes": np.array([0], np.int64)})
    assert run_fastinfer(model, {"x": x})[0].shape == ()


@pytest.mark.parametrize("op,fn", [("ReduceMax", np.max), ("ReduceMin", np.min)])
def test_reduce_minmax_nan_propagates(op, fn):
    # NaN anywhere in the reduced set gives NaN (numpy and the ONNX reference; ORT's result
    # depends on where the NaN sits, so numpy is the reference here).
    x = rng(7).standard_normal((3, 40)).astype(np.float32)
    x[0, 0] = np.nan
    x[1, 37] = np.nan
    for axes in ([1], [0]):
        model = make_model(op, {"x": x}, {"keepdims": 0}, opset=18, initializers={"axes": np.array(axes, np.int64)})
        np.testing.assert_array_equal(run_fastinfer(model, {"x": x})[0], fn(x, axis=axes[0]))


def test_reduce_integer_overflow_wraps():
    # Integer results wrap like numpy's fixed-width arithmetic.
    x = np.full((2, 5), 2**30, np.int32)
    model = make_model("ReduceSum", {"x": x}, {"keepdims": 0}, opset=13, initializers={"axes": np.array([1])})
    np.testing.assert_array_equal(run_fastinfer(model, {"x": x})[0], x.sum(axis=1, dtype=np.int32))
    y = np.full((1, 70), 3, np.int64)
    model = make_model("ReduceProd", {"x": y}, {"keepdims": 0}, opset=18)
    np.testing.assert_array_equal(run_fastinfer(model, {"x": y})[0], np.prod(y))
    z = np.array([np.iinfo(np.int64).min, 1], np.int64)
    model = make_model("ReduceL1", {"x": z}, {"keepdims": 0}, opset=18)
    np.testing.assert_array_equal(run_fastinfer(model, {"x": z})[0], np.abs(z).sum())


def test_reduce_errors():
    x = np.ones((2, 3), np.float32)
    for axes in ([2], [-3], [0, 0]):
        model = make_model("ReduceSum", {"x": x}, {}, opset=13, initializers={"axes": np.array(axes, np.int64)})
        with pytest.raises(fastinfer.InvalidArgument):
            run_fastinfer(model, {"x": x})
    model = make_model("ReduceMean", {"x": x}, {"axes": [5]}, opset=11)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x})
    model = make_model("ReduceSum", {"x": x}, {}, opset=13, initializers={"axes": np.array([[0]], np.int64)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x})
    xs = np.array(["a"], dtype=object)
    with pytest.raises((fastinfer.NotImplemented, fastinfer.InvalidArgument, fastinfer.InvalidModel)):
        run_fastinfer(make_model("ReduceSum", {"x": xs}, {}, opset=13), {"x": xs})


# ---- ArgMax / ArgMin ----------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8, np.float16])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_argminmax(op, dtype, axis):
    x = rng(6).integers(-3, 4, size=(5, 7, 3)).astype(dtype)  # many ties
    if np.dtype(dtype).kind == "u":
        x = np.abs(x)
    for keepdims in (0, 1):
        for last in (0, 1):
            check_against_ort(op, {"x": x}, {"axis": axis, "keepdims": keepdims, "select_last_index": last},
                              opset=13)


def test_argmax_errors():
    x = np.zeros((3, 0), np.float32)
    model = make_model("ArgMax", {"x": x}, {"axis": 1}, opset=13)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x})
    model = make_model("ArgMax", {"x": x}, {"axis": 0}, opset=13)
    assert run_fastinfer(model, {"x": x})[0].shape == (1, 0)
    model = make_model("ArgMin", {"x": np.ones((2, 2), np.float32)}, {"axis": 2}, opset=13)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": np.ones((2, 2), np.float32)})


# ---- CumSum / CumProd ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum(dtype, axis):
    x = data_for("ReduceSum", (4, 7, 3), dtype, seed=7)
    for exclusive in (0, 1):
        for reverse in (0, 1):
            check_against_ort("CumSum", {"x": x}, {"exclusive": exclusive, "reverse": reverse}, opset=14,
                              initializers={"axis": np.array(axis, np.int32)}, rtol=1e-5, atol=1e-5)


def np_cumprod(x, axis, exclusive, reverse):
    """Reference CumProd."""
    if reverse:
        x = np.flip(x, axis)
    y = np.cumprod(x, axis=axis)
    if exclusive:
        y = np.concatenate([np.ones_like(np.take(y, [0], axis)), np.delete(y, -1, axis)], axis=axis)
    return np.flip(y, axis) if reverse else y


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("axis", [0, -1])
def test_cumprod(dtype, axis):
    x = data_for("ReduceProd", (3, 5), dtype, seed=8)
    for exclusive in (0, 1):
        for reverse in (0, 1):
            model = make_model("CumProd", {"x": x, "axis": np.array(axis, np.int64)},
                               {"exclusive": exclusive, "reverse": reverse}, opset=26)
            got = run_fastinfer(model, {"x": x, "axis": np.array(axis, np.int64)})[0]
            assert_close(got, np_cumprod(x, axis, exclusive, reverse).astype(dtype), rtol=1e-5)


def test_cumsum_errors():
    x = np.ones((2, 3), np.float32)
    model = make_model("CumSum", {"x": x, "axis": np.array(0, np.int64)}, {}, opset=14)
    sess = fastinfer.Session(model.SerializeToString())
    with pytest.raises(fastinfer.InvalidArgument):
        sess.run(None, {"x": x, "axis": np.array(2, np.int64)})
    x = np.ones((0, 3), np.float32)
    model = make_model("CumSum", {"x": x, "axis": np.array(0, np.int64)}, {}, opset=14)
    assert run_fastinfer(model, {"x": x, "axis": np.array(0, np.int64)})[0].shape == (0, 3)


# ---- TopK ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("k", [0, 1, 3, 7])
def test_topk(dtype, axis, k):
    x = rng(9).integers(-4, 5, size=(7, 9, 7)).astype(dtype)  # ties: lower index first
    for largest in (0, 1):
        model = make_model("TopK", {"x": x}, {"axis": axis, "largest": largest}, n_outputs=2, opset=11,
                                 initializers={"k": np.array([k], np.int64)})
        ours = run_fastinfer(model, {"x": x})
        ref = run_ort(model, {"x": x})
        for a, b in zip(ours, ref):
            assert_close(a, b)


def test_topk_opset1_and_unsorted():
    x = rng(10).standard_normal((4, 17)).astype(np.float32)
    model = make_model("TopK", {"x": x}, {"k": 5}, n_outputs=2, opset=1)
    for a, b in zip(run_fastinfer(model, {"x": x}), run_ort(model, {"x": x})):
        assert_close(a, b)
    model = make_model("TopK", {"x": x}, {"sorted": 0}, n_outputs=2, opset=11,
                             initializers={"k": np.array([5], np.int64)})
    vals, idx = run_fastinfer(model, {"x": x})
    rv, ri = run_ort(model, {"x": x})
    np.testing.assert_array_equal(np.sort(vals, axis=1), np.sort(rv, axis=1))
    np.testing.assert_array_equal(np.sort(idx, axis=1), np.sort(ri, axis=1))


def test_topk_errors():
    x = np.ones((2, 3), np.float32)
    for k in (4, -1):
        model = make_model("TopK", {"x": x}, {}, n_outputs=2, opset=11, initializers={"k": np.array([k], np.int64)})
        with pytest.raises(fastinfer.InvalidArgument):
            run_fastinfer(model, {"x": x})


# ---- Det ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (7, 7), (2, 4, 4), (2, 3, 5, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_det(shape, dtype):
    x = rng(11).standard_normal(shape).astype(dtype)
    got = run_fastinfer(make_model("Det", {"x": x}, {}, opset=11), {"x": x})[0]
    assert_close(got, np.linalg.det(x).astype(dtype), rtol=1e-4, atol=1e-5)


def test_det_singular_and_errors():
    x = np.array([[1, 2], [2, 4]], np.float32)
    assert run_fastinfer(make_model("Det", {"x": x}, {}, opset=11), {"x": x})[0] == 0
    x = np.ones((2, 3), np.float32)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("Det", {"x": x}, {}, opset=11), {"x": x})


def test_topk_omitted_output():
    x = rng(12).standard_normal((3, 5)).astype(np.float32)
    k = {"k": np.array([2], np.int64)}
    vals = run_fastinfer(make_model("TopK", {"x": x}, {}, 2, 11, k, output_names=["v", ""]), {"x": x})
    idx = run_fastinfer(make_model("TopK", {"x": x}, {}, 2, 11, k, output_names=["", "i"]), {"x": x})
    np.testing.assert_array_equal(vals[0], -np.sort(-x, axis=1)[:, :2])
    np.testing.assert_array_equal(idx[0], np.argsort(-x, axis=1, kind="stable")[:, :2])
