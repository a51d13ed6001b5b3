"""``Session._describe_nodes`` (the graph after passes: kernel, layout, shapes, FLOPs) and
``fastinfer inspect`` printing it, as text and as ``--json``."""

from __future__ import annotations

import json
import subprocess
import sys

import fastinfer
import numpy as np
import onnx
import pytest
from child_env import child_env
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


@pytest.fixture(autouse=True)
def _nchw_layout(request, monkeypatch):
    """Most tests here check the NCHW node list; the layout test turns the NHWC pass on itself."""
    if "nhwc" not in request.node.name:
        monkeypatch.setenv("FASTINFER_LAYOUT", "nchw")


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def conv_gemm_model(batch="N") -> onnx.ModelProto:
    """Conv(3->8, 3x3, pad 1) -> Relu -> depthwise Conv 3x3 -> Reshape (via Shape, folded) -> Gemm."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((8, 1, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.standard_normal((8 * 6 * 6, 10)).astype(np.float32), "w3"),
             numpy_helper.from_array(np.array([-1, 8 * 6 * 6], np.int64), "shape")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], group=8, name="dw"),
             helper.make_node("Identity", ["c2"], ["c2i"], name="ident"),
             helper.make_node("Reshape", ["c2i", "shape"], ["flat"], name="flatten"),
             helper.make_node("Gemm", ["flat", "w3"], ["y"], name="fc")]
    g = helper.make_graph(nodes, "cg", [vi("x", [batch, 3, 6, 6])], [vi("y", [batch, 10])], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_describe_nodes_fields_and_flops():
    s = fastinfer.Session(conv_gemm_model(batch=2), threads=1)
    nodes = s._describe_nodes()
    assert [n["op_type"] for n in nodes] == ["Conv", "Conv", "Reshape", "Gemm"]  # Relu fused, Identity gone
    conv1, dw, _, fc = nodes
    assert conv1["name"] == "conv1" and conv1["domain"] == "" and conv1["layout"] == ""
    assert conv1["outputs"][0]["dims"] == [2, 8, 6, 6]
    assert conv1["flops"] == 2 * (2 * 8 * 6 * 6) * (3 * 3 * 3)
    assert dw["flops"] == 2 * (2 * 8 * 6 * 6) * 9
    assert fc["flops"] == 2 * 2 * 10 * 288
    assert "im2col" in conv1["kernel"] and "f32_gemm" in conv1["kernel"]
    assert "dwconv" in dw["kernel"]
    assert "packed B" in fc["kernel"] and "f32_gemm" in fc["kernel"]
    assert nodes[2]["flops"] == 0


def test_describe_nodes_unknown_shapes_and_elementwise():
    m = conv_gemm_model()
    nodes = fastinfer.Session(m, threads=1)._describe_nodes()
    assert nodes[0]["outputs"][0]["dims"][0] == -1 and nodes[0]["outputs"][0]["dim_params"][0] == "N"
    assert all(n["flops"] == -1 for n in nodes if n["op_type"] in ("Conv", "Gemm"))
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("Exp", ["c"], ["d"])],
                          "e", [vi("a", [3, 5]), vi("b", [5])], [vi("d", [3, 5])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert [(n["kernel"], n["flops"]) for n in fastinfer.Session(m)._describe_nodes()] == [("Add", 15), ("Exp", 15)]


def test_attention_flops():
    # Both products of every head (Q K^T and P V); the packed Attention adds its Q/K/V GEMM.
    ms = helper.make_opsetid("com.microsoft", 1)
    mha = helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["y"], domain="com.microsoft", num_heads=4)
    g = helper.make_graph([mha], "mha", [vi("q", [2, 5, 16]), vi("k", [2, 7, 16]), vi("v", [2, 7, 8])],
                          [vi("y", [2, 5, 8])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), ms], ir_version=8)
    (node,) = fastinfer.Session(m)._describe_nodes()
    assert node["flops"] == 2 * 2 * 5 * 7 * 16 + 2 * 2 * 5 * 7 * 8
    w = numpy_helper.from_array(np.ones((16, 48), np.float32), "w")
    att = helper.make_node("Attention", ["x", "w"], ["y"], domain="com.microsoft", num_heads=4)
    g = helper.make_graph([att], "att", [vi("x", [2, 5, 16])], [vi("y", [2, 5, 16])], initializer=[w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), ms], ir_version=8)
    (node,) = fastinfer.Session(m)._describe_nodes()
    assert node["flops"] == 2 * 2 * 5 * 16 * 48 + 2 * 2 * 5 * 5 * (16 + 16)


def test_describe_nodes_without_passes():
    nodes = fastinfer.Session(conv_gemm_model(batch=1), optimize=False)._describe_nodes()
    assert [n["op_type"] for n in nodes] == ["Conv", "Relu", "Conv", "Identity", "Reshape", "Gemm"]


def test_describe_matmul_int_and_float():
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"]),
                           helper.make_node("MatMul", ["ai", "bi"], ["ci"])], "mm",
                          [vi("a", [4, 16, 32]), vi("b", [32, 8]), vi("ai", [3, 5], TensorProto.INT32),
                           vi("bi", [5, 2], TensorProto.INT32)],
                          [vi("c", None), vi("ci", None, TensorProto.INT32)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    f, i = fastinfer.Session(m)._describe_nodes()
    assert f["kernel"].startswith("f32_gemm") and f["flops"] == 2 * 4 * 16 * 8 * 32
    assert i["kernel"] == "ref_gemm" and i["flops"] == 2 * 3 * 2 * 5


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastinfer.cli", *args], capture_output=True, text=True,
                          env=child_env(), timeout=120, check=False)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    p = str(tmp_path_factory.mktemp("inspect") / "cg.onnx")
    onnx.save(conv_gemm_model(), p)
    return p


def test_cli_inspect_text(model_path):
    p = run_cli("inspect", model_path, "--dim", "N=2")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "nodes: 6" in out and "graph after passes: 4 nodes" in out
    lines = [ln for ln in out.splitlines() if "conv1" in ln]
    assert len(lines) == 1 and "Conv" in lines[0] and "im2col" in lines[0] and "NCHW" in lines[0]
    assert "FLOAT [2x8x6x6]" in lines[0]
    total = 2 * (2 * 8 * 36) * 27 + 2 * 8 * 36 * 0 + 2 * (2 * 8 * 36) * 9 + 2 * 2 * 10 * 288
    assert f"total: 4 nodes, {total / 1e3:.2f}kFLOPs per run" in out
    p = run_cli("inspect", model_path)
    assert p.returncode == 0 and "FLOAT [Nx8x6x6]" in p.stdout and "not counted" in p.stdout


def test_cli_inspect_json(model_path):
    p = run_cli("inspect", model_path, "--json", "--dim", "N=1")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["nodes_in_model"] == 6 and r["optimized"] and r["error"] is None
    assert [n["op_type"] for n in r["nodes"]] == ["Conv", "Conv", "Reshape", "Gemm"]
    assert r["total_flops"]["flops"] == sum(n["flops"] for n in r["nodes"]) and r["total_flops"]["nodes_unknown"] == 0
    p = run_cli("inspect", model_path, "--json", "--no-optimize")
    assert len(json.loads(p.stdout)["nodes"]) == 6


def test_cli_inspect_unsupported_model(tmp_path):
    g = helper.make_graph([helper.make_node("NoSuchOp", ["a"], ["b"], domain="x.y")], "u", [vi("a", [2])],
                          [vi("b", [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("x.y", 1)],
                          ir_version=8)
    path = str(tmp_path / "u.onnx")
    onnx.save(m, path)
    p = run_cli("inspect", path)
    assert p.returncode == 0 and "graph after passes: not available (NotImplemented" in p.stdout
    p = run_cli("inspect", str(tmp_path / "missing.onnx"))
    assert p.returncode == 2


def test_describe_names_the_kernel_of_each_isa_tier():
    """The kernels named are the ones the ISA cap allows (set_isa caps the tier for new sessions)."""
    top = fastinfer._core.cpu_info()["isa"]
    tiers = ["ref", "avx2", "avx512"]
    try:
        for isa in tiers[:tiers.index(top) + 1]:
            assert fastinfer._core.set_isa(isa) == isa
            conv1, dw, _, fc = fastinfer.Session(conv_gemm_model(batch=1), threads=1)._describe_nodes()
            assert conv1["kernel"].endswith("__" + isa) and fc["kernel"].endswith(f"__{isa} packed B")
            assert dw["kernel"].startswith("f32_dwconv_") and dw["kernel"].endswith("__" + isa)
    finally:
        fastinfer._core.set_isa(top)


def test_describe_shows_the_nhwc_layout_and_its_reorders(monkeypatch):
    monkeypatch.setenv("FASTINFER_LAYOUT", "nhwc")
    nodes = fastinfer.Session(conv_gemm_model(2))._describe_nodes()
    layouts = {n["op_type"]: n["layout"] for n in nodes}
    assert layouts["NhwcConv"] == "NHWC"
    assert layouts["NhwcToNchw"] == "NHWC->NCHW"
    assert layouts["Gemm"] in ("", "NCHW")
    conv1 = next(n for n in nodes if n["name"] == "conv1")
    # conv1 reads the 3-channel NCHW input itself, in place of an NchwToNhwc reorder.
    assert "NchwToNhwc" not in layouts and "from NCHW input" in conv1["kernel"]
    assert conv1["flops"] == 2 * (2 * 6 * 6 * 8) * (3 * 3 * 3)  # counted like the Conv it replaced
