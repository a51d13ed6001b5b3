"""com.microsoft MultiHeadAttention and Attention on the fused attention kernel: against ONNX Runtime on odd
shapes, masks and layouts, against a numpy reference on every ISA path (child processes per
FASTINFER_ISA), and its error paths."""

from __future__ import annotations

import json
import subprocess
import sys

import fastinfer
import numpy as np
import pytest
from child_env import child_env
from op_helpers import check_against_ort, make_model, rng, run_fastinfer

MS = {"domain": "com.microsoft"}
TOL = {"rtol": 1e-5, "atol": 2e-5}


def _qkv(r, b, s, l, n, d, dv=None):
    dv = d if dv is None else dv
    q = r.standard_normal((b, s, n * d)).astype(np.float32)
    k = r.standard_normal((b, l, n * d)).astype(np.float32)
    v = r.standard_normal((b, l, n * dv)).astype(np.float32)
    return q, k, v


SHAPES = [  # (B, S, L, N, D)
    (1, 1, 1, 1, 8),
    (2, 7, 7, 2, 8),
    (1, 33, 33, 3, 64),
    (2, 129, 129, 2, 80),
    (1, 7, 300, 2, 64),   # keys over several key blocks
    (1, 300, 5, 1, 16),
]


@pytest.mark.parametrize("b,s,l,n,d", SHAPES)
def test_mha_plain(b, s, l, n, d):
    q, k, v = _qkv(rng(s + l), b, s, l, n, d)
    check_against_ort("MultiHeadAttention", {"q": q, "k": k, "v": v}, {"num_heads": n}, **MS, **TOL)


@pytest.mark.parametrize("b,s,l,n,d", SHAPES[1:4])
@pytest.mark.parametrize("threads", [1, 2])
def test_mha_key_padding_mask_2d(b, s, l, n, d, threads):
    r = rng(1)
    q, k, v = _qkv(r, b, s, l, n, d)
    m = (r.random((b, l)) > 0.3).astype(np.int32)
    m[:, 0] = 1
    check_against_ort("MultiHeadAttention", {"q": q, "k": k, "v": v, "m": m}, {"num_heads": n},
                      input_names=["q", "k", "v", "", "m"], threads=threads, **MS, **TOL)


def test_mha_key_lengths_and_fully_masked():
    r = rng(2)
    q, k, v = _qkv(r, 3, 7, 9, 2, 8)
    lens = np.array([9, 1, 4], np.int32)
    check_against_ort("MultiHeadAttention", {"q": q, "k": k, "v": v, "m": lens}, {"num_heads": 2},
                      input_names=["q", "k", "v", "", "m"], **MS, **TOL)
    m = np.zeros((3, 9), np.int32)  # every key masked: mask_filter_value is finite, rows stay defined
    check_against_ort("MultiHeadAttention", {"q": q, "k": k, "v": v, "m": m},
                      {"num_heads": 2, "mask_filter_value": -50.0}, input_names=["q", "k", "v", "", "m"], **MS, **TOL)


@pytest.mark.parametrize("shape", [(2, 3, 33, 17), (1, 3, 33, 17), (2, 1, 33, 17), (1, 1, 33, 17)])
def test_mha_attention_bias(shape):
    r = rng(3)
    q, k, v = _qkv(r, 2, 33, 17, 3, 64)
    ab = r.standard_normal(shape).astype(np.float32)
    check_against_ort("MultiHeadAttention", {"q": q, "k": k, "v": v, "ab": ab}, {"num_heads": 3, "scale": 0.3},
                      input_names=["q", "k", "v", "", "", "ab"], threads=2, **MS, **TOL)


def test_mha_bias_bnsh_causal_dv():
    r = rng(4)
    b, s, l, n, d = 2, 17, 17, 2, 8
    q, k, v = _qkv(r, b, s, l, n, d, dv=24)
    bias = r.standard_normal(2 * n * d + n * 24).astype(np.float32)
    check_against_ort("MultiHeadAttention", {"q": q, "k": k, "v": v, "b": bias}, {"num_heads": n}, **MS, **TOL)
    check_against_ort("MultiHeadAttention", {"q": q, "k": k, "v": v}, {"num_heads": n, "unidirectional": 1},
                      **MS, **TOL)
    q2, k2, v2 = _qkv(r, b, 33, 17, n, d)
    check_against_ort("MultiHeadAttention", {"q": q2, "k": k2, "v": v2}, {"num_heads": n, "unidirectional": 1},
                      **MS, **TOL)
    q, k, v = _qkv(r, b, s, l, n, d)
    k4 = k.reshape(b, l, n, d).transpose(0, 2, 1, 3).copy()
    v4 = v.reshape(b, l, n, d).transpose(0, 2, 1, 3).copy()
    check_against_ort("MultiHeadAttention", {"q": q, "k": k4, "v": v4}, {"num_heads": n}, **MS, **TOL)


def test_mha_empty():
    q, k, v = _qkv(rng(5), 2, 0, 5, 2, 8)
    model = make_model("MultiHeadAttention", {"q": q, "k": k, "v": v}, {"num_heads": 2}, **MS)
    (y,) = run_fastinfer(model, {"q": q, "k": k, "v": v})
    assert y.shape == (2, 0, 16)
    q, k, v = _qkv(rng(5), 2, 3, 0, 2, 8)
    model = make_model("MultiHeadAttention", {"q": q, "k": k, "v": v}, {"num_heads": 2}, **MS)
    (y,) = run_fastinfer(model, {"q": q, "k": k, "v": v})
    assert y.shape == (2, 3, 16) and not y.any()


def _run(model, feeds):
    return fastinfer.Session(model.SerializeToString()).run(None, feeds)


def test_mha_errors():
    q, k, v = _qkv(rng(6), 2, 5, 5, 2, 8)
    model = make_model("MultiHeadAttention", {"q": q, "k": k, "v": v}, {"num_heads": 2}, **MS)
    with pytest.raises(fastinfer.InvalidArgument):
        _run(model, {"q": q, "k": k[:1], "v": v})
    with pytest.raises(fastinfer.InvalidArgument):
        _run(model, {"q": q, "k": k, "v": v[:, :4]})
    with pytest.raises(fastinfer.InvalidArgument):
        _run(model, {"q": q[..., :15], "k": k, "v": v})
    ab = np.zeros((2, 2, 5, 4), np.float32)
    model = make_model("MultiHeadAttention", {"q": q, "k": k, "v": v, "ab": ab}, {"num_heads": 2},
                       input_names=["q", "k", "v", "", "", "ab"], **MS)
    with pytest.raises(fastinfer.InvalidArgument):
        _run(model, {"q": q, "k": k, "v": v, "ab": ab})
    m = np.ones((2, 4), np.int32)
    model = make_model("MultiHeadAttention", {"q": q, "k": k, "v": v, "m": m}, {"num_heads": 2},
                       input_names=["q", "k", "v", "", "m"], **MS)
    with pytest.raises(fastinfer.NotImplemented):
        _run(model, {"q": q, "k": k, "v": v, "m": m})
    with pytest.raises(fastinfer.InvalidModel):
        _run(make_model("MultiHeadAttention", {"q": q, "k": k, "v": v}, {"num_heads": 0}, **MS),
             {"q": q, "k": k, "v": v})
    with pytest.raises(fastinfer.NotImplemented):
        _run(make_model("MultiHeadAttention", {"q": q}, {"num_heads": 2}, **MS), {"q": q})


# ---- every ISA path against a numpy reference (child process per FASTINFER_ISA) ----

_CHILD = r"""
import json, sys
import numpy as np
import onnx
from onnx import helper
import fastinfer

def ref(q, k, v, n, scale, ab=None, kb=None, causal=False):
    b, s, _ = q.shape
    l = k.shape[1]
    d, dv = q.shape[2] // n, v.shape[2] // n
    q4 = q.reshape(b, s, n, d).transpose(0, 2, 1, 3).astype(np.float64)
    k4 = k.reshape(b, l, n, d).transpose(0, 2, 1, 3).astype(np.float64)
    v4 = v.reshape(b, l, n, dv).transpose(0, 2, 1, 3).astype(np.float64)
    sc = scale * q4 @ k4.transpose(0, 1, 3, 2)
    if ab is not None:
        sc = sc + ab
    if kb is not None:
        sc = sc + kb[:, None, None, :]
    if causal:
        sc = np.where(np.tril(np.ones((s, l), bool)), sc, -np.inf)
    sc = np.exp(sc - sc.max(-1, keepdims=True))
    p = sc / sc.sum(-1, keepdims=True)
    return (p @ v4).transpose(0, 2, 1, 3).reshape(b, s, n * dv)

def model(names, n, attrs):
    node = helper.make_node("MultiHeadAttention", names, ["y"], domain="com.microsoft", num_heads=n, **attrs)
    ins = [helper.make_tensor_value_info(x, onnx.TensorProto.UNDEFINED, None) for x in names if x]
    g = helper.make_graph([node], "g", ins, [onnx.ValueInfoProto(name="y")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    return m.SerializeToString()

worst = 0.0
r = np.random.default_rng(0)
for b, s, l, n, d, dv in [(1, 1, 1, 1, 8, 8), (2, 7, 33, 2, 8, 24), (1, 129, 129, 2, 80, 80),
                          (1, 65, 300, 3, 64, 64), (2, 17, 17, 1, 33, 7), (1, 300, 300, 2, 16, 16)]:
    q = r.standard_normal((b, s, n * d)).astype(np.float32)
    k = r.standard_normal((b, l, n * d)).astype(np.float32)
    v = r.standard_normal((b, l, n * dv)).astype(np.float32)
    ab = r.standard_normal((b, n, s, l)).astype(np.float32)
    m = (r.random((b, l)) > 0.3).astype(np.int32)
    m[:, 0] = 1
    cases = [
        (["q", "k", "v"], {}, {}, ref(q, k, v, n, d ** -0.5)),
        (["q", "k", "v", "", "m", "ab"], {"scale": 0.2}, {"m": m, "ab": ab},
         ref(q, k, v, n, 0.2, ab=ab, kb=np.where(m > 0, 0.0, -10000.0))),
    ]
    if s >= l:
        cases.append((["q", "k", "v"], {"unidirectional": 1}, {}, ref(q, k, v, n, d ** -0.5, causal=True)))
    for names, attrs, extra, want in cases:
        for threads in (1, 2):
            sess = fastinfer.Session(model(names, n, attrs), threads=threads)
            (y,) = sess.run(None, {"q": q, "k": k, "v": v, **extra})
            worst = max(worst, float(np.abs(y - want).max() / (1 + np.abs(want).max())))
print(json.dumps({"isa": fastinfer._core.cpu_info()["isa"], "err": worst}))
"""


@pytest.mark.parametrize("isa", ["ref", "avx2", "avx512"])
def test_kernel_every_isa(isa):
    env = child_env()
    env["FASTINFER_ISA"] = isa
    out = subprocess.run([sys.executable, "-c", _CHILD], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["isa"] == isa or (isa == "avx512" and res["isa"] != "ref"), res  # the CPU may lack AVX-512
    assert res["err"] < 1e-5, res


# ---- com.microsoft Attention (packed QKV projection) ----

ATT_TOL = {"rtol": 1e-4, "atol": 3e-5}  # the projection GEMM sums in another order than ORT's


@pytest.mark.parametrize("b,s,c,n,d", [(1, 1, 8, 1, 8), (1, 7, 16, 2, 8), (2, 33, 64, 3, 16), (2, 129, 48, 2, 40)])
def test_packed_attention(b, s, c, n, d):
    r = rng(s)
    x = r.standard_normal((b, s, c)).astype(np.float32)
    w = (r.standard_normal((c, 3 * n * d)) * 0.3).astype(np.float32)
    bias = r.standard_normal(3 * n * d).astype(np.float32)
    lens = r.integers(1, s + 1, size=(b,)).astype(np.int32)
    m2 = (r.random((b, s)) > 0.3).astype(np.int32)
    m2[:, 0] = 1
    m3 = (r.random((b, s, s)) > 0.3).astype(np.int32)
    m3[:, :, 0] = 1
    ab = r.standard_normal((b, n, s, s)).astype(np.float32)
    feeds = {"x": x, "w": w, "b": bias}
    check_against_ort("Attention", feeds, {"num_heads": n}, **MS, **ATT_TOL)
    check_against_ort("Attention", {"x": x}, {"num_heads": n}, initializers={"w": w, "b": bias}, threads=2,
                      **MS, **ATT_TOL)
    for m in (lens, m2, m3):
        check_against_ort("Attention", {**feeds, "m": m}, {"num_heads": n}, **MS, **ATT_TOL)
    check_against_ort("Attention", {**feeds, "ab": ab}, {"num_heads": n, "scale": 0.2},
                      input_names=["x", "w", "b", "", "", "ab"], **MS, **ATT_TOL)
    check_against_ort("Attention", feeds, {"num_heads": n, "unidirectional": 1}, **MS, **ATT_TOL)
    hv = n * 8
    check_against_ort("Attention", {"x": x, "w": w[:, :2 * n * d + hv].copy(), "b": bias[:2 * n * d + hv].copy()},
                      {"num_heads": n, "qkv_hidden_sizes": [n * d, n * d, hv]}, **MS, **ATT_TOL)


def test_packed_attention_errors():
    r = rng(7)
    x = r.standard_normal((2, 5, 16)).astype(np.float32)
    w = r.standard_normal((16, 48)).astype(np.float32)
    feeds = {"x": x, "w": w}
    model = make_model("Attention", feeds, {"num_heads": 2}, **MS)
    with pytest.raises(fastinfer.InvalidArgument):
        _run(model, {"x": x[..., :15], "w": w})
    with pytest.raises(fastinfer.InvalidArgument):
        _run(model, {"x": x, "w": w[:, :47]})
    model = make_model("Attention", {**feeds, "m": np.ones((2, 5, 5, 1), np.int32)}, {"num_heads": 2}, **MS,
                       input_names=["x", "w", "", "m"])
    with pytest.raises(fastinfer.NotImplemented):
        _run(model, {**feeds, "m": np.ones((2, 5, 5, 1), np.int32)})
    past = np.zeros((2, 2, 2, 0, 8), np.float32)
    with pytest.raises(fastinfer.NotImplemented):
        _run(make_model("Attention", {**feeds, "past": past}, {"num_heads": 2}, **MS,
                        input_names=["x", "w", "", "", "past"]), {**feeds, "past": past})
    with pytest.raises(fastinfer.InvalidModel):
        _run(make_model("Attention", feeds, {"num_heads": 2, "qkv_hidden_sizes": [16, 8, 24]}, **MS), feeds)
