"""Resize (opsets 10..19) and Upsample (7, 9) against ONNX Runtime."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from op_helpers import check_against_ort as check
from op_helpers import make_model, rng, run_fastinfer, run_ort

F32 = np.float32


def _x(shape, dtype=F32, seed=0):
    return rng(seed).standard_normal(shape).astype(dtype)


def _resize(x, attrs=None, scales=None, sizes=None, roi=None, opset=13, rtol=1e-4, atol=1e-5):
    inits = {}
    names = ["x", "", "", ""]
    if roi is not None:
        inits["roi"] = np.asarray(roi, F32)
        names[1] = "roi"
    if scales is not None:
        inits["scales"] = np.asarray(scales, F32)
        names[2] = "scales"
    if sizes is not None:
        inits["sizes"] = np.asarray(sizes, np.int64)
        names[3] = "sizes"
    while names[-1] == "":
        names.pop()
    return check("Resize", {"x": x}, attrs or {}, opset=opset, initializers=inits, input_names=names,
                 rtol=rtol, atol=atol)


COORDS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]


@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("scales", [[1, 1, 2, 3], [1, 1, 0.5, 0.7], [1, 1, 1.7, 0.6]])
def test_linear_scales(coord, scales):
    x = _x((2, 3, 7, 9))
    attrs = {"mode": "linear", "coordinate_transformation_mode": coord}
    if coord == "align_corners":  # fractional resized lengths: onnxruntime departs from the ONNX reference
        _resize(x, attrs, sizes=[int(np.floor(np.float32(s) * d)) for s, d in zip(scales, x.shape)])
    else:
        _resize(x, attrs, scales=scales)


@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
def test_nearest(coord, nearest_mode):
    attrs = {"mode": "nearest", "coordinate_transformation_mode": coord, "nearest_mode": nearest_mode}
    _resize(_x((1, 2, 5, 7)), attrs, sizes=[1, 2, 9, 4])


@pytest.mark.parametrize("exclude", [0, 1])
@pytest.mark.parametrize("coord", ["half_pixel", "align_corners", "asymmetric"])
def test_cubic(exclude, coord):
    attrs = {"mode": "cubic", "coordinate_transformation_mode": coord, "exclude_outside": exclude,
             "cubic_coeff_a": -0.5}
    _resize(_x((1, 2, 7, 5)), attrs, scales=[1, 1, 1.5, 2.2] if coord != "align_corners" else [1, 1, 2, 3])


def test_cubic_downsample():
    _resize(_x((1, 1, 17, 33)), {"mode": "cubic"}, sizes=[1, 1, 7, 9])


@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_tf_crop_and_resize(mode):
    attrs = {"mode": mode, "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 2.5}
    _resize(_x((1, 1, 7, 9)), attrs, sizes=[1, 1, 5, 6], roi=[0, 0, -0.2, 0.3, 1, 1, 0.8, 1.4])


def test_3d_and_1d():
    _resize(_x((1, 2, 3, 4, 5)), {"mode": "linear"}, scales=[1, 1, 2, 1.5, 0.6])
    _resize(_x((7,)), {"mode": "nearest"}, sizes=[17])
    _resize(_x((7, 5)), {"mode": "linear"}, sizes=[17, 3])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_integer_types(dtype):
    """Nearest is exact; linear may differ by one: we round half to even like the ONNX reference,
    onnxruntime truncates."""
    x = rng(3).integers(0, 100, (1, 3, 5, 6)).astype(dtype)
    _resize(x, {"mode": "nearest"}, scales=[1, 1, 2.0, 0.5])
    attrs = {"mode": "linear"}
    inits = {"scales": np.array([1, 1, 1.6, 2.0], F32)}
    model = make_model("Resize", {"x": x}, attrs, opset=13, initializers=inits, input_names=["x", "", "scales"])
    (ours,) = run_fastinfer(model, {"x": x})
    (ref,) = run_ort(model, {"x": x})
    assert ours.dtype == dtype and ours.shape == ref.shape
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1


def test_opset10():
    check("Resize", {"x": _x((1, 2, 4, 5))}, {"mode": "nearest"}, opset=10,
          initializers={"scales": np.array([1, 1, 2, 3], F32)})
    check("Resize", {"x": _x((1, 2, 4, 5))}, {"mode": "linear"}, opset=10,
          initializers={"scales": np.array([1, 1, 1.5, 0.5], F32)}, rtol=1e-4, atol=1e-5)


def test_opset11_sizes():
    _resize(_x((1, 2, 4, 5)), {"mode": "linear"}, scales=[], sizes=[1, 2, 7, 3], roi=[], opset=11)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_antialias(mode):
    _resize(_x((1, 2, 16, 17)), {"mode": mode, "antialias": 1}, sizes=[1, 2, 7, 9], opset=18)


def test_axes_and_policy():
    x = _x((1, 2, 8, 6))
    _resize(x, {"mode": "linear", "axes": [2, 3]}, scales=[0.5, 1.5], opset=18)
    _resize(x, {"mode": "linear", "axes": [-1, 2]}, sizes=[4, 5], opset=18)
    for policy in ["not_larger", "not_smaller"]:
        _resize(x, {"mode": "nearest", "axes": [2, 3], "keep_aspect_ratio_policy": policy}, sizes=[5, 5], opset=18)


def test_half_pixel_symmetric():
    _resize(_x((1, 2, 5, 7)), {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"},
            scales=[1, 1, 1.7, 0.6], opset=19)


def test_upsample():
    x = _x((1, 2, 3, 4))
    check("Upsample", {"x": x}, {"mode": "nearest", "scales": [1.0, 1.0, 2.0, 3.0]}, opset=7)
    check("Upsample", {"x": x}, {"mode": "linear"}, opset=9, initializers={"s": np.array([1, 1, 2, 1.5], F32)},
          rtol=1e-4, atol=1e-5)


def test_threads():
    x = _x((2, 5, 33, 17))
    check("Resize", {"x": x}, {"mode": "linear"}, opset=13, initializers={"scales": np.array([1, 1, 1.5, 2], F32)},
          input_names=["x", "", "scales"], threads=4, rtol=1e-4, atol=1e-5)


def test_errors():
    x = _x((1, 1, 4, 4))

    def run(attrs, **inits):
        names = ["x", "", "scales" if "scales" in inits else "", "sizes" if "sizes" in inits else ""]
        while names[-1] == "":
            names.pop()
        model = make_model("Resize", {"x": x}, attrs, opset=13, initializers=inits, input_names=names)
        return run_fastinfer(model, {"x": x})

    with pytest.raises(fastinfer.InvalidArgument):  # wrong number of scales
        run({}, scales=np.array([1, 2], F32))
    with pytest.raises(fastinfer.InvalidArgument):  # negative scale
        run({}, scales=np.array([1, 1, -2, 2], F32))
    with pytest.raises(fastinfer.InvalidArgument):  # neither scales nor sizes
        run({})
    with pytest.raises(fastinfer.InvalidModel):
        run({"mode": "bogus"}, scales=np.array([1, 1, 2, 2], F32))
    (y,) = run({}, sizes=np.array([1, 1, 0, 3], np.int64))
    assert y.shape == (1, 1, 0, 3)


def test_align_corners_fractional_matches_onnx_reference():
    """With scales whose resized length is fractional we follow the ONNX reference implementation."""
    from onnx.reference import ReferenceEvaluator

    x = _x((1, 1, 4, 7))
    attrs = {"mode": "linear", "coordinate_transformation_mode": "align_corners"}
    inits = {"scales": np.array([1, 1, 0.6, 0.7], F32)}
    model = make_model("Resize", {"x": x}, attrs, opset=13, initializers=inits, input_names=["x", "", "scales"])
    (ours,) = run_fastinfer(model, {"x": x})
    (ref,) = ReferenceEvaluator(model).run(None, {"x": x})
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_gridsample16(mode, padding, align):
    x = _x((2, 3, 5, 7))
    grid = (rng(1).uniform(-1.3, 1.3, (2, 4, 6, 2))).astype(F32)
    check("GridSample", {"x": x, "grid": grid}, {"mode": mode, "padding_mode": padding, "align_corners": align},
          opset=16, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_gridsample20_3d(mode, padding):
    x = _x((1, 2, 4, 5, 3))
    grid = (rng(2).uniform(-1.2, 1.2, (1, 3, 2, 4, 3))).astype(F32)
    check("GridSample", {"x": x, "grid": grid}, {"mode": mode, "padding_mode": padding}, opset=20,
          rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("align", [0, 1])
def test_affine_grid(align):
    theta2 = _x((2, 2, 3))
    check("AffineGrid", {"theta": theta2}, {"align_corners": align}, opset=20,
          initializers={"size": np.array([2, 3, 5, 7], np.int64)}, rtol=1e-5, atol=1e-5)
    theta3 = _x((1, 3, 4))
    check("AffineGrid", {"theta": theta3}, {"align_corners": align}, opset=20,
          initializers={"size": np.array([1, 1, 3, 4, 5], np.int64)}, rtol=1e-5, atol=1e-5)


def test_image_op_errors():
    x = _x((1, 1, 4, 4))
    grid = _x((1, 3, 3, 3))  # last dim must be 2 for a 2-D image
    model = make_model("GridSample", {"x": x, "grid": grid}, {}, opset=16)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {"x": x, "grid": grid})
    theta = _x((1, 2, 3))
    model = make_model("AffineGrid", {"theta": theta}, {}, opset=20,
                        initializers={"size": np.array([2, 1, 3, 3], np.int64)})
    with pytest.raises(fastinfer.InvalidArgument):  # batch of theta and size differ
        run_fastinfer(model, {"theta": theta})


def test_gridsample_extreme_grid():
    x = _x((1, 2, 4, 5))
    grid = np.array([[[[1e30, -1e30], [np.inf, 0.5]], [[-3e9, 2e9], [0.1, -0.2]]]], np.float32)
    for padding in ["zeros", "border", "reflection"]:
        model = make_model("GridSample", {"x": x, "grid": grid}, {"padding_mode": padding}, opset=16)
        (y,) = run_fastinfer(model, {"x": x, "grid": grid})
        assert y.shape == (1, 2, 2, 2)


def test_wide_int_and_half():
    x = rng(5).integers(-(2**40), 2**40, (1, 1, 4, 5)).astype(np.int64)
    inits = {"scales": np.array([1, 1, 2, 0.6], F32)}
    model = make_model("Resize", {"x": x}, {"mode": "nearest"}, opset=13, initializers=inits,
                        input_names=["x", "", "scales"])
    (ours,) = run_fastinfer(model, {"x": x})
    np.testing.assert_array_equal(ours, x[:, :, [0, 0, 1, 1, 2, 2, 3, 3]][..., [0, 2, 4]])
    xf = _x((1, 2, 5, 6))
    outs = {}
    for dt in (np.float16, np.float32):
        xi = xf.astype(dt)
        m = make_model("Resize", {"x": xi}, {"mode": "cubic"}, opset=13, initializers=inits,
                        input_names=["x", "", "scales"])
        (outs[dt],) = run_fastinfer(m, {"x": xi})
    assert outs[np.float16].dtype == np.float16
    np.testing.assert_allclose(outs[np.float16].astype(F32), outs[np.float32], rtol=1e-2, atol=1e-2)


def test_random_resize_and_grid_never_crash():
    errors = (fastinfer.InvalidArgument, fastinfer.InvalidModel, fastinfer.NotImplemented)
    g = np.random.default_rng(12)
    for _ in range(60):
        shape = [int(v) for v in g.choice([0, 1, 2, 3, 5], size=int(g.integers(3, 6)))]
        x = g.random(shape).astype(F32)
        attrs = {"mode": str(g.choice(["nearest", "linear", "cubic"])), "antialias": int(g.integers(0, 2)),
                 "coordinate_transformation_mode": str(g.choice(["half_pixel", "align_corners", "tf_crop_and_resize"]))}
        inits = {"roi": g.random(2 * len(shape)).astype(F32),
                 "scales": g.choice([0.01, 0.5, 1, 1.7, 3], size=len(shape)).astype(F32)}
        model = make_model("Resize", {"x": x}, attrs, opset=19, initializers=inits, input_names=["x", "roi", "scales"])
        try:
            run_fastinfer(model, {"x": x}, threads=2)
        except errors:
            pass
        nsp = len(shape) - 2
        grid = (g.random([shape[0], *g.choice([0, 1, 3], size=nsp), nsp]) * 4 - 2).astype(F32)
        attrs = {"mode": str(g.choice(["linear", "nearest", "cubic"])),
                 "padding_mode": str(g.choice(["zeros", "border", "reflection"]))}
        model = make_model("GridSample", {"x": x, "grid": grid}, attrs, opset=20)
        try:
            run_fastinfer(model, {"x": x, "grid": grid}, threads=2)
        except errors:
            pass
