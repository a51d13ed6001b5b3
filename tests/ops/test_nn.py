"""nn ops (MatMul, Gemm, Conv, ConvTranspose, Einsum) against ONNX Runtime on random shapes."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from op_helpers import assert_close, make_model, onnx_type, run_fastinfer, run_ort

R = np.random.default_rng(0)


def check_against_ort(op, inputs, attrs=None, opset=17, rtol=1e-5, atol=1e-6, initializers=None, threads=1):
    """op_helpers.check_against_ort, with the output's element type declared (this ONNX Runtime
    rejects the UNDEFINED output type that make_model writes)."""
    model = make_model(op, inputs, attrs, 1, opset, initializers)
    first = next(iter(inputs.values()))
    model.graph.output[0].type.tensor_type.elem_type = onnx_type(first)
    ours = run_fastinfer(model, inputs, threads)
    ref = run_ort(model, inputs)
    assert_close(ours[0], ref[0], rtol, atol, what=op)


def rand(*shape, dtype=np.float32):
    """Random normal array of the given shape and dtype."""
    if np.dtype(dtype).kind in "iu":
        return R.integers(-5, 6, size=shape).astype(dtype)
    return R.standard_normal(shape).astype(dtype)


# ---- MatMul -------------------------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb", [((3, 7), (7, 17)), ((2, 5, 33), (33, 65)), ((7,), (7, 3)), ((4, 7), (7,)),
                                   ((2, 1, 3, 17), (4, 17, 5)), ((1, 127), (127, 1)), ((3, 0), (0, 4)),
                                   ((2, 3, 0, 5), (5, 3)), ((5, 2, 3), (1, 3, 7))])
@pytest.mark.parametrize("threads", [1, 2])
def test_matmul_float(sa, sb, threads):
    a, b = rand(*sa), rand(*sb)
    check_against_ort("MatMul", {"a": a, "b": b}, threads=threads, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("const_b", [False, True])
def test_matmul_packed_weight(const_b):
    a, b = rand(3, 65, 127), rand(127, 33)
    if const_b:
        check_against_ort("MatMul", {"a": a}, initializers={"b": b}, threads=2, rtol=1e-4, atol=1e-4)
    else:
        check_against_ort("MatMul", {"a": a, "b": b}, threads=2, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64])
def test_matmul_other_types(dtype):
    check_against_ort("MatMul", {"a": rand(2, 3, 7, dtype=dtype), "b": rand(7, 5, dtype=dtype)})


def test_matmul_bad_shapes():
    m = make_model("MatMul", {"a": rand(3, 4), "b": rand(5, 6)})
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):  # contradiction: at load
        run_fastinfer(m, {"a": rand(3, 4), "b": rand(5, 6)})


# ---- Gemm ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("cshape", [None, (), (1,), (17,), (7, 1), (1, 17), (7, 17)])
def test_gemm(ta, tb, cshape):
    m, k, n = 7, 33, 17
    a = rand(k, m) if ta else rand(m, k)
    b = rand(n, k) if tb else rand(k, n)
    inputs, inits = {"a": a, "b": b}, {}
    if cshape is not None:
        # a rank-0 C goes in as a constant: feeding 0-d arrays is a session-level limitation
        (inits if cshape == () else inputs)["c"] = rand(*cshape)
    attrs = {"transA": ta, "transB": tb, "alpha": 0.5, "beta": -1.5}
    check_against_ort("Gemm", inputs, attrs, initializers=inits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_gemm_constant_weight(threads):
    a, b, c = rand(65, 127), rand(300, 127), rand(300)
    check_against_ort("Gemm", {"a": a}, {"transB": 1}, initializers={"b": b, "c": c}, threads=threads,
                      rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64])
def test_gemm_other_types(dtype):
    """ONNX Runtime has no integer Gemm: compare with numpy."""
    feeds = {"a": rand(3, 5, dtype=dtype), "b": rand(5, 4, dtype=dtype), "c": rand(4, dtype=dtype)}
    model = make_model("Gemm", feeds, {"transB": 0})
    got = run_fastinfer(model, feeds)[0]
    want = (feeds["a"] @ feeds["b"] + feeds["c"]).astype(dtype)
    assert_close(got, want, 1e-12, 1e-12, what="Gemm")


def test_gemm_opset_9_requires_c():
    check_against_ort("Gemm", {"a": rand(3, 5), "b": rand(5, 4), "c": rand(3, 4)}, opset=9, rtol=1e-5)


def test_gemm_bad_c():
    m = make_model("Gemm", {"a": rand(3, 5), "b": rand(5, 4), "c": rand(2, 4)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"a": rand(3, 5), "b": rand(5, 4), "c": rand(2, 4)})


# ---- Conv ---------------------------------------------------------------------------------------

CONV_CASES = [
    # x shape, w shape, attrs
    ((1, 3, 7, 7), (4, 3, 3, 3), {}),
    ((2, 3, 17, 13), (8, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ((1, 4, 9, 9), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),
    ((1, 6, 11, 7), (9, 2, 3, 2), {"group": 3, "dilations": [2, 1], "pads": [0, 1, 2, 0]}),
    ((2, 5, 33), (7, 5, 3), {"strides": [3], "pads": [2, 1]}),
    ((1, 2, 5, 6, 7), (3, 2, 3, 3, 2), {"pads": [1, 0, 1, 1, 0, 1], "strides": [1, 2, 1]}),
    ((1, 3, 17, 17), (5, 3, 4, 4), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 17, 17), (5, 3, 4, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
    ((1, 3, 17, 16), (5, 3, 3, 4), {"auto_pad": "VALID", "strides": [3, 2]}),
    ((1, 65, 7, 7), (33, 65, 1, 1), {}),
    ((1, 16, 12, 12), (16, 1, 5, 5), {"group": 16, "pads": [2, 2, 2, 2], "strides": [2, 2]}),
    ((3, 8, 9, 10), (8, 2, 3, 3), {"group": 4, "kernel_shape": [3, 3], "strides": [1, 3]}),
]


@pytest.mark.parametrize("xs,ws,attrs", CONV_CASES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_conv(xs, ws, attrs, bias, threads):
    inits = {"w": rand(*ws)}
    if bias:
        inits["b"] = rand(ws[0])
    check_against_ort("Conv", {"x": rand(*xs)}, attrs, initializers=inits, threads=threads, rtol=1e-4, atol=1e-4)


def test_conv_weights_as_input_and_double():
    x, w, b = rand(1, 3, 7, 7), rand(4, 3, 3, 3), rand(4)
    check_against_ort("Conv", {"x": x, "w": w, "b": b}, {"pads": [1, 1, 1, 1]}, rtol=1e-4, atol=1e-4)
    # ONNX Runtime has no double Conv: the reference path in double against ORT's float result
    feeds = {"x": x, "w": w}
    model = make_model("Conv", feeds, {"strides": [2, 1]})
    model.graph.output[0].type.tensor_type.elem_type = onnx_type(x)
    ref = run_ort(model, feeds)[0]
    feeds64 = {k: v.astype(np.float64) for k, v in feeds.items()}
    got = run_fastinfer(make_model("Conv", feeds64, {"strides": [2, 1]}), feeds64)[0]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_conv_bad_channels():
    m = make_model("Conv", {"x": rand(1, 3, 5, 5), "w": rand(4, 2, 3, 3)})
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.InvalidModel)):  # contradiction: at load
        run_fastinfer(m, {"x": rand(1, 3, 5, 5), "w": rand(4, 2, 3, 3)})


def test_conv_kernel_larger_than_input():
    m = make_model("Conv", {"x": rand(1, 1, 2, 2), "w": rand(1, 1, 3, 3)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"x": rand(1, 1, 2, 2), "w": rand(1, 1, 3, 3)})


# ---- ConvTranspose ------------------------------------------------------------------------------

CONVT_CASES = [
    ((1, 3, 5, 5), (3, 2, 3, 3), {}),
    ((2, 4, 7, 6), (4, 3, 3, 2), {"strides": [2, 3], "pads": [1, 0, 1, 1]}),
    ((1, 4, 5, 5), (4, 2, 3, 3), {"group": 2, "strides": [2, 2], "output_padding": [1, 1]}),
    ((1, 6, 4, 4), (6, 1, 3, 3), {"group": 6, "dilations": [2, 2]}),
    ((2, 3, 17), (3, 5, 4), {"strides": [3], "pads": [1, 2]}),
    ((1, 2, 3, 4, 3), (2, 3, 2, 3, 2), {"strides": [2, 1, 2]}),
    ((1, 2, 5, 5), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [11, 12]}),
    ((1, 2, 5, 5), (2, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 5, 5), (2, 3, 4, 4), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 33, 7, 7), (33, 17, 1, 1), {}),
    ((1, 2, 5, 6), (2, 3, 4, 4), {"strides": [3, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 5, 6), (2, 3, 4, 4), {"strides": [2, 2], "output_shape": [12, 13]}),
    ((1, 2, 5, 6), (2, 3, 4, 4), {"strides": [2, 2], "pads": [0, 1, 2, 0], "output_padding": [1, 1],
                                  "dilations": [2, 1]}),
]


@pytest.mark.parametrize("xs,ws,attrs", CONVT_CASES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_conv_transpose(xs, ws, attrs, bias, threads):
    inits = {"w": rand(*ws)}
    if bias:
        inits["b"] = rand(ws[1] * attrs.get("group", 1))
    check_against_ort("ConvTranspose", {"x": rand(*xs)}, attrs, initializers=inits, threads=threads,
                      rtol=1e-4, atol=1e-4)


def test_conv_transpose_weight_as_input():
    check_against_ort("ConvTranspose", {"x": rand(2, 4, 5, 3), "w": rand(4, 3, 3, 3)},
                      {"strides": [2, 2], "group": 2}, rtol=1e-4, atol=1e-4)


def test_conv_transpose_bad_channels():
    feeds = {"x": rand(1, 3, 5, 5), "w": rand(4, 2, 3, 3)}
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("ConvTranspose", feeds), feeds)


# ---- Einsum -------------------------------------------------------------------------------------

EINSUM_CASES = [
    ("ij,jk->ik", [(7, 17), (17, 3)]),
    ("bij,bjk->bik", [(3, 7, 5), (3, 5, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 7, 17), (2, 3, 5, 17)]),
    ("ij,kj->ik", [(7, 17), (3, 17)]),
    ("ij,jk", [(4, 5), (5, 6)]),
    ("ij->ji", [(3, 7)]),
    ("ii->i", [(5, 5)]),
    ("ii", [(5, 5)]),
    ("bii->bi", [(2, 4, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (1, 3, 5, 6)]),
    ("...ij,...jk", [(2, 1, 4, 5), (2, 3, 5, 6)]),
    ("i,i->", [(7,)]*2),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 6)]),
    ("ijk->", [(2, 3, 4)]),
    ("ij,jk->k", [(3, 4), (4, 5)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("ab...,b->a...", [(3, 4, 2, 5), (4,)]),
    ("BIj,BJj->BIJ", [(2, 3, 4), (2, 5, 4)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES)
@pytest.mark.parametrize("threads", [1, 2])
def test_einsum(eq, shapes, threads):
    inputs = {f"x{i}": rand(*s) for i, s in enumerate(shapes)}
    check_against_ort("Einsum", inputs, {"equation": eq}, threads=threads, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64])
def test_einsum_other_types(dtype):
    inputs = {"x0": rand(2, 3, 4, dtype=dtype), "x1": rand(2, 4, 5, dtype=dtype)}
    check_against_ort("Einsum", inputs, {"equation": "bij,bjk->bik"}, rtol=1e-9, atol=1e-9)


def test_einsum_errors():
    feeds = {"x0": rand(3, 4), "x1": rand(5, 6)}
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("Einsum", feeds, {"equation": "ij,jk->ik"}), feeds)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("Einsum", feeds, {"equation": "ijk,jk->ik"}), feeds)
    with pytest.raises(fastinfer.InvalidModel):
        run_fastinfer(make_model("Einsum", feeds, {"equation": "i1,jk->ik"}), feeds)
    with pytest.raises(fastinfer.InvalidModel):
        run_fastinfer(make_model("Einsum", feeds, {"equation": "ij->ij"}), feeds)


def test_einsum_ellipsis_of_different_ranks():
    """ONNX Runtime rejects ellipses of different ranks; numpy broadcasts them."""
    feeds = {"x0": rand(2, 3, 4, 5), "x1": rand(3, 5, 6)}
    for eq in ["...ij,...jk->...ik", "...ij,...jk"]:
        got = run_fastinfer(make_model("Einsum", feeds, {"equation": eq}), feeds)[0]
        np.testing.assert_allclose(got, np.einsum(eq, feeds["x0"], feeds["x1"]), rtol=1e-4, atol=1e-4)


# ---- DeformConv ---------------------------------------------------------------------------------

DEFORM_CASES = [
    # x, w, attrs, offset_group
    ((1, 2, 5, 6), (3, 2, 2, 2), {"pads": [1, 1, 1, 1]}, 1),
    ((2, 4, 7, 5), (6, 2, 3, 3), {"group": 2, "strides": [2, 1], "dilations": [1, 2], "pads": [1, 2, 0, 1]}, 2),
    ((1, 3, 6, 6), (4, 3, 3, 3), {"strides": [2, 2]}, 3),
]


@pytest.mark.parametrize("xs,ws,attrs,og", DEFORM_CASES)
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_deform_conv(xs, ws, attrs, og, with_mask, threads):
    """Offsets up to +-2 pixels (so samples fall outside too), optional mask and bias."""
    from onnx.reference import ReferenceEvaluator

    x, w = rand(*xs), rand(*ws)
    kh, kw = ws[2:]
    pads = attrs.get("pads", [0, 0, 0, 0])
    st = attrs.get("strides", [1, 1])
    dil = attrs.get("dilations", [1, 1])
    oh = (xs[2] + pads[0] + pads[2] - (kh - 1) * dil[0] - 1) // st[0] + 1
    ow = (xs[3] + pads[1] + pads[3] - (kw - 1) * dil[1] - 1) // st[1] + 1
    feeds = {"x": x, "w": w, "offset": (2 * rand(xs[0], og * kh * kw * 2, oh, ow)).astype(np.float32),
             "b": rand(ws[0])}
    names = ["x", "w", "offset", "b"]
    if with_mask:
        feeds["mask"] = rand(xs[0], og * kh * kw, oh, ow)
        names.append("mask")
    model = make_model("DeformConv", feeds, dict(attrs, offset_group=og), opset=19, input_names=names)
    model.graph.output[0].type.tensor_type.elem_type = onnx_type(x)
    got = run_fastinfer(model, feeds, threads)[0]
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_deform_conv_bad_offset_shape():
    feeds = {"x": rand(1, 2, 5, 5), "w": rand(3, 2, 3, 3), "offset": rand(1, 17, 3, 3)}
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(make_model("DeformConv", feeds, opset=19), feeds)


# ---- float16 (reference paths, float accumulation) ----------------------------------------------

F16 = np.float16
F16_CASES = [
    ("MatMul", {"a": (2, 3, 17), "b": (17, 5)}, {}),
    ("Gemm", {"a": (7, 5), "b": (4, 5), "c": (4,)}, {"transB": 1, "alpha": 0.5}),
    ("Conv", {"x": (1, 2, 7, 6), "w": (4, 2, 3, 3), "b": (4,)}, {"pads": [1, 1, 1, 1]}),
    ("ConvTranspose", {"x": (1, 2, 5, 5), "w": (2, 3, 3, 3)}, {"strides": [2, 2]}),
    ("Einsum", {"x": (3, 5), "y": (5, 4)}, {"equation": "ij,jk->ik"}),
]


@pytest.mark.parametrize("op,shapes,attrs", F16_CASES)
def test_float16(op, shapes, attrs):
    feeds = {k: rand(*s, dtype=F16) for k, s in shapes.items()}
    check_against_ort(op, feeds, attrs, rtol=1e-2, atol=1e-2)
