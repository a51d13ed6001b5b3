"""fp32 depthwise conv kernels against a float64 numpy reference: every kernel of the family list
on odd shapes, strides, asymmetric pads, dilations, bias and clamp, single- and multi-threaded;
the Conv op's depthwise path against onnxruntime; and one model under each FASTINFER_ISA tier."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from fastinfer import _core
from op_helpers import check_against_ort

KERNELS = _core.kernels.list_kernels("f32_dwconv")
SIZES = [1, 3, 7, 17, 33]


def need(name: str) -> dict:
    """The kernel's table entry, skipping the test when this CPU cannot run it."""
    k = next(k for k in KERNELS if k["name"] == name)
    if not k["supported"]:
        pytest.skip(f"{name} needs {k['isa']}")
    return k


def reference(x, w, bias=None, strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), lo=-np.inf, hi=np.inf):
    """Depthwise conv in float64: x [N, C, H, W], w [C * mult, 1, KH, KW]."""
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    mult = m // c
    xp = np.zeros((n, c, h + pads[0] + pads[2], wd + pads[1] + pads[3]))
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    oh = (xp.shape[2] - (kh - 1) * dil[0] - 1) // strides[0] + 1
    ow = (xp.shape[3] - (kw - 1) * dil[1] - 1) // strides[1] + 1
    y = np.zeros((n, m, oh, ow))
    xin = np.repeat(xp, mult, axis=1)
    for ky in range(kh):
        for kx in range(kw):
            ys, xs = ky * dil[0], kx * dil[1]
            patch = xin[:, :, ys:ys + (oh - 1) * strides[0] + 1:strides[0], xs:xs + (ow - 1) * strides[1] + 1:strides[1]]
            y += patch * w[None, :, 0, ky, kx, None, None]
    if bias is not None:
        y += bias[None, :, None, None]
    return np.clip(y, lo, hi)


def cases(k):
    """(kh, kw, strides, dilations) combinations the kernel fits, kernel size and width stride first."""
    sizes = [(k["kh"], k["kw"])] if k["kh"] else [(3, 3), (1, 1), (2, 5), (7, 7)]
    sws = [k["sw"]] if k["sw"] else [1, 2, 3]
    out = []
    for kh, kw in sizes:
        for sw in sws:
            for sh in (1, 2):
                for dil in ((1, 1), (2, 1), (1, 3)):
                    out.append((kh, kw, (sh, sw), dil))
    return out


@pytest.mark.parametrize("name", [k["name"] for k in KERNELS])
def test_kernel_against_reference(name):
    k = need(name)
    rng = np.random.default_rng(sum(map(ord, name)))
    for i, (kh, kw, strides, dil) in enumerate(cases(k)):
        h, wd = SIZES[i % 5], SIZES[(i * 3 + 1) % 5]
        if i % 4 == 0:
            h, wd = int(rng.choice(SIZES)), 33
        pads = [int(p) for p in rng.integers(0, 3, 4)]
        if (h + pads[0] + pads[2] - (kh - 1) * dil[0] - 1) < 0 or (wd + pads[1] + pads[3] - (kw - 1) * dil[1] - 1) < 0:
            continue
        c, mult = int(rng.choice([1, 3, 5])), int(rng.choice([1, 1, 2]))
        x = rng.standard_normal((2, c, h, wd), dtype=np.float32)
        w = rng.standard_normal((c * mult, 1, kh, kw), dtype=np.float32)
        bias = rng.standard_normal(c * mult, dtype=np.float32) if i % 2 else None
        lo, hi = (-0.5, 1.5) if i % 3 == 0 else (-np.inf, np.inf)
        got = _core.kernels.f32_dwconv(name, x, w, bias, list(strides), pads, list(dil), lo, hi)
        want = reference(x, w, bias, strides, pads, dil, lo, hi)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                                   err_msg=f"{name} h={h} w={wd} k={kh}x{kw} s={strides} d={dil} p={pads}")


@pytest.mark.parametrize("name", [k["name"] for k in KERNELS])
def test_wide_rows_and_threads(name):
    """Rows longer than a block (several full blocks + tail), several threads."""
    k = need(name)
    kh, kw = (k["kh"], k["kw"]) if k["kh"] else (3, 3)
    sw = k["sw"] or 2
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 7, 9, 150), dtype=np.float32)
    w = rng.standard_normal((7, 1, kh, kw), dtype=np.float32)
    bias = rng.standard_normal(7, dtype=np.float32)
    for threads in (1, 3):
        got = _core.kernels.f32_dwconv(name, x, w, bias, [1, sw], [1, 2, 0, 1], [1, 1], 0.0, 6.0, threads)
        np.testing.assert_allclose(got, reference(x, w, bias, (1, sw), (1, 2, 0, 1), lo=0.0, hi=6.0),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", [k["name"] for k in KERNELS if k["sw"] in (0, 1)])
def test_width_keeping_stride1(name):
    """Stride 1 with left + right pad == (kw - 1) * dilation (the flat path for small planes), on
    planes around the flat size limit, with a channel multiplier and uneven top/bottom pads."""
    k = need(name)
    kh, kw = (k["kh"], k["kw"]) if k["kh"] else (3, 5)
    rng = np.random.default_rng(11)
    for h, wd, dil, mult in [(1, 1, 1, 1), (7, 7, 1, 2), (3, 33, 1, 1), (16, 16, 1, 1), (17, 15, 2, 1),
                             (8, 32, 1, 3), (33, 7, 1, 1), (31, 33, 1, 1), (32, 33, 1, 2)]:
        pl = int(rng.integers(0, (kw - 1) * dil + 1))
        pads = [int(rng.integers(0, kh)), pl, int(rng.integers(0, kh)), (kw - 1) * dil - pl]
        if h + pads[0] + pads[2] < (kh - 1) * dil + 1:
            continue
        x = rng.standard_normal((2, 3, h, wd), dtype=np.float32)
        w = rng.standard_normal((3 * mult, 1, kh, kw), dtype=np.float32)
        bias = rng.standard_normal(3 * mult, dtype=np.float32)
        got = _core.kernels.f32_dwconv(name, x, w, bias, [1, 1], pads, [dil, dil], -1.0, 2.0, 2)
        want = reference(x, w, bias, (1, 1), pads, (dil, dil), -1.0, 2.0)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{name} {h}x{wd} d={dil} p={pads}")


@pytest.mark.parametrize("name", [k["name"] for k in KERNELS if k["sw"] in (0, 2)])
def test_small_stride2_planes(name):
    """Small stride-2 planes, e.g. 3x3 pad 1, over odd and even sizes, uneven pads, dilation and a
    channel multiplier."""
    k = need(name)
    kh, kw = (k["kh"], k["kw"]) if k["kh"] else (3, 3)
    rng = np.random.default_rng(13)
    for h, wd, dil, mult in [(1, 1, 1, 1), (14, 14, 1, 1), (7, 33, 1, 2), (17, 3, 1, 1), (33, 60, 1, 1),
                             (13, 9, 2, 3)]:
        pt, pl = (kh - 1) * dil - int(rng.integers(0, 2)), (kw - 1) * dil - int(rng.integers(0, 2))
        pads = [max(pt, 0), max(pl, 0), int(rng.integers(0, 2)), int(rng.integers(0, 3))]
        x = rng.standard_normal((2, 3, h, wd), dtype=np.float32)
        w = rng.standard_normal((3 * mult, 1, kh, kw), dtype=np.float32)
        bias = rng.standard_normal(3 * mult, dtype=np.float32)
        got = _core.kernels.f32_dwconv(name, x, w, bias, [2, 2], pads, [dil, dil], -1.0, 2.0, 2)
        want = reference(x, w, bias, (2, 2), pads, (dil, dil), -1.0, 2.0)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{name} {h}x{wd} d={dil} p={pads}")


def test_nan_propagates_through_clamp():
    x = np.full((1, 1, 3, 40), np.nan, np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    for k in KERNELS:
        if k["supported"] and k["kh"] in (0, 3) and k["sw"] in (0, 1):
            got = _core.kernels.f32_dwconv(k["name"], x, w, pads=[1, 1, 1, 1], clamp_min=0.0, clamp_max=6.0)
            assert np.isnan(got).all(), k["name"]


def test_bad_arguments():
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError):
        _core.kernels.f32_dwconv("nope", x, np.zeros((2, 1, 3, 3), np.float32))
    with pytest.raises(ValueError):  # a 3x3 kernel given a 5x5 weight
        _core.kernels.f32_dwconv("f32_dwconv_3x3s1__avx2", x, np.zeros((2, 1, 5, 5), np.float32))
    with pytest.raises(ValueError):
        _core.kernels.f32_dwconv("f32_dwconv_kxk__ref", x, np.zeros((3, 1, 3, 3), np.float32))


def test_selection_prefers_specialised():
    names = {k["name"] for k in KERNELS if k["supported"]}
    assert "f32_dwconv_kxk__ref" in names


# --- the Conv op's depthwise path against onnxruntime ---------------------------------------------

DW_CASES = [
    # (N, C, H, W, mult, kh, kw, strides, pads, dilations)
    (1, 5, 17, 17, 1, 3, 3, [1, 1], [1, 1, 1, 1], [1, 1]),
    (2, 3, 33, 7, 1, 3, 3, [2, 2], [1, 1, 1, 1], [1, 1]),
    (1, 7, 7, 33, 1, 3, 3, [2, 2], [0, 1, 1, 0], [1, 1]),
    (1, 3, 17, 33, 2, 5, 5, [1, 2], [2, 2, 2, 2], [1, 1]),
    (1, 3, 17, 17, 1, 3, 3, [1, 1], [2, 2, 2, 2], [2, 2]),
    (2, 5, 1, 3, 1, 3, 3, [1, 1], [1, 1, 1, 1], [1, 1]),
    (1, 9, 33, 33, 1, 7, 7, [3, 1], [3, 2, 3, 1], [1, 1]),
    (1, 3, 12, 12, 3, 3, 3, [2, 2], [0, 0, 1, 1], [1, 1]),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", DW_CASES, ids=lambda c: "x".join(map(str, c[:7])) + f"s{c[7]}p{c[8]}d{c[9]}")
def test_conv_depthwise_vs_ort(case, threads):
    n, c, h, wd, mult, kh, kw, strides, pads, dil = case
    rng = np.random.default_rng(c * h + wd)
    x = rng.standard_normal((n, c, h, wd), dtype=np.float32)
    w = rng.standard_normal((c * mult, 1, kh, kw), dtype=np.float32)
    b = rng.standard_normal(c * mult, dtype=np.float32)
    attrs = {"group": c, "strides": strides, "pads": pads, "dilations": dil, "kernel_shape": [kh, kw]}
    check_against_ort("Conv", {"X": x}, attrs, initializers={"W": w, "B": b}, threads=threads,
                      rtol=1e-4, atol=1e-4)
    check_against_ort("Conv", {"X": x, "W": w}, attrs, threads=threads, rtol=1e-4, atol=1e-4)


def test_conv_depthwise_auto_pad_vs_ort():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 4, 17, 16), dtype=np.float32)
    w = rng.standard_normal((4, 1, 3, 3), dtype=np.float32)
    for ap in ["SAME_UPPER", "SAME_LOWER", "VALID"]:
        check_against_ort("Conv", {"X": x, "W": w}, {"group": 4, "strides": [2, 2], "auto_pad": ap}, rtol=1e-4, atol=1e-4)


_ISA_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    import fastinfer
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    prev = "x"
    for i, (k, s, p) in enumerate([(3, 1, 1), (3, 2, 1), (5, 1, 2), (5, 2, 2), (7, 1, 3), (3, 1, 2)]):
        w = (rng.standard_normal((6, 1, k, k)) / k).astype(np.float32)
        b = rng.standard_normal(6).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        d = 2 if i == 5 else 1
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"y{i}"], group=6, strides=[s, s],
                                      pads=[p, p, p, p], dilations=[d, d]))
        prev = f"y{i}"
    f = TensorProto.FLOAT
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [2, 6, 67, 61])],
                          [helper.make_tensor_value_info(prev, f, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = rng.standard_normal((2, 6, 67, 61)).astype(np.float32)
    (y,) = fastinfer.Session(m.SerializeToString(), threads=2).run(None, {"x": x})
    np.save(sys.argv[1], y)
    print(fastinfer._core.cpu_info()["isa"])
""")


def test_same_model_under_every_isa(tmp_path):
    """A chain of depthwise convs under FASTINFER_ISA=ref, avx2 and avx512 gives the same numbers."""
    script = tmp_path / "run.py"
    script.write_text(_ISA_SCRIPT)
    outs = {}
    for isa in ["ref", "avx2", "avx512"]:
        path = tmp_path / f"{isa}.npy"
        r = subprocess.run([sys.executable, str(script), str(path)], env=dict(os.environ, FASTINFER_ISA=isa),
                           capture_output=True, text=True, check=False, timeout=60)
        assert r.returncode == 0, r.stderr
        outs[r.stdout.strip()] = np.load(path)
    assert "ref" in outs
    for isa, y in outs.items():
        np.testing.assert_allclose(y, outs["ref"], rtol=1e-4, atol=1e-3, err_msg=isa)
