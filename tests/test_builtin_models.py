"""fastinfer.models: the built-in models are valid, deterministic, run in ONNX Runtime, and
fastinfer matches ONNX Runtime on them."""

from __future__ import annotations

import fastinfer
import numpy as np
import onnx
import pytest
from fastinfer import models

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def mini() -> onnx.ModelProto:
    return models.get_model("resnet_mini")


def test_registry():
    assert models.DEFAULT_MODEL in models.list_models()
    with pytest.raises(KeyError, match="resnet_mini"):
        models.get_model("nope")


def test_resnet_mini_structure(mini):
    onnx.checker.check_model(mini, full_check=True)
    x = mini.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in x] == ["N", 3, 224, 224]
    y = mini.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in y] == ["N", 1000]
    ops = {n.op_type for n in mini.graph.node}
    assert {"Conv", "BatchNormalization", "Relu", "MaxPool", "Add", "GlobalAveragePool", "Flatten",
            "Gemm"} <= ops
    attrs = [{a.name: list(a.ints) for a in n.attribute} for n in mini.graph.node if n.op_type == "Conv"]
    strided_1x1 = [a for a in attrs if a["kernel_shape"] == [1, 1] and a["strides"] == [2, 2]]
    assert len(strided_1x1) >= 2  # projection shortcuts
    assert models.get_model("resnet_mini").SerializeToString() == mini.SerializeToString()


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]


def test_resnet_mini_runs_in_onnxruntime(mini):
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    y = _ort(mini, x)
    assert y.shape == (2, 1000) and np.all(np.isfinite(y)) and 0.1 < y.std() < 1e3
    assert not np.allclose(y[0], y[1])


def test_resnet_mini_fastinfer_matches_onnxruntime(mini):
    have = set(fastinfer.supported_ops())
    missing = sorted({n.op_type for n in mini.graph.node if (n.domain, n.op_type) not in have})
    if missing:
        pytest.skip(f"fastinfer has no kernels yet for {missing}")
    sess = fastinfer.Session(mini.SerializeToString(), threads=2)
    rng = np.random.default_rng(1)
    for batch in (1, 3):
        x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
        ours, ref = sess.run(x), _ort(mini, x)
        assert ours.shape == ref.shape
        assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 1e-4
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
