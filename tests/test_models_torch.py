"""ResNet-50 and MobileNetV2, written in bench/torch_models.py and exported by torch.onnx (opset 17,
dynamic batch, random weights from a fixed seed): fastinfer matches ONNX Runtime at batch 1 and 2.
Skipped where torch is not installed (``pip install ".[models]"``)."""

from __future__ import annotations

import os
import sys

import fastinfer
import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH_DIR)
import torch_models


@pytest.fixture(scope="module", params=["resnet50", "mobilenetv2"])
def exported(request, tmp_path_factory) -> tuple[str, str]:
    path = str(tmp_path_factory.mktemp("torch") / f"{request.param}.onnx")
    torch_models.export(request.param, path)
    return request.param, path


def test_export_has_dynamic_batch(exported):
    _, path = exported
    m = onnx.load(path)
    onnx.checker.check_model(m)
    assert m.opset_import[0].version == torch_models.OPSET
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 224, 224]


def test_fastinfer_matches_onnxruntime(exported):
    name, path = exported
    model = onnx.load(path)
    have = set(fastinfer.supported_ops())
    missing = sorted({n.op_type for n in model.graph.node if (n.domain, n.op_type) not in have})
    if missing:
        pytest.skip(f"fastinfer has no kernels yet for {missing}")
    ours = fastinfer.Session(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    ref_sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for batch in (1, 2):
        x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
        y = ours.run(x)
        ref = ref_sess.run(None, {"input": x})[0]
        assert y.shape == ref.shape == (batch, 1000)
        err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
        assert err < 1e-4, f"{name} batch {batch}: relative L2 error {err:.2e}"
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
