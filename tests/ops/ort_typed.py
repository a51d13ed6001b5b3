"""check_against_ort with typed graph outputs: op_helpers.make_model declares outputs as
UNDEFINED, which onnxruntime 1.32 refuses to load; here the output element types come from
ONNX shape inference instead."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from op_helpers import assert_close, make_model, run_fastinfer, run_ort


def typed_model(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None,
                **kw: Any) -> onnx.ModelProto:
    """make_model, then the graph outputs get their inferred element types (shapes left open)."""
    model = make_model(op, inputs, attrs, **kw)
    for o in model.graph.output:
        o.type.tensor_type.ClearField("elem_type")
    inferred = onnx.shape_inference.infer_shapes(model)
    for o, io in zip(model.graph.output, inferred.graph.output):
        o.type.tensor_type.elem_type = io.type.tensor_type.elem_type
        o.type.tensor_type.ClearField("shape")
    return model


def check(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None, rtol: float = 1e-5,
          atol: float = 1e-6, threads: int = 1, **kw: Any) -> list[np.ndarray]:
    """Runs the one-node model with fastinfer and onnxruntime and asserts every output matches."""
    model = typed_model(op, inputs, attrs, **kw)
    ours = run_fastinfer(model, inputs, threads)
    ref = run_ort(model, inputs)
    assert len(ours) == len(ref)
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert_close(a, b, rtol, atol, what=f"{op} output {i}")
    return ours
