"""Test helpers for the elementwise op tests: a one-node model checked against ONNX Runtime, with
the graph outputs left untyped (ORT rejects the UNDEFINED element type op_helpers writes)."""

from __future__ import annotations

from typing import Any

import numpy as np
from op_helpers import assert_close, make_model, rng, run_fastinfer, run_ort


def untyped_model(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None, **kw: Any):
    """make_model with the outputs' type cleared so that ORT infers it."""
    model = make_model(op, inputs, attrs, **kw)
    for o in model.graph.output:
        o.ClearField("type")
    return model


def check(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None, opset: int = 17,
          rtol: float = 1e-5, atol: float = 1e-6, threads: int = 1, n_outputs: int = 1,
          **kw: Any) -> list[np.ndarray]:
    """Runs the one-node model with fastinfer and ORT and asserts every output matches."""
    model = untyped_model(op, inputs, attrs, opset=opset, n_outputs=n_outputs, **kw)
    feeds = {k: v for k, v in inputs.items()}
    ours = run_fastinfer(model, feeds, threads)
    ref = run_ort(model, feeds)
    assert len(ours) == len(ref)
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert_close(a, b, rtol, atol, what=f"{op} output {i}")
    return ours


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
