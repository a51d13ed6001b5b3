"""Session(profile=True): per-node times, the Chrome-trace file and the bench's profile table."""

from __future__ import annotations

import json

import fastinfer
import numpy as np
import onnx
from fastinfer import bench
from onnx import TensorProto, helper


def _model() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "x"], ["a"], name="add"),
             helper.make_node("Softmax", ["a"], ["y"], name="softmax")]
    g = helper.make_graph(nodes, "p", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_profile_records_every_node_of_every_run(tmp_path):
    sess = fastinfer.Session(_model(), threads=1, profile=True)
    x = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    for _ in range(3):
        sess.run(x)
    rows = sess.profile_summary()
    assert {r.name for r in rows} == {"relu", "add", "softmax"}
    assert all(r.calls == 3 and r.total_ms >= 0 for r in rows)
    assert abs(sum(r.share for r in rows) - 1) < 1e-9
    path = sess.end_profiling(str(tmp_path / "trace.json"))
    with open(path) as f:
        events = json.load(f)
    assert len(events) == 9
    assert {e["args"]["op_name"] for e in events} == {"Relu", "Add", "Softmax"}
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in events)
    assert sess.profile_summary() == []  # end_profiling forgets what it wrote


def test_no_profile_by_default():
    sess = fastinfer.Session(_model(), threads=1)
    sess.run(np.zeros((1, 64), np.float32))
    assert sess.profile_summary() == []


def test_inference_session_enable_profiling():
    so = fastinfer.SessionOptions()
    so.enable_profiling = True
    sess = fastinfer.InferenceSession(_model().SerializeToString(), so)
    sess.run(None, {"x": np.ones((2, 64), np.float32)})
    assert len(sess.profile_summary()) == 3


def test_bench_profile_table(tmp_path):
    path = str(tmp_path / "m.onnx")
    onnx.save(_model(), path)
    text = bench.profile_model(path, batch=2, threads=1, runs=3, warmup=1)
    assert "softmax" in text and "Softmax" in text and "ms/run" in text
