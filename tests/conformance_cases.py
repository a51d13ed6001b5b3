"""Running one ONNX backend node case through fastinfer (shared by tools/conformance.py and
tests/test_backend_node.py). Status: pass, unsupported (fastinfer.NotImplemented at load or run),
wrong (ran, numbers or shapes differ), error (any other exception)."""

from __future__ import annotations

import fastinfer
import numpy as np
import onnx
from onnx import numpy_helper


def _as_array(x):
    """Case data as an ndarray: numpy scalars and TensorProtos included; None for other kinds."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, np.generic):
        return np.asarray(x)
    if isinstance(x, onnx.TensorProto):
        return numpy_helper.to_array(x)
    return None


def _compare(ours: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> str:
    ours = np.asarray(ours)
    ref = np.asarray(ref)
    if ours.shape != ref.shape:
        return f"shape {ours.shape} != expected {ref.shape}"
    if ref.dtype.kind in "OUS":
        if ours.dtype.kind not in "OUS":
            return f"dtype {ours.dtype} != expected {ref.dtype}"
        a = np.vectorize(lambda s: s.decode() if isinstance(s, bytes) else str(s), otypes=[object])(ours) if ours.size else ours
        b = np.vectorize(lambda s: s.decode() if isinstance(s, bytes) else str(s), otypes=[object])(ref) if ref.size else ref
        return "" if np.array_equal(a, b) else "strings differ"
    if ours.dtype != ref.dtype:
        return f"dtype {ours.dtype} != expected {ref.dtype}"
    if ref.dtype.kind in "biu":
        return "" if np.array_equal(ours, ref) else "values differ"
    try:
        a = ours.astype(np.float64) if ref.dtype.kind != "c" else ours
        b = ref.astype(np.float64) if ref.dtype.kind != "c" else ref
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    except AssertionError as e:
        return "values differ: " + str(e).strip().splitlines()[-1][:200]
    return ""


def run_case(case) -> tuple[str, str]:
    model = case.model
    try:
        sess = fastinfer.Session(model, threads=1)
    except fastinfer.NotImplemented as e:
        return "unsupported", str(e)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return "error", f"load: {type(e).__name__}: {e}"
    init_names = {t.name for t in model.graph.initializer}
    input_names = [i.name for i in model.graph.input if i.name not in init_names]
    for inputs, outputs in case.data_sets:
        feed = {}
        for name, x in zip(input_names, inputs):
            arr = _as_array(x)
            if arr is None:
                return "unsupported", f"input '{name}' is a {type(x).__name__}, not a tensor"
            feed[name] = arr
        # Twice: the first run traces and plans memory, the second runs from the arena plan.
        for attempt in ("first run", "planned run"):
            try:
                got = sess.run(None, feed)
            except fastinfer.NotImplemented as e:
                return "unsupported", str(e)
            except Exception as e:  # noqa: BLE001
                return "error", f"{attempt}: {type(e).__name__}: {e}"
            for i, x in enumerate(outputs):
                ref = _as_array(x)
                if ref is None:
                    return "unsupported", f"output {i} is a {type(x).__name__}, not a tensor"
                if i >= len(got):
                    return "wrong", f"missing output {i}"
                why = _compare(got[i], ref, case.rtol, case.atol)
                if why:
                    return "wrong", f"{attempt}, output {i}: {why}"
    return "pass", ""
