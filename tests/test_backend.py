"""fastinfer.backend: the onnx.backend.base.Backend interface, and the ONNX BackendTest runner
driving it."""

from __future__ import annotations

import re

import fastinfer
import fastinfer.backend as fb
import numpy as np
import onnx.backend.test
import pytest
from onnx import TensorProto, helper


def _add_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 3])
    return helper.make_model(helper.make_graph([helper.make_node("Add", ["x", "z"], ["sum"])], "g", [x, z], [y]),
                             opset_imports=[helper.make_opsetid("", 17)])


X = np.arange(6, dtype=np.float32).reshape(2, 3)
Z = np.full((2, 3), 0.5, np.float32)


def test_supports_device():
    assert fb.supports_device("CPU")
    assert not fb.supports_device("CUDA")
    assert not fb.supports_device("nonsense")
    assert fb.is_compatible(_add_model())


def test_prepare_and_run_list_dict():
    rep = fb.prepare(_add_model(), "CPU")
    for out in (rep.run([X, Z]), rep.run({"x": X, "z": Z})):
        assert len(out) == 1
        np.testing.assert_array_equal(out[0], X + Z)
        np.testing.assert_array_equal(out["sum"], X + Z)


def test_prepare_from_bytes_and_path(tmp_path):
    m = _add_model()
    p = tmp_path / "m.onnx"
    p.write_bytes(m.SerializeToString())
    for src in (m.SerializeToString(), str(p)):
        np.testing.assert_array_equal(fb.prepare(src).run([X, Z])[0], X + Z)


def test_run_model():
    np.testing.assert_array_equal(fb.run_model(_add_model(), [X, Z])[0], X + Z)


def test_run_node():
    node = helper.make_node("Identity", ["a"], ["b"])
    out = fb.run_node(node, [X])
    np.testing.assert_array_equal(out[0], X)
    np.testing.assert_array_equal(out["b"], X)
    out = fb.run_node(helper.make_node("Add", ["a", "c"], ["d"]), [X, Z], opset_version=14)
    np.testing.assert_array_equal(out["d"], X + Z)


def test_run_node_wrong_input_count():
    with pytest.raises(fastinfer.InvalidArgument):
        fb.run_node(helper.make_node("Add", ["a", "c"], ["d"]), [X])


def test_too_many_inputs():
    with pytest.raises(fastinfer.InvalidArgument):
        fb.prepare(_add_model()).run([X, Z, Z])


def test_unsupported_device():
    with pytest.raises(fastinfer.InvalidArgument):
        fb.prepare(_add_model(), "CUDA")


# The ONNX backend test runner itself, on a few cases with only the ops every build has.
_backend_test = onnx.backend.test.BackendTest(fb, __name__)
_INCLUDE = re.compile(r"^test_(add|identity)_cpu$")
_backend_test.include(_INCLUDE.pattern)
_test_cases = _backend_test.test_cases  # a property that builds new classes on each access
for _cls in _test_cases.values():
    for _attr in [a for a in vars(_cls) if a.startswith("test_") and not _INCLUDE.match(a)]:
        delattr(_cls, _attr)  # the thousands of excluded cases would only show up as skips
globals().update(_test_cases)
