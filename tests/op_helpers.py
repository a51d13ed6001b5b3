"""Shared helpers for op tests: build a one-node model, run it with fastinfer and with ONNX
Runtime (the reference), and compare."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fastinfer
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

try:
    import onnxruntime as ort
except ImportError:  # pragma: no cover
    ort = None

_NP_TO_ONNX = {
    np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.float16): TensorProto.FLOAT16, np.dtype(np.int8): TensorProto.INT8,
    np.dtype(np.int16): TensorProto.INT16, np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.int64): TensorProto.INT64, np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.uint16): TensorProto.UINT16, np.dtype(np.uint32): TensorProto.UINT32,
    np.dtype(np.uint64): TensorProto.UINT64, np.dtype(np.bool_): TensorProto.BOOL,
}


def onnx_type(arr: np.ndarray) -> int:
    if arr.dtype.kind in "OUS":
        return TensorProto.STRING
    return _NP_TO_ONNX[arr.dtype] if arr.dtype in _NP_TO_ONNX else helper.np_dtype_to_tensor_dtype(arr.dtype)


def make_model(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None,
               n_outputs: int = 1, opset: int = 17, initializers: dict[str, np.ndarray] | None = None,
               domain: str = "", input_names: Sequence[str] | None = None,
               output_names: Sequence[str] | None = None) -> onnx.ModelProto:
    """One node `op` reading `inputs` (fed at run time) and `initializers` (constants), in the order
    given by input_names (default: inputs then initializers; "" for an absent optional input)."""
    initializers = initializers or {}
    names = list(input_names) if input_names is not None else list(inputs) + list(initializers)
    outs = list(output_names) if output_names is not None else [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op, names, outs, domain=domain, **(attrs or {}))
    g_inputs = [helper.make_tensor_value_info(k, onnx_type(v), v.shape) for k, v in inputs.items()]
    g_outputs = [onnx.ValueInfoProto(name=o) for o in outs if o]  # untyped: both runtimes infer it
    inits = [numpy_helper.from_array(v, k) for k, v in initializers.items()]
    graph = helper.make_graph([node], f"test_{op}", g_inputs, g_outputs, inits)
    opsets = [helper.make_opsetid("", opset)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def run_fastinfer(model: onnx.ModelProto, feeds: dict[str, np.ndarray], threads: int = 1) -> list[np.ndarray]:
    return fastinfer.Session(model.SerializeToString(), threads=threads).run(None, feeds)


def run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def assert_close(ours: np.ndarray, ref: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6, what: str = ""):
    ours = np.asarray(ours)
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != reference {ref.shape}"
    assert ours.dtype == ref.dtype, f"{what}: dtype {ours.dtype} != reference {ref.dtype}"
    if ref.dtype.kind in "OUS" or ref.dtype == np.bool_ or ref.dtype.kind in "iu":
        np.testing.assert_array_equal(ours, ref, err_msg=what)
    else:
        np.testing.assert_allclose(ours.astype(np.float64), ref.astype(np.float64), rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=what)


def check_against_ort(op: str, inputs: dict[str, np.ndarray], attrs: dict[str, Any] | None = None,
                      n_outputs: int = 1, opset: int = 17, rtol: float = 1e-5, atol: float = 1e-6,
                      initializers: dict[str, np.ndarray] | None = None, threads: int = 1,
                      **kw: Any) -> list[np.ndarray]:
    """Runs the one-node model with both runtimes and asserts every output matches."""
    model = make_model(op, inputs, attrs, n_outputs, opset, initializers, **kw)
    ours = run_fastinfer(model, inputs, threads)
    ref = run_ort(model, inputs)
    assert len(ours) == len(ref)
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert_close(a, b, rtol, atol, what=f"{op} output {i}")
    return ours


# Sizes with odd tails for kernel and op tests.
ODD_SIZES = [1, 3, 7, 17, 33, 65, 127]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def pool_out_dim(n: int, k: int, s: int, ph: int, pt: int, ceil: bool, d: int = 1) -> int:
    """Output size of a pooling window k (dilation d, stride s, pads ph/pt) over n inputs, as ONNX
    defines it (ceil_mode drops a last window that would start in the tail padding); 0 when none fits."""
    span = n + ph + pt - ((k - 1) * d + 1)
    if span < 0:
        return 0
    out = -(-span // s) + 1 if ceil else span // s + 1
    if ceil and (out - 1) * s >= n + ph:
        out -= 1
    return out
