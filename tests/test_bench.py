"""fastinfer.bench's pieces: input shapes, random feeds, error measure, tables, progress bar."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastinfer import bench
from onnx import TensorProto, helper


def test_parse_shape_and_dim():
    assert bench.parse_shape("input_ids=1x128") == ("input_ids", [1, 128])
    assert bench.parse_shape("a=b=3X4") == ("a=b", [3, 4])
    assert bench.parse_shape("s=") == ("s", [])
    for bad in ("x", "=1x2", "x=1xy", "x=-1"):
        with pytest.raises(ValueError):
            bench.parse_shape(bad)
    assert bench.parse_dim("sequence=64") == ("sequence", 64)
    for bad in ("seq", "seq=x", "seq=-2", "=3"):
        with pytest.raises(ValueError):
            bench.parse_dim(bad)


def _model(inputs, initializers=()):
    g = helper.make_graph([], "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs], [],
                          [helper.make_tensor(n, TensorProto.FLOAT, [1], [0.0]) for n in initializers])
    return helper.make_model(g)


def test_graph_inputs_skip_initializers_and_keep_symbols():
    m = _model([("x", TensorProto.FLOAT, ["N", 3, None, 5]), ("w", TensorProto.FLOAT, [1])], ["w"])
    assert bench.graph_inputs(m) == [("x", TensorProto.FLOAT, ["N", 3, None, 5])]


def test_resolve_inputs_defaults():
    inputs = [("img", 1, ["N", 3, "H", "W"]), ("ids", 7, ["N", "seq_len"]), ("mask", 7, ["N", "seq_len"]),
              ("extra", 1, [None, "k"]), ("fixed", 1, [2, 3])]
    specs, notes = bench.resolve_inputs(inputs, 4)
    shapes = {s.name: s.shape for s in specs}
    assert shapes == {"img": [4, 3, 224, 224], "ids": [4, 128], "mask": [4, 128], "extra": [4, 1],
                      "fixed": [2, 3]}
    assert any("'k'" in n for n in notes) and any("'H'" in n for n in notes)


def test_resolve_inputs_overrides():
    inputs = [("ids", 7, ["N", "seq"]), ("pos", 7, ["N", "seq"])]
    specs, notes = bench.resolve_inputs(inputs, 2, dims={"seq": 9})
    assert [s.shape for s in specs] == [[2, 9], [2, 9]] and notes == []
    specs, _ = bench.resolve_inputs(inputs, 2, shapes={"ids": [1, 5]})
    assert [s.shape for s in specs] == [[1, 5], [2, 128]]
    with pytest.raises(ValueError, match="fixed to 3"):
        bench.resolve_inputs([("x", 1, ["N", 3])], 1, shapes={"x": [1, 4]})
    with pytest.raises(ValueError, match="rank 2"):
        bench.resolve_inputs([("x", 1, ["N", 3])], 1, shapes={"x": [3]})
    with pytest.raises(ValueError, match="not inputs"):
        bench.resolve_inputs([("x", 1, ["N", 3])], 1, shapes={"y": [3]})


def test_has_batch_dim():
    assert bench.has_batch_dim([("x", 1, ["N", 3])], {})
    assert bench.has_batch_dim([("x", 1, [None, 3])], {})
    assert not bench.has_batch_dim([("x", 1, [1, 3])], {})
    assert not bench.has_batch_dim([("x", 1, ["N", 3])], {"x": [2, 3]})


def test_make_feed_types_and_determinism():
    specs = [bench.InputSpec("f", TensorProto.FLOAT, [2, 3]), bench.InputSpec("h", TensorProto.FLOAT16, [4]),
             bench.InputSpec("ids", TensorProto.INT64, [3, 7]),
             bench.InputSpec("attention_mask", TensorProto.INT64, [3, 7]),
             bench.InputSpec("b", TensorProto.BOOL, [5]), bench.InputSpec("u", TensorProto.UINT8, [0, 4]),
             bench.InputSpec("s", TensorProto.STRING, [2])]
    feed = bench.make_feed(specs, seed=3)
    assert feed["f"].dtype == np.float32 and feed["f"].shape == (2, 3)
    assert feed["h"].dtype == np.float16
    assert feed["ids"].dtype == np.int64 and feed["ids"].min() >= 0 and feed["ids"].max() < 100
    assert np.all(feed["attention_mask"] == 1)
    assert feed["b"].dtype == np.bool_ and feed["u"].shape == (0, 4)
    assert feed["s"].dtype == object
    again = bench.make_feed(specs, seed=3)
    assert all(np.array_equal(feed[k], again[k]) for k in feed)
    assert not np.array_equal(feed["f"], bench.make_feed(specs, seed=4)["f"])


def test_rel_l2():
    a = np.array([3.0, 4.0], np.float32)
    assert bench.rel_l2(a, a) == 0.0
    assert bench.rel_l2(a + np.array([0.0, 0.5]), a) == pytest.approx(0.1)
    assert bench.rel_l2(a, a[:1]) == float("inf")
    assert bench.rel_l2(np.zeros(3), np.zeros(3)) == 0.0
    assert bench.rel_l2(np.ones(3), np.zeros(3)) == float("inf")
    nan = np.array([np.nan, 1.0])
    assert bench.rel_l2(nan, nan.copy()) == 0.0
    assert bench.rel_l2(nan, np.array([1.0, 1.0])) == float("inf")
    assert bench.rel_l2(np.array(["a"], object), np.array(["b"], object)) == 1.0
    assert bench.max_rel_err([a, a], [a, a * 2]) == pytest.approx(0.5)
    assert bench.max_rel_err([a], [a, a]) == float("inf")


def _report(compare: bool) -> bench.BenchReport:
    fi = bench.RuntimeResult(median_ms=2.0, p90_ms=2.5, throughput=500.0, create_ms=12.0, peak_mb=3.25)
    row = bench.ConfigResult("m", 1, 2, {"x": [1, 3]}, fastinfer=fi)
    if compare:
        row.onnxruntime = bench.RuntimeResult(median_ms=4.0, p90_ms=5.0, throughput=250.0, create_ms=7.0,
                                              peak_mb=9.0)
        row.max_rel_err = 1.5e-7
    return bench.BenchReport({}, [row], [])


def test_tables():
    r = _report(True)
    assert r.rows[0].ratio == 0.5 and not r.failed
    text = bench.format_table(r)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["model", "batch", "threads", "fi", "med"]
    assert lines[2].split() == ["m", "1", "2", "2.00", "2.50", "4.00", "5.00", "500.0", "250.0", "0.50", "3.2",
                                "9.0", "12", "7", "1.5e-07"]
    md = bench.format_table(r, markdown=True).splitlines()
    assert md[0].startswith("| model | batch |") and md[2] == "| m | 1 | 2 | 2.00 | 2.50 | 4.00 | 5.00 | " \
        "500.0 | 250.0 | 0.50 | 3.2 | 9.0 | 12 | 7 | 1.5e-07 |"
    solo = bench.format_table(_report(False))
    assert "ort" not in solo and "fi med ms" in solo
    r.rows[0].fastinfer.error = "NotImplemented: X"
    assert r.failed and "fastinfer failed (batch/threads 1/2): NotImplemented: X" in bench.format_errors(r)


def test_progress_bar(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr("sys.stderr", buf)
    p = bench.Progress(4, enabled=True, width=8)
    for _ in range(4):
        p._last = 0.0
        p.step("work")
    assert "[########] 100.0% work" in buf.getvalue() and "[##......]  25.0%" in buf.getvalue()
    p.close()
    assert buf.getvalue().endswith("\r")
    quiet = io.StringIO()
    monkeypatch.setattr("sys.stderr", quiet)
    q = bench.Progress(2, enabled=False)
    q.step("x")
    q.close()
    assert quiet.getvalue() == ""


def test_benchmark_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError):
        bench.benchmark(str(tmp_path / "x.onnx"), runs=0)
    with pytest.raises(ValueError):
        bench.benchmark(str(tmp_path / "x.onnx"), batches=[0])
