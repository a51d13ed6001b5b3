"""Pooling ops (MaxPool, AveragePool, LpPool, Global*Pool, MaxUnpool) against ONNX Runtime."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from op_helpers import check_against_ort, make_model, rng, run_fastinfer, run_ort


def _x(shape, dtype=np.float32, seed=0):
    return rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shape,attrs", [
    ((1, 1, 7), {"kernel_shape": [3]}),
    ((2, 3, 17), {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),
    ((2, 3, 7, 9), {"kernel_shape": [3, 3]}),
    ((1, 2, 17, 33), {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [1, 0, 1, 2]}),
    ((1, 2, 17, 33), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 9, 9), {"kernel_shape": [3, 3], "dilations": [2, 2]}),
    ((1, 2, 7, 8), {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 2, 7, 8), {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 7, 8), {"kernel_shape": [3, 2], "auto_pad": "VALID", "strides": [2, 1]}),
    ((1, 2, 5, 6, 7), {"kernel_shape": [2, 3, 2], "strides": [1, 2, 2], "pads": [1, 0, 1, 0, 1, 1]}),
])
def test_maxpool(shape, attrs):
    check_against_ort("MaxPool", {"x": _x(shape)}, attrs, opset=12)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int8, np.uint8])
def test_maxpool_dtypes(dtype):
    x = (rng(1).standard_normal((2, 3, 9, 7)) * 40).astype(dtype) if dtype != np.uint8 else \
        rng(1).integers(0, 255, (2, 3, 9, 7)).astype(dtype)
    check_against_ort("MaxPool", {"x": x}, {"kernel_shape": [3, 2], "strides": [2, 1], "pads": [1, 1, 0, 0]}, opset=12)


@pytest.mark.parametrize("order", [0, 1])
def test_maxpool_indices(order):
    attrs = {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [0, 1, 1, 1], "storage_order": order}
    check_against_ort("MaxPool", {"x": _x((2, 3, 7, 9), seed=2)}, attrs, n_outputs=2, opset=12)


def test_maxpool_indices_3d():
    check_against_ort("MaxPool", {"x": _x((1, 2, 4, 5, 6), seed=3)}, {"kernel_shape": [2, 2, 3]}, n_outputs=2, opset=12)


def test_maxpool_opset8():
    check_against_ort("MaxPool", {"x": _x((1, 3, 8, 8))}, {"kernel_shape": [2, 2], "strides": [2, 2]}, opset=8)


def test_maxpool_threads():
    check_against_ort("MaxPool", {"x": _x((3, 7, 33, 17))}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
                      opset=12, threads=4)


@pytest.mark.parametrize("shape,attrs", [
    ((1, 1, 7), {"kernel_shape": [3]}),
    ((2, 3, 7, 9), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ((2, 3, 7, 9), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ((1, 2, 17, 33), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 17, 33), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "pads": [1, 1, 1, 1],
                      "count_include_pad": 1}),
    ((1, 2, 7, 8), {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 2, 7, 8), {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER", "count_include_pad": 1}),
    ((1, 2, 5, 6, 7), {"kernel_shape": [2, 3, 2], "strides": [1, 2, 2]}),
])
def test_averagepool(shape, attrs):
    check_against_ort("AveragePool", {"x": _x(shape)}, attrs, opset=11)


def test_averagepool_dilations_opset19():
    attrs = {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 0}
    check_against_ort("AveragePool", {"x": _x((1, 2, 9, 9))}, attrs, opset=19)


@pytest.mark.parametrize("op,attrs", [("AveragePool", {"kernel_shape": [2, 2], "pads": [1, 0, 1, 1]}),
                                      ("LpPool", {"kernel_shape": [2, 3], "p": 2}),
                                      ("GlobalAveragePool", {}), ("GlobalMaxPool", {})])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float16, 2e-3)])
def test_sum_pools_dtypes(op, attrs, dtype, tol):
    """Double and half results match onnxruntime's float32 results (it lacks most of these kernels)."""
    x = _x((2, 3, 9, 7), dtype)
    (ours,) = run_fastinfer(make_model(op, {"x": x}, attrs, opset=11), {"x": x})
    x32 = x.astype(np.float32)
    (ref,) = run_ort(make_model(op, {"x": x32}, attrs, opset=11), {"x": x32})
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours.astype(np.float64), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lppool(p):
    check_against_ort("LpPool", {"x": _x((2, 3, 7, 9))}, {"kernel_shape": [3, 2], "p": p, "pads": [1, 0, 1, 1]},
                      opset=11, rtol=1e-4)


def test_lppool_opset18():
    attrs = {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "dilations": [1, 2]}
    check_against_ort("LpPool", {"x": _x((1, 2, 9, 9))}, attrs, opset=18, rtol=1e-4)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(1, 1, 7), (2, 3, 7, 9), (1, 2, 3, 4, 5)])
def test_global(op, shape):
    check_against_ort(op, {"x": _x(shape)}, {}, opset=13)


def test_global_lp():
    check_against_ort("GlobalLpPool", {"x": _x((2, 3, 5, 6))}, {"p": 3}, opset=13, rtol=1e-4)


def test_maxunpool_roundtrip():
    x = _x((2, 3, 8, 6), seed=5)
    model = make_model("MaxPool", {"x": x}, {"kernel_shape": [2, 2], "strides": [2, 2]}, n_outputs=2, opset=12)
    y, ind = run_fastinfer(model, {"x": x})
    check_against_ort("MaxUnpool", {"x": y, "i": ind}, {"kernel_shape": [2, 2], "strides": [2, 2]}, opset=11)


def test_maxunpool_output_shape():
    x = np.array([[[[5, 6], [7, 8]]]], dtype=np.float32)
    ind = np.array([[[[5, 7], [13, 15]]]], dtype=np.int64)
    model = make_model("MaxUnpool", {"x": x, "i": ind}, {"kernel_shape": [2, 2], "strides": [2, 2]}, opset=11,
                       initializers={"s": np.array([1, 1, 5, 5], dtype=np.int64)})
    (y,) = run_fastinfer(model, {"x": x, "i": ind})
    expected = np.zeros((1, 1, 5, 5), np.float32)
    expected[0, 0, :4, :4].flat[[5, 7, 13, 15]] = [5, 6, 7, 8]
    np.testing.assert_array_equal(y, expected)


def test_maxunpool_bad_index():
    x = np.ones((1, 1, 2, 2), np.float32)
    ind = np.array([[[[0, 1], [2, 99]]]], dtype=np.int64)
    model = make_model("MaxUnpool", {"x": x, "i": ind}, {"kernel_shape": [2, 2], "strides": [2, 2]}, opset=11)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x, "i": ind})


def test_pool_errors():
    x = _x((1, 2, 5, 5))
    with pytest.raises(fastinfer.InvalidArgument):  # kernel rank differs from spatial rank
        run_fastinfer(make_model("MaxPool", {"x": x}, {"kernel_shape": [2]}, opset=12), {"x": x})
    with pytest.raises(fastinfer.InvalidModel):
        fastinfer.Session(make_model("AveragePool", {"x": x}, {"kernel_shape": [2, 2], "strides": [0, 1]},
                                     opset=11).SerializeToString())
    x2 = _x((5, 5))
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("GlobalMaxPool", {"x": x2}, {}, opset=13), {"x": x2})
    with pytest.raises(fastinfer.NotImplemented):
        xi = np.ones((1, 1, 4, 4), np.int32)
        run_fastinfer(make_model("AveragePool", {"x": xi}, {"kernel_shape": [2, 2]}, opset=11), {"x": xi})


def test_pool_empty_batch():
    x = np.zeros((0, 3, 5, 5), np.float32)
    model = make_model("MaxPool", {"x": x}, {"kernel_shape": [2, 2]}, opset=12)
    (y,) = run_fastinfer(model, {"x": x})
    assert y.shape == (0, 3, 4, 4)


@pytest.mark.parametrize("attrs", [{}, {"strides": [2, 1]}, {"pads": [1, 0, 1, 2]}, {"dilations": [2, 1]}])
def test_col2im(attrs):
    image, block = [6, 5], [2, 3]
    st = attrs.get("strides", [1, 1])
    pd = attrs.get("pads", [0, 0, 0, 0])
    dl = attrs.get("dilations", [1, 1])
    nb = [(image[i] + pd[i] + pd[i + 2] - dl[i] * (block[i] - 1) - 1) // st[i] + 1 for i in range(2)]
    x = _x((2, 3 * 6, nb[0] * nb[1]))
    check_against_ort("Col2Im", {"x": x}, attrs, opset=18, rtol=1e-5, atol=1e-5,
                      initializers={"img": np.array(image, np.int64), "blk": np.array(block, np.int64)})


def test_col2im_bad_length():
    x = _x((1, 6, 5))
    model = make_model("Col2Im", {"x": x}, {}, opset=18,
                       initializers={"img": np.array([4, 4], np.int64), "blk": np.array([2, 3], np.int64)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x})


@pytest.mark.parametrize("opset,attrs", [
    (10, {}),
    (16, {"output_height": 3, "output_width": 4, "sampling_ratio": 2, "spatial_scale": 0.5}),
    (16, {"output_height": 2, "output_width": 2, "coordinate_transformation_mode": "output_half_pixel"}),
    (16, {"output_height": 3, "output_width": 2, "mode": "max", "sampling_ratio": 2}),
])
def test_roialign(opset, attrs):
    x = _x((2, 3, 9, 11))
    rois = np.array([[0, 0, 5, 5], [1.5, 2.2, 9.5, 8.1], [-2, -1, 3, 20], [4, 4, 4.5, 4.2]], np.float32)
    bi = np.array([0, 1, 1, 0], np.int64)
    check_against_ort("RoiAlign", {"x": x, "rois": rois, "bi": bi}, attrs, opset=opset, rtol=1e-4, atol=1e-5)


def test_roialign_bad_batch_index():
    x = _x((1, 1, 4, 4))
    rois = np.array([[0, 0, 2, 2]], np.float32)
    bi = np.array([3], np.int64)
    model = make_model("RoiAlign", {"x": x, "rois": rois, "bi": bi}, {}, opset=16)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x, "rois": rois, "bi": bi})


@pytest.mark.parametrize("center", [0, 1])
@pytest.mark.parametrize("score_threshold", [None, 0.3])
def test_nms(center, score_threshold):
    g = rng(7)
    xy = g.uniform(0, 10, (2, 17, 2))
    wh = g.uniform(1, 4, (2, 17, 2))
    boxes = (np.concatenate([xy, wh], -1) if center else
             np.concatenate([xy[..., ::-1], (xy + wh)[..., ::-1]], -1)).astype(np.float32)
    scores = g.uniform(0, 1, (2, 3, 17)).astype(np.float32)
    inits = {"max": np.array([5], np.int64), "iou": np.array([0.3], np.float32)}
    names = ["boxes", "scores", "max", "iou"]
    if score_threshold is not None:
        inits["st"] = np.array([score_threshold], np.float32)
        names.append("st")
    check_against_ort("NonMaxSuppression", {"boxes": boxes, "scores": scores}, {"center_point_box": center},
                      opset=11, initializers=inits, input_names=names)


def test_nms_no_limit():
    boxes = _x((1, 5, 4))
    scores = _x((1, 1, 5))
    model = make_model("NonMaxSuppression", {"boxes": boxes, "scores": scores}, {}, opset=11)
    (y,) = run_fastinfer(model, {"boxes": boxes, "scores": scores})
    assert y.shape == (0, 3) and y.dtype == np.int64


def test_maxpool_skips_nan():
    """NaN never wins a window (onnxruntime's answer depends on its code path): the result equals
    onnxruntime's on the input with the NaN replaced by -inf."""
    x = _x((1, 2, 6, 6), seed=9)
    x[0, 0, 1, 1] = np.nan
    attrs = {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1]}
    ours = run_fastinfer(make_model("MaxPool", {"x": x}, attrs, n_outputs=2, opset=12), {"x": x})
    xi = np.where(np.isnan(x), -np.inf, x).astype(np.float32)
    ref = run_ort(make_model("MaxPool", {"x": xi}, attrs, n_outputs=2, opset=12), {"x": xi})
    np.testing.assert_array_equal(ours[0], ref[0])
    np.testing.assert_array_equal(ours[1], ref[1])


def test_roialign_non_finite_roi():
    x = _x((1, 1, 4, 4))
    rois = np.array([[0, 0, np.inf, 2]], np.float32)
    bi = np.array([0], np.int64)
    model = make_model("RoiAlign", {"x": x, "rois": rois, "bi": bi}, {}, opset=16)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x, "rois": rois, "bi": bi})


def test_nms_nan_scores():
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 1.1], [5, 5, 6, 6]]], np.float32)
    scores = np.array([[[np.nan, 0.9, 0.5]]], np.float32)
    inits = {"max": np.array([3], np.int64), "iou": np.array([0.5], np.float32)}
    model = make_model("NonMaxSuppression", {"boxes": boxes, "scores": scores}, {}, opset=11, initializers=inits)
    (y,) = run_fastinfer(model, {"boxes": boxes, "scores": scores})
    assert y[:, 2].tolist()[:2] == [1, 2]


_ERRORS = (fastinfer.InvalidArgument, fastinfer.InvalidModel, fastinfer.NotImplemented)


def _run_or_reject(op, ins, attrs, opset, inits=None, names=None, n_outputs=1):
    """Runs the node; a clean fastinfer error is fine, anything else (or a crash) fails the test."""
    model = make_model(op, ins, attrs, opset=opset, initializers=inits or {}, input_names=names, n_outputs=n_outputs)
    try:
        run_fastinfer(model, ins, threads=2)
    except _ERRORS:
        pass


def test_random_geometry_never_crashes():
    g = np.random.default_rng(11)
    for _ in range(60):
        shape = [int(v) for v in g.choice([0, 1, 2, 3, 5], size=int(g.integers(3, 6)))]
        nsp = len(shape) - 2
        x = g.random(shape).astype(np.float32)
        attrs = {"kernel_shape": [int(v) for v in g.choice([1, 2, 3, 7], size=nsp)]}
        if g.random() < 0.5:
            attrs["strides"] = [int(v) for v in g.choice([1, 2, 5], size=nsp)]
        if g.random() < 0.5:
            attrs["pads"] = [int(v) for v in g.choice([0, 1, 3], size=2 * nsp)]
        if g.random() < 0.3:
            attrs["dilations"] = [int(v) for v in g.choice([1, 2], size=nsp)]
        if g.random() < 0.3:
            attrs["ceil_mode"] = 1
        op = str(g.choice(["MaxPool", "AveragePool", "LpPool"]))
        _run_or_reject(op, {"x": x}, attrs, 19, n_outputs=2 if op == "MaxPool" else 1)
        ind = g.integers(-3, 200, shape).astype(np.int64)
        _run_or_reject("MaxUnpool", {"x": x, "i": ind}, {"kernel_shape": attrs["kernel_shape"], "strides": [2] * nsp}, 11)
        cols = g.random([int(v) for v in g.choice([0, 1, 4, 9], size=3)]).astype(np.float32)
        _run_or_reject("Col2Im", {"x": cols}, {}, 18, {"img": g.choice([0, 2, 3], size=2).astype(np.int64),
                                                         "blk": g.choice([1, 2], size=2).astype(np.int64)})
        rois = (g.random((3, 4)) * 20 - 5).astype(np.float32)
        _run_or_reject("RoiAlign", {"x": g.random((2, 1, 3, 4)).astype(np.float32), "rois": rois,
                                    "bi": g.integers(-1, 3, 3).astype(np.int64)}, {"sampling_ratio": 0}, 16)


def test_maxpool_int8_window_in_padding():
    """A window that covers only padding yields the lowest value of the type."""
    x = np.full((1, 1, 3, 3), 5, np.int8)
    model = make_model("MaxPool", {"x": x}, {"kernel_shape": [2, 2], "pads": [0, 0, 3, 3], "strides": [2, 2]}, opset=12)
    (y,) = run_fastinfer(model, {"x": x})
    assert y.dtype == np.int8 and y.shape == (1, 1, 3, 3)
    assert y[0, 0, 0, 0] == 5 and y[0, 0, 1, 1] == 5
    assert y[0, 0, 2, 2] == -128 and y[0, 0, 0, 2] == -128
