"""fp32 Winograd F(4,3) / F(6,3) convolution against a float64 direct convolution: odd spatial
sizes, symmetric and asymmetric pads, groups, batch, bias, residual, clamp and 1/2 threads, under
every FASTINFER_ISA tier (a child process per tier), plus the accuracy bound of issue 4 (relative
L2 error <= 1e-4 of direct convolution) at ResNet-like sizes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from child_env import child_env
from fastinfer import _core

HERE = os.path.dirname(os.path.abspath(__file__))
TRANSFORMS = _core.kernels.list_kernels("f32_winograd")


def reference(x, w, bias=None, pads=(1, 1, 1, 1), groups=1, residual=None, lo=-np.inf, hi=np.inf):
    """3x3 stride-1 conv in float64: x [N, C, H, W], w [M, C / groups, 3, 3]."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, c, h, wd = x.shape
    m, cg = w.shape[:2]
    mg = m // groups
    xp = np.zeros((n, c, h + pads[0] + pads[2], wd + pads[1] + pads[3]))
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    oh, ow = xp.shape[2] - 2, xp.shape[3] - 2
    y = np.zeros((n, m, oh, ow))
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for ky in range(3):
            for kx in range(3):
                y[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", xs[:, :, ky:ky + oh, kx:kx + ow],
                                                       w[g * mg:(g + 1) * mg, :, ky, kx])
    if bias is not None:
        y += bias[None, :, None, None]
    if residual is not None:
        y += residual
    return np.clip(y, lo, hi)


# (N, C, M, H, W, pads, groups)
CASES = [
    (1, 3, 5, 1, 1, (1, 1, 1, 1), 1),
    (1, 4, 3, 3, 3, (0, 0, 0, 0), 1),
    (2, 5, 7, 5, 7, (1, 1, 1, 1), 1),
    (1, 6, 4, 5, 7, (2, 2, 2, 2), 2),
    (1, 17, 9, 17, 13, (1, 1, 1, 1), 1),
    (2, 8, 16, 17, 13, (0, 0, 0, 0), 1),
    (1, 9, 6, 17, 13, (2, 2, 2, 2), 3),
    (3, 4, 4, 17, 13, (0, 1, 2, 0), 1),
    (1, 2, 3, 5, 7, (2, 0, 1, 2), 1),
    (2, 24, 40, 9, 11, (1, 0, 0, 1), 2),
    (1, 40, 70, 30, 29, (1, 1, 1, 1), 1),
    (2, 3, 2, 2, 3, (4, 0, 3, 5), 1),
]


def check_cases(m: int, threads: int) -> None:
    """Every case of CASES with tile size m: random data, bias / residual / clamp in turn."""
    rng = np.random.default_rng(m * 10 + threads)
    for i, (n, c, mo, h, wd, pads, groups) in enumerate(CASES):
        x = rng.standard_normal((n, c, h, wd), dtype=np.float32)
        w = rng.standard_normal((mo, c // groups, 3, 3), dtype=np.float32)
        bias = rng.standard_normal(mo, dtype=np.float32) if i % 2 == 0 else None
        oh, ow = h + pads[0] + pads[2] - 2, wd + pads[1] + pads[3] - 2
        residual = rng.standard_normal((n, mo, oh, ow), dtype=np.float32) if i % 2 == 1 else None
        lo, hi = (0.0, 2.5) if i % 3 != 0 else (-np.inf, np.inf)
        got = _core.kernels.f32_winograd_conv(x, w, bias, residual, list(pads), groups, m, lo, hi, threads)
        want = reference(x, w, bias, pads, groups, residual, lo, hi)
        scale = max(1.0, float(np.abs(reference(x, w, bias, pads, groups, residual)).max()))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale,
                                   err_msg=f"F({m},3) threads={threads} case {CASES[i]}")


@pytest.mark.parametrize("m", [4, 6])
@pytest.mark.parametrize("threads", [1, 2])
def test_against_direct(m, threads):
    check_cases(m, threads)


@pytest.mark.parametrize("isa", ["ref", "avx2", "avx512"])
def test_every_isa(isa):
    """The same sweep in a child process with FASTINFER_ISA capping the tier (the transforms and
    the GEMM of that tier; a tier the CPU lacks falls back to the best it has)."""
    env = child_env(HERE, os.path.dirname(HERE))
    env["FASTINFER_ISA"] = isa
    code = ("import test_f32_winograd as t\n"
            "for m in (4, 6):\n"
            "    for threads in (1, 2):\n"
            "        t.check_cases(m, threads)\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-3000:]


def test_transform_table():
    names = {k["name"] for k in TRANSFORMS}
    for m in (4, 6):
        for isa in ("ref", "avx2", "avx512"):
            assert f"f32_winograd_{m}x3__{isa}" in names
    assert all(k["supported"] for k in TRANSFORMS if k["isa"] == "ref")


def relative_errors(m: int, n: int, c: int, hw: int, seed: int = 0) -> tuple[float, float]:
    """(relative L2, max abs / max |y|) of Winograd against float64 direct conv, for post-ReLU
    activations and He-initialised weights with M = C."""
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((n, c, hw, hw)), 0).astype(np.float32)
    w = (rng.standard_normal((c, c, 3, 3)) * np.sqrt(2.0 / (9 * c))).astype(np.float32)
    bias = (rng.standard_normal(c) * 0.1).astype(np.float32)
    got = _core.kernels.f32_winograd_conv(x, w, bias, None, [1, 1, 1, 1], 1, m).astype(np.float64)
    want = reference(x, w, bias)
    rel_l2 = float(np.linalg.norm(got - want) / np.linalg.norm(want))
    rel_max = float(np.abs(got - want).max() / np.abs(want).max())
    return rel_l2, rel_max


@pytest.mark.parametrize("m", [4, 6])
@pytest.mark.parametrize("shape", [(1, 64, 56), (1, 128, 28), (1, 256, 14), (1, 512, 7)])
def test_accuracy_bound(m, shape):
    """Issue 4: within 1e-4 relative (L2) of direct convolution at ResNet-50's 3x3 layer sizes."""
    n, c, hw = shape
    rel_l2, rel_max = relative_errors(m, n, c, hw)
    assert rel_l2 <= 1e-4, (m, shape, rel_l2, rel_max)
    assert rel_max <= 1e-3, (m, shape, rel_l2, rel_max)


def test_bad_arguments():
    x = np.zeros((1, 4, 5, 5), np.float32)
    with pytest.raises(ValueError):
        _core.kernels.f32_winograd_conv(x, np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ValueError):
        _core.kernels.f32_winograd_conv(x, np.zeros((2, 3, 3, 3), np.float32))
    with pytest.raises(ValueError):
        _core.kernels.f32_winograd_conv(x, np.zeros((2, 4, 3, 3), np.float32), m=5)


def test_nan_propagates_through_clamp():
    x = np.full((1, 2, 6, 6), np.nan, np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    got = _core.kernels.f32_winograd_conv(x, w, clamp_min=0.0, clamp_max=6.0)
    assert np.isnan(got).all()
