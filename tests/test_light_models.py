"""The real models the onnx package ships in onnx/backend/test/data/light (ResNet-50, DenseNet-121,
Inception v1/v2, SqueezeNet, ShuffleNet, VGG-19, AlexNet, ZFNet-512, with generated weights),
run as the ONNX backend test runs them: the input is its deterministic dummy tensor, the output
is compared with the shipped light_<name>_output_0.pb at the tolerances the ONNX suite uses."""

from __future__ import annotations

import glob
import os

import fastinfer
import numpy as np
import onnx
import onnx.backend.test.case.model as model_cases
import pytest
from onnx import numpy_helper

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def _tolerances() -> dict[str, tuple[float, float]]:
    """model name -> (rtol, atol) from the ONNX backend test's own list of real models."""
    tol = {}
    for case in model_cases.collect_testcases():
        if case.kind == "real" and case.url and "/light/" in case.url:
            tol[case.model_name] = (case.rtol, case.atol)
    return tol


TOLERANCES = _tolerances()
MODELS = sorted(os.path.basename(p)[len("light_"):-len(".onnx")]
                for p in glob.glob(os.path.join(LIGHT_DIR, "light_*.onnx")))


def dummy_input(vi: onnx.ValueInfoProto) -> np.ndarray:
    """The ONNX runner's dummy data: arange(n) / n in the input's shape (free dims are 1)."""
    assert vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim)
    n = int(np.prod(shape))
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def test_models_found():
    assert {"resnet50", "squeezenet", "vgg19", "densenet121"} <= set(MODELS), MODELS


@pytest.mark.parametrize("name", MODELS)
def test_light_model(name):
    path = os.path.join(LIGHT_DIR, f"light_{name}.onnx")
    model = onnx.load(path)
    inits = {t.name for t in model.graph.initializer}
    feed = {vi.name: dummy_input(vi) for vi in model.graph.input if vi.name not in inits}
    expected = []
    for i in range(len(model.graph.output)):
        t = onnx.TensorProto()
        with open(os.path.join(LIGHT_DIR, f"light_{name}_output_{i}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        expected.append(numpy_helper.to_array(t))
    sess = fastinfer.Session(path)
    # The session reports the same free inputs as the model declares.
    assert [i.name for i in sess.get_inputs()] == list(feed)
    got = sess.run(None, feed)
    rtol, atol = TOLERANCES.get(name, (1e-3, 1e-7))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", MODELS)
def test_light_model_random_input_matches_onnxruntime(name):
    """The shipped outputs come from one input; a random one, checked against ONNX Runtime."""
    ort = pytest.importorskip("onnxruntime")
    path = os.path.join(LIGHT_DIR, f"light_{name}.onnx")
    model = onnx.load(path)
    inits = {t.name for t in model.graph.initializer}
    rng = np.random.default_rng(7)
    feed = {vi.name: rng.random(dummy_input(vi).shape, np.float32) for vi in model.graph.input
            if vi.name not in inits}
    got = fastinfer.Session(path).run(None, feed)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ref = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feed)
    for g, e in zip(got, ref):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-5)
