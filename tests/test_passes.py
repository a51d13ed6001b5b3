"""Graph passes: each rewrite gives the same numbers as the plain graph and as ONNX Runtime, and
leaves alone the graphs where it would not be exact."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import run_ort


@pytest.fixture(autouse=True)
def _nchw_layout(monkeypatch):
    """These tests check the op lists of the NCHW fusions: the channels-last pass (tests/test_nhwc_pass.py) is off."""
    monkeypatch.setenv("FASTINFER_LAYOUT", "nchw")


def _conv_bn_model(with_bias: bool, act: str | None, share_conv_output: bool = False, opset: int = 17):
    r = np.random.default_rng(3)
    C, M = 5, 7
    inits = {
        "W": r.standard_normal((M, C, 3, 3)).astype(np.float32),
        "scale": r.uniform(0.5, 2, M).astype(np.float32),
        "shift": r.standard_normal(M).astype(np.float32),
        "mean": r.standard_normal(M).astype(np.float32),
        "var": r.uniform(0.1, 3, M).astype(np.float32),
    }
    conv_in = ["x", "W"]
    if with_bias:
        inits["B"] = r.standard_normal(M).astype(np.float32)
        conv_in.append("B")
    nodes = [helper.make_node("Conv", conv_in, ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["b"], epsilon=1e-3)]
    out = "b"
    if act == "Relu":
        nodes.append(helper.make_node("Relu", ["b"], ["y"]))
        out = "y"
    elif act == "Clip":
        inits["lo"] = np.array(0.0, np.float32)
        inits["hi"] = np.array(6.0, np.float32)
        nodes.append(helper.make_node("Clip", ["b", "lo", "hi"], ["y"]))
        out = "y"
    outputs = [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)]
    if share_conv_output:
        outputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "convbn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", C, 9, 11])],
                          outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _op_types(sess: fastinfer.Session) -> list[str]:
    return [op for _, op, _ in sess._graph.nodes()]


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("act", [None, "Relu", "Clip"])
def test_batchnorm_folds_into_conv(with_bias, act):
    model = _conv_bn_model(with_bias, act)
    x = np.random.default_rng(0).standard_normal((2, 5, 9, 11)).astype(np.float32)
    fused = fastinfer.Session(model, threads=1)
    plain = fastinfer.Session(model, threads=1, optimize=False)
    assert _op_types(fused) == ["Conv"]  # BN folded, Relu/Clip fused into the epilogue
    assert "BatchNormalization" in _op_types(plain)
    ref = run_ort(model, {"x": x})[0]
    np.testing.assert_allclose(fused.run(x), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(plain.run(x), ref, rtol=1e-4, atol=1e-4)


def test_batchnorm_not_folded_when_conv_output_is_also_used():
    model = _conv_bn_model(True, None, share_conv_output=True)
    x = np.random.default_rng(1).standard_normal((1, 5, 9, 11)).astype(np.float32)
    sess = fastinfer.Session(model, threads=1)
    assert "BatchNormalization" in _op_types(sess)
    ours = sess.run(None, {"x": x})
    ref = run_ort(model, {"x": x})
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", ["single", "shared", "output", "input"])
def test_batchnorm_fold_scales_only_weights_nothing_else_sees(case):
    """The fold scales W in place only when its Conv is its one reader and it is no graph input
    or output; a W shared by two Conv+BN pairs, returned as an output or overridable as an input
    keeps its values for the others."""
    r = np.random.default_rng(8)
    C, M = 3, 4
    w = r.standard_normal((M, C, 3, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "W")]
    nodes, outputs = [], []
    for k in range(2 if case == "shared" else 1):
        bn = [f"scale{k}", f"shift{k}", f"mean{k}", f"var{k}"]
        for name, v in zip(bn, (r.uniform(0.5, 2, M), r.standard_normal(M), r.standard_normal(M), r.uniform(0.1, 3, M))):
            inits.append(numpy_helper.from_array(v.astype(np.float32), name))
        nodes += [helper.make_node("Conv", ["x", "W"], [f"c{k}"], pads=[1, 1, 1, 1]),
                  helper.make_node("BatchNormalization", [f"c{k}", *bn], [f"y{k}"])]
        outputs.append(helper.make_tensor_value_info(f"y{k}", TensorProto.FLOAT, None))
    if case == "output":
        nodes.append(helper.make_node("Identity", ["W"], ["w_out"]))
        outputs.append(helper.make_tensor_value_info("w_out", TensorProto.FLOAT, None))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, 6, 5])]
    if case == "input":
        inputs.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [M, C, 3, 3]))
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = r.standard_normal((1, C, 6, 5)).astype(np.float32)
    sess = fastinfer.Session(model, threads=1)
    feeds = [{"x": x}]
    if case == "input":
        feeds.append({"x": x, "W": (w * 2).astype(np.float32)})
    for feed in feeds:
        want = run_ort(model, feed)
        for _ in range(2):
            for got, ref in zip(sess.run(None, feed), want):
                np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    if case == "output":
        np.testing.assert_array_equal(sess.run(None, {"x": x})[-1], w)


def test_inference_session_disable_all_skips_passes():
    model = _conv_bn_model(True, None)
    so = fastinfer.SessionOptions()
    so.graph_optimization_level = 0
    sess = fastinfer.InferenceSession(model.SerializeToString(), so)
    assert "BatchNormalization" in _op_types(sess)


@pytest.mark.parametrize("act,bounds", [("Relu", None), ("Clip", (-0.5, 0.7)), ("Clip", (None, 0.3))])
@pytest.mark.parametrize("trans_b", [0, 1])
def test_clamp_fuses_into_gemm(act, bounds, trans_b):
    r = np.random.default_rng(5)
    inits = {"B": r.standard_normal((13, 9) if trans_b else (9, 13)).astype(np.float32),
             "C": r.standard_normal(13).astype(np.float32)}
    act_inputs = ["g"]
    if act == "Clip":
        lo, hi = bounds
        act_inputs += ["lo" if lo is not None else "", "hi"]
        if lo is not None:
            inits["lo"] = np.array(lo, np.float32)
        inits["hi"] = np.array(hi, np.float32)
    nodes = [helper.make_node("Gemm", ["a", "B", "C"], ["g"], transB=trans_b, alpha=0.7),
             helper.make_node(act, act_inputs, ["y"])]
    g = helper.make_graph(nodes, "gemmact", [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 9])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    a = r.standard_normal((6, 9)).astype(np.float32)
    a[0, 0] = np.nan
    sess = fastinfer.Session(model, threads=1)
    assert _op_types(sess) == ["Gemm"]
    np.testing.assert_allclose(sess.run(a), run_ort(model, {"a": a})[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("group", [1, 6])
def test_clip_fuses_into_depthwise_and_dense_conv(group):
    """MobileNet's Conv -> Clip(0, 6): the fused result equals the plain graph and ORT, NaN included."""
    r = np.random.default_rng(7)
    C = 6
    inits = {"W": r.standard_normal((C, C // group, 3, 3)).astype(np.float32),
             "B": r.standard_normal(C).astype(np.float32),
             "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], group=group),
             helper.make_node("Clip", ["c", "lo", "hi"], ["y"])]
    g = helper.make_graph(nodes, "convclip", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", C, 13, 9])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = (r.standard_normal((2, C, 13, 9)) * 4).astype(np.float32)
    x[0, 0, 5, 5] = np.nan
    fused = fastinfer.Session(model, threads=1)
    assert _op_types(fused) == ["Conv"]
    ours = fused.run(x)
    np.testing.assert_allclose(ours, fastinfer.Session(model, threads=1, optimize=False).run(x), rtol=1e-6)
    np.testing.assert_allclose(ours, run_ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4)
    assert np.isnan(ours[0]).any()


def _residual_model(residual: str, act: bool = True):
    """x -> conv_a -> a;  y = Add(conv_b(a), <residual>) [-> Relu]. residual: 'input' (x itself),
    'conv' (a, computed before conv_b), 'broadcast' (a [1, 1, 7, 10] constant: not fusable; a [1, C, 1, 1]
    one would fold into conv_b's bias)."""
    r = np.random.default_rng(11)
    C = 4
    inits = {"Wa": r.standard_normal((C, C, 3, 3)).astype(np.float32),
             "Wb": r.standard_normal((C, C, 1, 1)).astype(np.float32),
             "Bb": r.standard_normal(C).astype(np.float32),
             "k": r.standard_normal((1, 1, 7, 10)).astype(np.float32)}
    other = {"input": "x", "conv": "a", "broadcast": "k"}[residual]
    nodes = [helper.make_node("Conv", ["x", "Wa"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "Wb", "Bb"], ["b"]),
             helper.make_node("Add", [other, "b"], ["s"])]
    out = "s"
    if act:
        nodes.append(helper.make_node("Relu", ["s"], ["y"]))
        out = "y"
    g = helper.make_graph(nodes, "res", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", C, 7, 10])],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("residual,fused", [("input", True), ("conv", True), ("broadcast", False)])
@pytest.mark.parametrize("act", [False, True])
def test_residual_add_fuses_into_conv(residual, fused, act):
    model = _residual_model(residual, act)
    x = np.random.default_rng(2).standard_normal((2, 4, 7, 10)).astype(np.float32)
    sess = fastinfer.Session(model, threads=2)
    assert ("Add" not in _op_types(sess)) == fused
    if fused and act:
        assert _op_types(sess) == ["Conv", "Conv"]
    ours = sess.run(x)
    np.testing.assert_allclose(ours, fastinfer.Session(model, threads=1, optimize=False).run(x), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(ours, run_ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_constant_nodes_fold_so_clip_bounds_fuse():
    """torch exports Clip bounds as Constant nodes: they fold into constants, and the Clip fuses."""
    r = np.random.default_rng(4)
    nodes = [helper.make_node("Constant", [], ["lo"], value=numpy_helper.from_array(np.array(0.0, np.float32))),
             helper.make_node("Constant", [], ["hi"], value_float=6.0),
             helper.make_node("Constant", [], ["shape_out"], value_ints=[2]),
             helper.make_node("Conv", ["x", "W"], ["c"]),
             helper.make_node("Clip", ["c", "lo", "hi"], ["y"])]
    g = helper.make_graph(nodes, "cc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("shape_out", TensorProto.INT64, None)],
                          [numpy_helper.from_array(r.standard_normal((4, 3, 1, 1)).astype(np.float32) * 5, "W")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = r.standard_normal((1, 3, 5, 5)).astype(np.float32)
    sess = fastinfer.Session(model, threads=1)
    assert sorted(_op_types(sess)) == ["Constant", "Conv"]  # the graph-output Constant stays a node
    ours = sess.run(None, {"x": x})
    ref = run_ort(model, {"x": x})
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ours[1], ref[1])
