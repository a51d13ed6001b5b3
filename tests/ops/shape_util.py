"""Test helpers for the shape and string op tests: random data and the ORT comparison."""

from __future__ import annotations

from typing import Any

import numpy as np
from op_helpers import check_against_ort, make_model, rng, run_fastinfer


def rand(shape, dtype=np.float32, seed=0) -> np.ndarray:
    """Random array of `shape` and `dtype` (strings as object arrays, bools included)."""
    g = rng(seed)
    if dtype == np.bool_:
        return np.asarray(g.random(shape) > 0.5)
    if dtype == object:
        vals = [f"s{v}" for v in g.integers(0, 1000, size=int(np.prod(shape)))]
        return np.array(vals, dtype=object).reshape(shape)
    if np.issubdtype(dtype, np.integer):
        return g.integers(0, 100, size=shape).astype(dtype)
    if np.issubdtype(dtype, np.complexfloating):
        return (g.standard_normal(shape) + 1j * g.standard_normal(shape)).astype(dtype)
    return g.standard_normal(shape).astype(dtype)


def i64(*v) -> np.ndarray:
    """An int64 1-D array."""
    return np.array(v, dtype=np.int64)


model = make_model


def check(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None, threads: int = 1,
          **kw: Any) -> list[np.ndarray]:
    """Runs the one-node model with fastinfer and onnxruntime and asserts every output matches."""
    return check_against_ort(op, inputs, attrs, threads=threads, **kw)


def run(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None, **kw: Any):
    """Runs the one-node model with fastinfer only."""
    return run_fastinfer(model(op, inputs, attrs, **kw), inputs)
