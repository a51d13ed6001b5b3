"""The implicit-GEMM entry of every fp32 GEMM microkernel (A read through a pointer per row and tap,
as a convolution reads its input pixels) against a float64 numpy reference: tails in M, N and the
tap length, zero (padding) taps, tap counts that split K into blocks, epilogues, a residual in C's
own memory, and several threads."""

from __future__ import annotations

import numpy as np
import pytest
from fastinfer import _core
from test_f32_gemm import ACTS, check, kernel_ids, need


def reference(src, ind, b, bias=None, residual=None, lo=-np.inf, hi=np.inf, act="none"):
    """Gathers A (zeros for index -1) and applies epilogue(A @ B) in float64."""
    padded = np.vstack([src.astype(np.float64), np.zeros((1, src.shape[1]))])
    a = padded[ind].reshape(ind.shape[0], -1)  # index -1 picks the zero row
    y = a @ b.astype(np.float64)
    if bias is not None:
        y = y + bias[None, :]
    if residual is not None:
        y = y + residual
    return np.clip(ACTS[act](y), lo, hi)


def case(rng, m, n, taps, tap_k, pad_share=0.2, rows=40):
    src = rng.standard_normal((rows, tap_k), dtype=np.float32)
    ind = rng.integers(0, rows, size=(m, taps))
    ind[rng.random((m, taps)) < pad_share] = -1
    b = rng.standard_normal((taps * tap_k, n), dtype=np.float32)
    return src, ind, b


@pytest.mark.parametrize("name", kernel_ids())
def test_shapes_with_tails_and_padding_taps(name):
    need(name)
    rng = np.random.default_rng(5)
    for m in (1, 5, 13, 33):
        for n in (1, 9, 31, 65):
            for taps, tap_k in ((1, 7), (9, 3), (4, 16), (25, 5)):
                src, ind, b = case(rng, m, n, taps, tap_k)
                got = _core.kernels.f32_gemm_indirect(name, src, ind, b)
                check(got, reference(src, ind, b), taps * tap_k)


@pytest.mark.parametrize("name", kernel_ids())
@pytest.mark.parametrize("in_place", [False, True])
def test_epilogue_and_k_blocks(name, in_place):
    # 9 taps of 160: K = 1440 runs as two K blocks split between taps; in place the residual
    # starts out in C and the blocks accumulate into it.
    need(name)
    rng = np.random.default_rng(6)
    src, ind, b = case(rng, 50, 40, 9, 160, rows=60)
    bias = rng.standard_normal(40, dtype=np.float32)
    res = rng.standard_normal((50, 40), dtype=np.float32)
    got = _core.kernels.f32_gemm_indirect(name, src, ind, b, bias=bias, residual=res, in_place=in_place,
                                          clamp_min=-1.0, clamp_max=2.0)
    check(got, reference(src, ind, b, bias, res, -1.0, 2.0), 1440)


@pytest.mark.parametrize("name", kernel_ids())
@pytest.mark.parametrize("threads", [2, 3])
def test_threads_and_activation(name, threads):
    need(name)
    rng = np.random.default_rng(7)
    src, ind, b = case(rng, 300, 70, 9, 24, rows=200)
    got = _core.kernels.f32_gemm_indirect(name, src, ind, b, act="silu", threads=threads)
    check(got, reference(src, ind, b, act="silu"), 9 * 24)


@pytest.mark.parametrize("name", kernel_ids())
@pytest.mark.parametrize("n", [20, 150])
def test_pointer_offset(name, n):
    # One group of a grouped conv: every pointer (zeros too) is read a_offset floats further on.
    # n = 20 reads A through the microkernel's pointers, 150 (over 4 B panels) packs A from them.
    need(name)
    rng = np.random.default_rng(8)
    tap_k, offset = 11, 22
    src = rng.standard_normal((30, 3 * tap_k), dtype=np.float32)
    ind = rng.integers(0, 30, size=(29, 9))
    ind[rng.random(ind.shape) < 0.2] = -1
    b = rng.standard_normal((9 * tap_k, n), dtype=np.float32)
    for threads in (1, 2):
        got = _core.kernels.f32_gemm_indirect(name, src, ind, b, a_offset=offset, threads=threads)
        check(got, reference(src[:, offset:offset + tap_k], ind, b), 9 * tap_k)


def test_bad_arguments():
    src = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="taps"):
        _core.kernels.f32_gemm_indirect("f32_gemm_4x8__ref", src, np.zeros((2, 2), np.int64), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="range"):
        _core.kernels.f32_gemm_indirect("f32_gemm_4x8__ref", src, np.full((2, 1), 4), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="a_offset"):
        _core.kernels.f32_gemm_indirect("f32_gemm_4x8__ref", src, np.zeros((2, 1), np.int64), np.zeros((3, 2)),
                                        a_offset=1)
