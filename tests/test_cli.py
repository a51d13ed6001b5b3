"""The ``fastinfer`` command end to end, run as a subprocess (``python -m fastinfer.cli`` and
``python -m fastinfer``), on small Add/Identity models made here."""

from __future__ import annotations

import json
import subprocess
import sys

import fastinfer
import numpy as np
import onnx
import pytest
from child_env import child_env
from fastinfer import models
from onnx import TensorProto, helper


def _env(extra_path: str | None = None) -> dict:
    return child_env(*([extra_path] if extra_path else []))


def run_cli(*args: str, module: str = "fastinfer.cli", extra_path: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=_env(extra_path), timeout=timeout, check=False)


def _add_identity_model(path: str) -> str:
    """y = a + b, z = Identity(a); a, b: float [batch, seq]."""
    g = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"]), helper.make_node("Identity", ["a"], ["z"])], "addid",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", "seq"]) for n in ("a", "b")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", "seq"]) for n in ("y", "z")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    return path


@pytest.fixture(scope="module")
def add_model(tmp_path_factory) -> str:
    return _add_identity_model(str(tmp_path_factory.mktemp("cli") / "addid.onnx"))


def _missing_ops(model: onnx.ModelProto) -> list[str]:
    have = {(d, op) for d, op in fastinfer.supported_ops()}
    return sorted({n.op_type for n in model.graph.node if (n.domain, n.op_type) not in have})


def test_bench_end_to_end(add_model, tmp_path):
    out = tmp_path / "out.json"
    p = run_cli("bench", add_model, "--batch", "1", "3", "--threads", "1", "2", "--runs", "3", "--warmup", "1",
                "--dim", "seq=5", "--json", str(out))
    assert p.returncode == 0, p.stderr + p.stdout
    assert "CPU:" in p.stdout and "fi/ort" in p.stdout and "max rel err" in p.stdout
    assert "inputs at batch 3: a=3x5, b=3x5" in p.stdout
    data = json.loads(out.read_text())
    assert data["header"]["cpu"] == fastinfer.cpu_info()["brand"].strip() or data["header"]["cpu"]
    assert data["header"]["isa"] == fastinfer.cpu_info()["isa"]
    rows = data["rows"]
    assert [(r["batch"], r["threads"]) for r in rows] == [(1, 1), (1, 2), (3, 1), (3, 2)]
    for r in rows:
        assert r["shapes"] == {"a": [r["batch"], 5], "b": [r["batch"], 5]}
        for rt in ("fastinfer", "onnxruntime"):
            res = r[rt]
            assert res["error"] is None
            assert 0 < res["median_ms"] <= res["p90_ms"]
            assert res["throughput"] == pytest.approx(r["batch"] * 1000 / res["median_ms"])
            assert res["create_ms"] > 0
            assert res["peak_mb"] is not None and res["peak_mb"] >= 0
        assert r["max_rel_err"] == 0.0
        assert r["ratio"] == pytest.approx(r["fastinfer"]["median_ms"] / r["onnxruntime"]["median_ms"])
    table = [ln for ln in p.stdout.splitlines() if ln.startswith("addid ")]
    assert len(table) == 4


def test_bench_fastinfer_only_markdown(add_model, tmp_path):
    out = tmp_path / "out.json"
    p = run_cli("bench", add_model, "--runs", "2", "--warmup", "0", "--compare", "none", "--no-memory",
                "--markdown", "--json", str(out), "--shape", "a=2x7", "--shape", "b=2x7")
    assert p.returncode == 0, p.stderr + p.stdout
    assert "ort med ms" not in p.stdout
    assert "| addid | 1 | 1 |" in p.stdout
    row = json.loads(out.read_text())["rows"][0]
    assert row["onnxruntime"] is None and row["shapes"] == {"a": [2, 7], "b": [2, 7]}
    assert row["fastinfer"]["peak_mb"] is None


def test_bench_without_onnxruntime_says_how_to_install(add_model, tmp_path):
    blocker = tmp_path / "block"
    (blocker / "onnxruntime").mkdir(parents=True)
    (blocker / "onnxruntime" / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    p = run_cli("bench", add_model, "--runs", "2", "--warmup", "0", "--no-memory", extra_path=str(blocker))
    assert p.returncode == 0, p.stderr + p.stdout
    assert 'pip install "fastinfer[bench]"' in p.stderr
    assert "onnxruntime not used" in p.stdout
    assert "ort med ms" not in p.stdout and "fi med ms" in p.stdout


def test_bench_reports_runtime_failures(tmp_path):
    g = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["y"], domain="com.example")], "bad",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)],
                          ir_version=8)
    path = str(tmp_path / "bad.onnx")
    onnx.save(m, path)
    p = run_cli("bench", path, "--runs", "2", "--warmup", "0", "--no-memory")
    assert p.returncode == 1
    assert "fastinfer failed (batch/threads 1/1)" in p.stdout and "NoSuchOp" in p.stdout
    assert "onnxruntime failed (batch/threads 1/1)" in p.stdout


@pytest.mark.parametrize("args, message", [
    (["bench", "does-not-exist.onnx"], "neither a model file nor a built-in"),
    (["bench", "{model}", "--shape", "a=2xq"], "dimensions must be integers"),
    (["bench", "{model}", "--shape", "nope=2x2"], "not inputs of the model"),
    (["bench", "{model}", "--shape", "a=2x2x2"], "rank 2"),
    (["bench", "{model}", "--dim", "seq"], "DIM_NAME=VALUE"),
    (["bench", "{model}", "--batch", "0"], "must be at least 1"),
    (["bench", "{model}", "--runs", "x"], "not an integer"),
])
def test_bench_usage_errors(add_model, args, message):
    p = run_cli(*[a.replace("{model}", add_model) for a in args])
    assert p.returncode == 2
    assert message in p.stderr


def test_bench_not_an_onnx_file(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"\x00\xff not a model")
    p = run_cli("bench", str(bad))
    assert p.returncode == 2 and "not a valid ONNX model" in p.stderr


def test_version_and_python_m_fastinfer():
    for module in ("fastinfer", "fastinfer.cli"):
        p = run_cli("--version", module=module)
        assert p.returncode == 0 and p.stdout.strip() == f"fastinfer {fastinfer.__version__}"
    p = run_cli(module="fastinfer")
    assert p.returncode == 0 and "bench" in p.stdout and "info" in p.stdout


def test_info():
    p = run_cli("info", module="fastinfer")
    assert p.returncode == 0, p.stderr
    assert f"supported operators: {len(fastinfer.supported_ops())} " in p.stdout
    assert f"kernel ISA in use: {fastinfer.cpu_info()['isa']}" in p.stdout
    assert "resnet_mini" in p.stdout


def test_inspect(add_model, tmp_path):
    p = run_cli("inspect", add_model)
    assert p.returncode == 0, p.stderr
    assert "nodes: 2" in p.stdout and "input  a: FLOAT [batchxseq]" in p.stdout
    assert any(ln.split()[:2] == ["Add", "1"] for ln in p.stdout.splitlines())
    mini = str(tmp_path / "mini.onnx")
    onnx.save(models.get_model("resnet_mini"), mini)
    p = run_cli("inspect", mini)
    n_params = sum(int(np.prod(t.dims)) for t in onnx.load(mini).graph.initializer)
    assert p.returncode == 0 and f"parameters: {n_params:,}" in p.stdout
    p = run_cli("inspect", str(tmp_path / "missing.onnx"))
    assert p.returncode == 2


def test_default_bench_runs_the_builtin_model():
    missing = _missing_ops(models.get_model(models.DEFAULT_MODEL))
    if missing:
        pytest.skip(f"fastinfer has no kernels yet for {missing}")
    p = run_cli("bench", "--runs", "2", "--warmup", "1", "--no-memory")
    assert p.returncode == 0, p.stderr + p.stdout
    assert "built-in resnet_mini" in p.stdout
    row = [ln for ln in p.stdout.splitlines() if ln.startswith("resnet_mini ")]
    assert len(row) == 1
    assert float(row[0].split()[-1]) < 1e-4  # max rel err against ONNX Runtime
