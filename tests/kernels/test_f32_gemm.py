"""fp32 GEMM microkernels against a float64 numpy reference: every kernel of the family list, on
shapes with tails, packed and plain B, with epilogues, single- and multi-threaded; and one model
run under each FASTINFER_ISA tier in subprocesses."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from fastinfer import _core

KERNELS = _core.kernels.list_kernels("f32_gemm")
SIZES = [1, 3, 7, 17, 33, 65, 127]


def kernel_ids():
    """Names of every kernel in the family list."""
    return [k["name"] for k in KERNELS]


def need(name: str) -> dict:
    """The kernel's table entry, skipping the test when this CPU cannot run it."""
    k = next(k for k in KERNELS if k["name"] == name)
    if not k["supported"]:
        pytest.skip(f"{name} needs {k['isa']}")
    return k


_erf = np.vectorize(math.erf)
ACTS = {
    "none": lambda x: x,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "silu": lambda x: x / (1 + np.exp(-x)),
    "gelu_erf": lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "hardswish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
}


def reference(a, b, bias=None, bias_per_row=False, residual=None, alpha=1.0, beta=1.0,
              lo=-np.inf, hi=np.inf, act="none"):
    """The epilogue(A @ B) in float64: alpha, bias, residual, activation, clamp."""
    y = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    if bias is not None:
        y = y + (bias[:, None] if bias_per_row else bias[None, :])
    if residual is not None:
        y = y + beta * residual
    return np.clip(ACTS[act](y), lo, hi)


def check(got, want, k):
    tol = 1e-5 * max(1, k) ** 0.5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 4)


def test_list_has_every_tier():
    isas = {k["isa"] for k in KERNELS}
    assert {"ref", "avx2", "avx512"} <= isas
    assert any(k["supported"] and k["isa"] == "ref" for k in KERNELS)


@pytest.mark.parametrize("name", kernel_ids())
def test_shapes_with_tails(name):
    need(name)
    rng = np.random.default_rng(1)
    for m in SIZES:
        for n in SIZES:
            k = int(rng.choice(SIZES))
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            got = _core.kernels.f32_gemm(name, a, b, packed=bool((m + n) % 2))
            check(got, reference(a, b), k)


@pytest.mark.parametrize("name", kernel_ids())
def test_packed_a_and_few_rows(name):
    """The packed-A entry point, and every row count 1..8 (the small-M shapes), with tails in N."""
    need(name)
    rng = np.random.default_rng(11)
    for m in [1, 2, 3, 4, 5, 6, 7, 8, 13, 33]:
        n, k = int(rng.choice([1, 17, 65, 127])), int(rng.choice([1, 7, 64, 129]))
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        bias = rng.standard_normal(m, dtype=np.float32)
        for pack_a in (False, True):
            got = _core.kernels.f32_gemm(name, a, b, bias=bias, bias_per_row=True, pack_a=pack_a,
                                         threads=1 + m % 3)
            check(got, reference(a, b, bias, True), k)


@pytest.mark.parametrize("name", kernel_ids())
def test_short_last_tile_shared(name):
    """M = j*MR + r with a short remainder r < MR/2: the driver splits the last MR + r rows over two
    tiles (7x7 = 49 rows on 12-row tiles: ..., 7, 6). A read in place (few columns) and packed per
    block (many), bias per row and a residual, 1 and 2 threads."""
    k_ = need(name)
    mr = k_["mr"]
    rng = np.random.default_rng(5)
    for j in (1, 2, 4):
        for r in range(1, max(2, (mr + 1) // 2)):
            m = j * mr + r
            for n in (k_["nr"] + 3, 9 * k_["nr"] + 1):
                k = int(rng.choice([5, 64, 300]))
                a = rng.standard_normal((m, k), dtype=np.float32)
                b = rng.standard_normal((k, n), dtype=np.float32)
                bias = rng.standard_normal(m, dtype=np.float32)
                res = rng.standard_normal((m, n), dtype=np.float32)
                got = _core.kernels.f32_gemm(name, a, b, bias=bias, bias_per_row=True, residual=res,
                                             packed=bool(n % 2), threads=1 + (m + n) % 2)
                check(got, reference(a, b, bias, True, res), k)


@pytest.mark.parametrize("name", kernel_ids())
@pytest.mark.parametrize("act", sorted(ACTS))
def test_activations(name, act):
    """act(alpha * A @ B + bias + residual), then the clamp, on tiles with tails."""
    need(name)
    rng = np.random.default_rng(5)
    m, n, k = 19, 37, 23
    a = rng.standard_normal((m, k), dtype=np.float32) * 0.5
    b = rng.standard_normal((k, n), dtype=np.float32) * 0.5
    bias = rng.standard_normal(n, dtype=np.float32)
    res = rng.standard_normal((m, n), dtype=np.float32)
    for lo, hi in [(-np.inf, np.inf), (-0.1, 0.7)]:
        got = _core.kernels.f32_gemm(name, a, b, bias=bias, residual=res, alpha=0.7, act=act, clamp_min=lo,
                                     clamp_max=hi, pack_a=lo > -np.inf, c_pad=3)
        want = reference(a, b, bias, False, res, 0.7, 1.0, lo, hi, act)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_bad_activation():
    with pytest.raises(ValueError):
        _core.kernels.f32_gemm(KERNELS[0]["name"], np.ones((2, 2), np.float32), np.ones((2, 2), np.float32),
                               act="relu6")


def test_fma_peak():
    """The peak loop runs for each ISA the CPU allows and reports 0 for the others."""
    allowed = {k["isa"] for k in KERNELS if k["supported"]}
    for isa in ("avx2", "avx512"):
        g = _core.kernels.f32_fma_peak(isa, 0.01)
        assert (g > 1.0) if isa in allowed else g == 0.0, (isa, g)
    with pytest.raises(ValueError):
        _core.kernels.f32_fma_peak("sse", 0.01)


@pytest.mark.parametrize("name", kernel_ids())
@pytest.mark.parametrize("k", [1, 255, 1023, 1025, 2100])
def test_k_around_block(name, k):
    kern = need(name)
    rng = np.random.default_rng(k)
    m, n = 2 * kern["mr"] + 1, 3 * kern["nr"] + 5
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    for pack_a in (False, True):
        got = _core.kernels.f32_gemm(name, a, b, bias=bias, clamp_min=-1.0, pack_a=pack_a)
        check(got, reference(a, b, bias, lo=-1.0), k)


@pytest.mark.parametrize("name", kernel_ids())
def test_k_zero_applies_epilogue(name):
    need(name)
    a = np.zeros((5, 0), np.float32)
    b = np.zeros((0, 9), np.float32)
    bias = np.arange(5, dtype=np.float32)
    got = _core.kernels.f32_gemm(name, a, b, bias=bias, bias_per_row=True)
    np.testing.assert_array_equal(got, np.repeat(bias[:, None], 9, axis=1))


@pytest.mark.parametrize("name", kernel_ids())
@pytest.mark.parametrize("rshape", ["full", "row", "col", "scalar"])
def test_epilogues(name, rshape):
    need(name)
    rng = np.random.default_rng(7)
    m, n, k = 17, 33, 65
    a = rng.standard_normal((m, k), dtype=np.float32)
    bt = rng.standard_normal((n, k), dtype=np.float32)
    bias = rng.standard_normal(m, dtype=np.float32)
    shape = {"full": (m, n), "row": (1, n), "col": (m, 1), "scalar": (1, 1)}[rshape]
    res = rng.standard_normal(shape, dtype=np.float32)
    got = _core.kernels.f32_gemm(name, a, bt, bias=bias, bias_per_row=True, residual=res, alpha=0.5,
                                 beta=-2.0, clamp_min=-3.0, clamp_max=2.5, trans_b=True, packed=False)
    check(got, reference(a, bt.T, bias, True, res, 0.5, -2.0, -3.0, 2.5), k)


@pytest.mark.parametrize("name", kernel_ids())
def test_packed_transposed_b(name):
    """B given as B^T [n, k] and packed (an attention's K): columns copied 4 at a time through the
    register transpose, with tails in n (not a multiple of 4 or of the tile width) and in k."""
    k_ = need(name)
    rng = np.random.default_rng(13)
    for n in (1, 3, 4, 6, k_["nr"] + 1, 2 * k_["nr"] + 7):
        for k in (1, 3, 32, 37):
            m = int(rng.choice([1, 13, 30]))
            a = rng.standard_normal((m, k), dtype=np.float32)
            bt = rng.standard_normal((n, k), dtype=np.float32)
            got = _core.kernels.f32_gemm(name, a, bt, trans_b=True, packed=True, threads=1 + n % 2)
            check(got, reference(a, bt.T), k)


@pytest.mark.parametrize("name", kernel_ids())
def test_strided_a_and_c(name):
    need(name)
    rng = np.random.default_rng(3)
    big = rng.standard_normal((40, 90), dtype=np.float32)
    a = big[3:30, 5:70]
    b = rng.standard_normal((65, 47), dtype=np.float32)
    got = _core.kernels.f32_gemm(name, a, b, c_pad=5)
    check(got, reference(a, b), 65)


@pytest.mark.parametrize("name", kernel_ids())
@pytest.mark.parametrize("threads", [2, 3])
def test_multithreaded(name, threads):
    need(name)
    rng = np.random.default_rng(threads)
    for m, n, k in [(127, 65, 300), (1, 200, 33), (300, 7, 17), (65, 127, 513)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        res = rng.standard_normal((m, n), dtype=np.float32)
        got = _core.kernels.f32_gemm(name, a, b, residual=res, threads=threads)
        check(got, reference(a, b, residual=res), k)


def test_nan_propagates_through_clamp():
    a = np.array([[np.nan, 1.0]], np.float32)
    b = np.ones((2, 3), np.float32)
    for k in KERNELS:
        if k["supported"]:
            got = _core.kernels.f32_gemm(k["name"], a, b, clamp_min=0.0, clamp_max=6.0)
            assert np.isnan(got).all(), k["name"]


def test_bad_arguments():
    with pytest.raises(ValueError):
        _core.kernels.f32_gemm("nope", np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        _core.kernels.f32_gemm(KERNELS[0]["name"], np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        _core.kernels.list_kernels("no_such_family")


_ISA_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    import fastinfer
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((200, 37)).astype(np.float32)
    w3 = rng.standard_normal((19, 37)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("MatMul", ["z", "w2"], ["m"]),
             helper.make_node("Gemm", ["m", "w3"], ["g"], transB=1, alpha=0.5)]
    f = TensorProto.FLOAT
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [2, 3, 5, 5]),
                                       helper.make_tensor_value_info("z", f, [9, 200])],
                          [helper.make_tensor_value_info("c", f, None), helper.make_tensor_value_info("g", f, None)],
                          [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
                           numpy_helper.from_array(w3, "w3")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    feeds = {"x": rng.standard_normal((2, 3, 5, 5)).astype(np.float32),
             "z": rng.standard_normal((9, 200)).astype(np.float32)}
    c, y = fastinfer.Session(m.SerializeToString(), threads=2).run(None, feeds)
    np.savez(sys.argv[1], c=c, y=y)
    print(fastinfer._core.cpu_info()["isa"])
""")


def test_same_model_under_every_isa(tmp_path):
    """One Conv+MatMul model under FASTINFER_ISA=ref, avx2 and avx512 gives the same numbers."""
    script = tmp_path / "run.py"
    script.write_text(_ISA_SCRIPT)
    outs = {}
    for isa in ["ref", "avx2", "avx512"]:
        env = dict(os.environ, FASTINFER_ISA=isa)
        path = tmp_path / f"{isa}.npz"
        r = subprocess.run([sys.executable, str(script), str(path)], env=env, capture_output=True, text=True, check=False,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        with np.load(path) as z:
            outs[r.stdout.strip()] = (z["c"], z["y"])
    assert "ref" in outs
    for isa, (c, y) in outs.items():
        np.testing.assert_allclose(c, outs["ref"][0], rtol=1e-4, atol=1e-4, err_msg=isa)
        np.testing.assert_allclose(y, outs["ref"][1], rtol=1e-4, atol=1e-4, err_msg=isa)


@pytest.mark.parametrize("name", kernel_ids())
def test_equal_rows_give_identical_rows(name):
    """Every tile (full, partial rows, narrow panel) sums k in the same order: equal rows of A give
    bit-identical rows of C (softmax over huge logits depends on it, e.g. the light SqueezeNet)."""
    need(name)
    rng = np.random.default_rng(2)
    k, n = 300, 45
    a = np.repeat(rng.standard_normal((1, k), dtype=np.float32) * 1e4, 29, axis=0)
    b = rng.standard_normal((k, n), dtype=np.float32)
    for pack_a in (False, True):
        got = _core.kernels.f32_gemm(name, a, b, pack_a=pack_a, threads=2)
        assert (got == got[:1]).all()


@pytest.mark.parametrize("name", kernel_ids())
def test_wide_n_packs_a_in_the_driver(name):
    """More than 8 B panels per task: the driver packs A blocks when a tile's rows of a K block pass
    40 KiB or the tile has under 6 rows (k = 1000), else the tiles read A in place (tests above
    mostly read it in place)."""
    kern = need(name)
    rng = np.random.default_rng(4)
    for m, k, threads in [(1, 33, 1), (kern["mr"] + 3, 1025, 1), (2 * kern["mr"] + 1, 17, 2), (100, 64, 3),
                          (2 * kern["mr"] + 5, 1000, 1), (3 * kern["mr"], 1000, 2)]:
        n = 10 * kern["nr"] + 5
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        bias = rng.standard_normal(m, dtype=np.float32)
        got = _core.kernels.f32_gemm(name, a, b, bias=bias, bias_per_row=True, threads=threads, c_pad=1,
                                     act="silu")
        want = reference(a, b, bias, True, act="silu")
        check(got, want, k)


@pytest.mark.parametrize("m,wide", [(64, False), (128, False), (196, True), (300, True)])
def test_matmul_packs_for_the_tile_its_rows_suit(m, wide):
    """A constant-B MatMul packs B for the 6x64 tile from 196 rows of A (the 12x32 one below), as
    shape inference gives them, and gives numpy's product either way."""
    import fastinfer
    from onnx import TensorProto, helper, numpy_helper

    if _core.cpu_info()["isa"] != "avx512":
        pytest.skip("the tile choice is AVX-512's")
    rng = np.random.default_rng(m)
    b = rng.standard_normal((70, 96)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "mm",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, 70])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(b, "b")])
    sess = fastinfer.Session(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8))
    kernel = sess._describe_nodes()[0]["kernel"]
    assert ("6x64" in kernel) == wide, kernel
    a = rng.standard_normal((m, 70)).astype(np.float32)
    check(sess.run(None, {"a": a})[0], reference(a, b), 70)


def _thread_shares(m, n, mr, nr, ms, ns, threads):
    """Each thread's part of C (rows x columns) when the ms x ns blocks of C's tiles go to the
    threads in contiguous runs of tasks, task i*ns + j being block (i, j)."""
    mt, nt = -(-m // mr), -(-n // nr)
    rows = [min(m, mt * (i + 1) // ms * mr) - min(m, mt * i // ms * mr) for i in range(ms)]
    cols = [min(n, nt * (j + 1) // ns * nr) - min(n, nt * j // ns * nr) for j in range(ns)]
    tasks = ms * ns
    return [sum(rows[t // ns] * cols[t % ns] for t in range(tasks * s // threads, tasks * (s + 1) // threads))
            for s in range(threads)]


def test_split_gives_threads_even_shares():
    """The 2-D task split puts the threads' shares of C as close to even as any candidate split
    (within 2 %): 128x384x384 on 12x32 tiles, 2 threads, as 1 x 8 blocks (6 column panels a
    thread), not 2 x 4 (72 rows for one thread, 56 for the other)."""
    k_ = need("f32_gemm_12x32__avx512")
    assert _core.kernels.f32_gemm_split(k_["name"], 128, 384, 384, 2) == (1, 8)
    rng = np.random.default_rng(21)
    for _ in range(60):
        m, n, k = int(rng.integers(24, 700)), int(rng.integers(40, 900)), int(rng.choice([64, 384, 768]))
        threads = int(rng.choice([2, 3]))
        ms, ns = _core.kernels.f32_gemm_split(k_["name"], m, n, k, threads)
        if ms * ns == 1:
            assert 2 * m * n * k < 2e6 or (-(-m // 12)) * (-(-n // 32)) == 1, (m, n, k, threads)
            continue
        share = max(_thread_shares(m, n, 12, 32, ms, ns, threads)) * threads / (m * n)
        mt, nt = -(-m // 12), -(-n // 32)
        target = min(4 * threads, mt * nt) if k < 1024 else threads
        best = min(max(_thread_shares(m, n, 12, 32, a, min(nt, max(1, target // a)), threads)) * threads / (m * n)
                   for a in range(1, min(mt, target) + 1))
        assert share <= best + 0.02 + 1e-9, (m, n, k, threads, (ms, ns), share, best)
