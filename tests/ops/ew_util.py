"""Test helpers for the elementwise op tests: one-node models checked against ONNX Runtime, and
random inputs of every numeric type."""

from __future__ import annotations

from typing import Any

import numpy as np
from op_helpers import check_against_ort, make_model, rng, run_fastinfer


def check(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None, opset: int = 17,
          rtol: float = 1e-5, atol: float = 1e-6, threads: int = 1, n_outputs: int = 1,
          **kw: Any) -> list[np.ndarray]:
    """Runs the one-node model with fastinfer and ORT and asserts every output matches."""
    return check_against_ort(op, inputs, attrs, n_outputs=n_outputs, opset=opset, rtol=rtol, atol=atol,
                             threads=threads, **kw)


def run(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None, opset: int = 17,
        threads: int = 1, **kw: Any) -> list[np.ndarray]:
    """Runs the one-node model with fastinfer only."""
    return run_fastinfer(make_model(op, inputs, attrs, opset=opset, **kw), inputs, threads)


def rand(shape, dtype, lo=-10, hi=10, seed=0, nonzero=False) -> np.ndarray:
    """Random array of `dtype` in [lo, hi), optionally without zeros."""
    g = rng(seed)
    if np.dtype(dtype).kind == "f":
        a = g.uniform(lo, hi, size=shape).astype(dtype)
    elif np.dtype(dtype).kind == "b":
        a = g.integers(0, 2, size=shape).astype(bool)
    else:
        info = np.iinfo(dtype)
        a = g.integers(max(lo, info.min), min(hi, info.max), size=shape, endpoint=True).astype(dtype)
    if nonzero:
        a[a == 0] = 1
    return np.asarray(a)
