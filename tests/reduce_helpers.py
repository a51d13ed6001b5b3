"""Helpers for the reduce/normalisation op tests: one-node models whose output types are
filled in by ONNX shape inference (ONNX Runtime needs them), compared against ORT."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from op_helpers import assert_close, make_model, run_fastinfer, run_ort


def typed(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fills the graph outputs' types from ONNX shape inference."""
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for o in model.graph.output:
        if o.name in known:
            o.type.CopyFrom(known[o.name].type)
    return model


def check_against_ort(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None,
                      n_outputs: int = 1, opset: int = 17, rtol: float = 1e-5, atol: float = 1e-6,
                      initializers: dict[str, np.ndarray] | None = None, threads: int = 1,
                      **kw: Any) -> list[np.ndarray]:
    """Like op_helpers.check_against_ort, with typed outputs; returns fastinfer's outputs."""
    model = typed(make_model(op, inputs, attrs, n_outputs, opset, initializers, **kw))
    ours = run_fastinfer(model, inputs, threads)
    ref = run_ort(model, inputs)
    assert len(ours) == len(ref)
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert_close(a, b, rtol, atol, what=f"{op} output {i}")
    return ours
