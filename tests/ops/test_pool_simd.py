"""Float32 pooling kernels (kernels/pool.h) under every ISA tier: NCHW MaxPool/AveragePool and the channels-last
NhwcMaxPool/NhwcAveragePool/NhwcGlobalAveragePool on random shapes with vector tails (channel counts and row
widths not a multiple of 8/16), padding, ceil_mode, strides 1-3, windows 2-7 and dilations, against onnxruntime;
max over NaN/inf inputs against a NaN-skipping reference. The default tier runs in-process, the others in child
processes with FASTINFER_ISA set."""

from __future__ import annotations

import os
import sys
import zlib

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from child_env import assert_runs_at_isa
from op_helpers import pool_out_dim, run_ort

DOM = "ai.fastinfer"
OPSETS = [helper.make_opsetid("", 19), helper.make_opsetid(DOM, 1)]


# (op, N, C, H, W, attrs): the shapes of the benchmark CNNs' pools, scaled down, and the flat / row paths
FIXED = [
    ("MaxPool", 1, 5, 7, 7, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ("MaxPool", 2, 3, 14, 14, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1]}),
    ("MaxPool", 1, 4, 14, 14, {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", 1, 3, 20, 20, {"kernel_shape": [5, 5], "pads": [2, 2, 2, 2]}),
    ("MaxPool", 2, 3, 6, 9, {"kernel_shape": [6, 9], "strides": [2, 2], "pads": [0, 0, 1, 1]}),
    ("MaxPool", 1, 67, 11, 13, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", 1, 2, 40, 70, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", 1, 2, 27, 27, {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", 1, 2, 9, 64, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ("AveragePool", 1, 5, 7, 7, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ("AveragePool", 1, 5, 7, 7, {"kernel_shape": [7, 7]}),
    ("AveragePool", 2, 17, 14, 14, {"kernel_shape": [2, 2], "strides": [2, 2], "count_include_pad": 1}),
    ("AveragePool", 1, 3, 28, 28, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ("AveragePool", 1, 33, 13, 50, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", 1, 3, 3, 4, {"kernel_shape": [72, 70], "pads": [70, 66, 70, 68]}),  # pads beyond the fast paths
    ("AveragePool", 1, 3, 3, 4, {"kernel_shape": [72, 70], "pads": [70, 66, 70, 68], "count_include_pad": 1}),
    ("GlobalAveragePool", 2, 35, 7, 7, {}),
    ("GlobalAveragePool", 1, 1000, 3, 5, {}),
]


def random_cases(seed: int, count: int) -> list:
    """Random 2-D pools whose output is not empty."""
    r = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        op = "MaxPool" if r.random() < 0.5 else "AveragePool"
        k = [int(r.integers(2, 8)), int(r.integers(2, 8))]
        s = [int(r.integers(1, 4)), int(r.integers(1, 4))]
        d = [int(r.integers(1, 3)), int(r.integers(1, 3))] if op == "MaxPool" and r.random() < 0.25 else [1, 1]
        p = [int(r.integers(0, k[i % 2])) for i in range(4)]
        ceil = int(r.random() < 0.4)
        h, w = int(r.integers(1, 30)), int(r.integers(1, 45))
        c = int(r.choice([1, 3, 7, 16, 17, 33, 67]))
        if min(pool_out_dim(n, k[i], s[i], p[i], p[i + 2], ceil, d[i]) for i, n in enumerate((h, w))) < 1:
            continue
        attrs = {"kernel_shape": k, "strides": s, "pads": p, "ceil_mode": ceil}
        if d != [1, 1]:
            attrs["dilations"] = d
        if op == "AveragePool":
            attrs["count_include_pad"] = int(r.random() < 0.5)
        cases.append((op, int(r.integers(1, 3)), c, h, w, attrs))
    return cases


CASES = FIXED + random_cases(4, 60)


def _model(op, domain, shape, attrs):
    g = helper.make_graph([helper.make_node(op, ["x"], ["y"], domain=domain, **attrs)], "p",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=OPSETS, ir_version=9)


def _run(model, x, threads):
    return fastinfer.Session(model.SerializeToString(), threads=threads).run(None, {"x": x})[0]


def _nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def pool_case(case, threads: int = 1) -> None:
    """fastinfer's NCHW op and its Nhwc op against onnxruntime's NCHW op."""
    op, n, c, h, w, attrs = case
    x = np.random.default_rng(zlib.crc32(str(case).encode())).standard_normal((n, c, h, w)).astype(np.float32)
    ref = run_ort(_model(op, "", x.shape, attrs), {"x": x})[0]
    got = _run(_model(op, "", x.shape, attrs), x, threads)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6, err_msg=f"NCHW {case}")
    got = _run(_model("Nhwc" + op, DOM, (n, h, w, c), attrs), _nhwc(x), threads)
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), ref, rtol=1e-5, atol=1e-6, err_msg=f"NHWC {case}")


def _maxpool_skip_nan(x, k, s, p, d):
    """MaxPool reference that skips NaNs (a window without numbers gives the lowest float)."""
    lowest = np.finfo(np.float32).min
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=np.nan)
    xp = np.where(np.isnan(xp), lowest, xp)
    oh = (xp.shape[2] - (k[0] - 1) * d[0] - 1) // s[0] + 1
    ow = (xp.shape[3] - (k[1] - 1) * d[1] - 1) // s[1] + 1
    y = np.full(x.shape[:2] + (oh, ow), lowest, np.float32)
    for i in range(k[0]):
        for j in range(k[1]):
            win = xp[:, :, i * d[0]:i * d[0] + (oh - 1) * s[0] + 1:s[0], j * d[1]:j * d[1] + (ow - 1) * s[1] + 1:s[1]]
            y = np.maximum(y, win)
    return y


NAN_CASES = [([3, 3], [1, 1], [1, 1, 1, 1], [1, 1], (2, 19, 7, 7)), ([3, 3], [2, 2], [0, 0, 1, 1], [1, 1], (1, 17, 14, 14)),
             ([5, 5], [1, 1], [2, 2, 2, 2], [1, 1], (1, 33, 20, 20)), ([2, 3], [2, 1], [1, 0, 0, 2], [1, 1], (1, 5, 9, 40)),
             ([3, 3], [1, 2], [1, 1, 1, 1], [2, 1], (1, 18, 11, 12)), ([7, 5], [1, 1], [0, 0, 0, 0], [1, 1], (1, 3, 7, 5))]


def nan_case(case, threads: int = 1) -> None:
    """Max over inputs with NaN, +inf and -inf (some windows all NaN) in both layouts."""
    k, s, p, d, shape = case
    r = np.random.default_rng(5)
    x = r.standard_normal(shape).astype(np.float32)
    x[r.random(shape) < 0.15] = np.nan
    x[r.random(shape) < 0.05] = np.inf
    x[r.random(shape) < 0.05] = -np.inf
    x[0, 0] = np.nan
    attrs = {"kernel_shape": k, "strides": s, "pads": p, "dilations": d}
    ref = _maxpool_skip_nan(x, k, s, p, d)
    np.testing.assert_array_equal(_run(_model("MaxPool", "", shape, attrs), x, threads), ref, err_msg=str(case))
    n, c, h, w = shape
    got = _run(_model("NhwcMaxPool", DOM, (n, h, w, c), attrs), _nhwc(x), threads)
    np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), ref, err_msg=f"NHWC {case}")


def run_all() -> None:
    """Every case, one and two threads (used in the child processes)."""
    for i, case in enumerate(CASES):
        pool_case(case, 1 + i % 2)
    for case in NAN_CASES:
        nan_case(case, 1)
        nan_case(case, 2)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_pool_layouts(case):
    pool_case(case, 1)


@pytest.mark.parametrize("case", NAN_CASES, ids=str)
def test_maxpool_nan_inf(case):
    nan_case(case, 2)


@pytest.mark.parametrize("isa", ["ref", "avx2", "avx512"])
def test_every_isa_tier(isa):
    """All cases in a child process whose kernels are capped at the tier."""
    here = os.path.dirname(os.path.abspath(__file__))
    assert_runs_at_isa(isa, "import test_pool_simd as t; t.run_all(); print('ok')", here, os.path.dirname(here))
