"""The graph pass fuse_activation_into_conv: Sigmoid, Tanh, HardSwish and SiLU (Sigmoid + Mul)
after a float32 Conv move into its epilogue, on every conv path (GEMM, depthwise, Winograd, NCHW
and NHWC), after a fused residual; what must not fuse stays separate and correct."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import run_ort

R = np.random.default_rng(21)


def conv_act_model(act: str, c: int = 8, group: int = 1, hw: int = 9, residual: bool = False,
                   extra_reader: bool = False):
    """x -> Conv(3x3) [-> Add(x)] -> act -> Conv(1x1) -> y (two Convs, so the NHWC pass converts them)."""
    w1 = (R.standard_normal((c, c // group, 3, 3)) / 3).astype(np.float32)
    w2 = (R.standard_normal((c, c, 1, 1)) / 3).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
             numpy_helper.from_array(R.standard_normal(c).astype(np.float32), "b1")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1] * 4, group=group, name="conv")]
    t = "c"
    if residual:
        nodes.append(helper.make_node("Add", ["c", "x"], ["cr"], name="res"))
        t = "cr"
    if act == "Silu":
        nodes += [helper.make_node("Sigmoid", [t], ["s"], name="sig"),
                  helper.make_node("Mul", ["s", t] if residual else [t, "s"], ["a"], name="mul")]
    else:
        nodes.append(helper.make_node(act, [t], ["a"], name="act"))
    nodes.append(helper.make_node("Conv", ["a", "w2"], ["y"], name="conv2"))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if extra_reader:
        nodes.append(helper.make_node("Neg", [t], ["other"], name="other"))
        outputs.append(helper.make_tensor_value_info("other", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, hw, hw])],
                          outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def check(model, x, layout, monkeypatch, fused: bool, **kw):
    monkeypatch.setenv("FASTINFER_LAYOUT", layout)
    sess = fastinfer.Session(model, **kw)
    ops = [n["op_type"] for n in sess._describe_nodes()]
    assert (not any(o in ("Sigmoid", "Tanh", "HardSwish", "Mul") for o in ops)) == fused, ops
    want = run_ort(model, {"x": x})
    for _ in range(2):
        for g, w in zip(sess.run(None, {"x": x}), want):
            # Winograd rounds differently from a direct conv: compare relative to the output's scale
            assert np.linalg.norm(g - w) <= 1e-5 * np.linalg.norm(w)
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * float(np.abs(w).max()))


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("act", ["Silu", "Sigmoid", "Tanh", "HardSwish"])
@pytest.mark.parametrize("group,residual", [(1, False), (8, False), (1, True), (8, True)])
def test_activation_fuses_on_gemm_and_depthwise_paths(layout, act, group, residual, monkeypatch):
    x = R.standard_normal((2, 8, 9, 9)).astype(np.float32)
    # fuse_residual_add_into_conv takes depthwise convs too: the activation after the Add fuses as well.
    check(conv_act_model(act, group=group, residual=residual), x, layout, monkeypatch, fused=True)


@pytest.mark.parametrize("threads", [1, 2])
def test_silu_fuses_on_the_winograd_path(threads, monkeypatch):
    monkeypatch.setenv("FASTINFER_WINOGRAD", "4")  # forced, whatever the size
    x = R.standard_normal((1, 16, 20, 20)).astype(np.float32)
    check(conv_act_model("Silu", c=16, hw=20), x, "nchw", monkeypatch, fused=True, threads=threads)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_conv_output_read_elsewhere_does_not_fuse(layout, monkeypatch):
    x = R.standard_normal((1, 8, 9, 9)).astype(np.float32)
    check(conv_act_model("Silu", extra_reader=True), x, layout, monkeypatch, fused=False)


def test_sigmoid_times_something_else_is_not_silu(monkeypatch):
    model = conv_act_model("Silu")
    mul = next(n for n in model.graph.node if n.op_type == "Mul")
    mul.input[0] = "x"  # Mul(x, Sigmoid(conv)): not a SiLU of the conv
    x = R.standard_normal((1, 8, 9, 9)).astype(np.float32)
    monkeypatch.setenv("FASTINFER_LAYOUT", "nchw")
    sess = fastinfer.Session(model)
    assert "Mul" in [n["op_type"] for n in sess._describe_nodes()]
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], run_ort(model, {"x": x})[0], rtol=1e-4, atol=1e-5)


def test_unknown_fused_activation_attribute_is_rejected():
    model = conv_act_model("Tanh")
    conv = model.graph.node[0]
    conv.attribute.append(helper.make_attribute("fi.activation", "Swoosh"))
    with pytest.raises(fastinfer.InvalidModel, match="Swoosh"):
        fastinfer.Session(model)


@pytest.mark.parametrize("act", ["Silu", "HardSwish"])
def test_activation_fuses_on_the_nhwc_winograd_path(act, monkeypatch):
    monkeypatch.setenv("FASTINFER_WINOGRAD", "4")
    x = R.standard_normal((1, 16, 20, 20)).astype(np.float32)
    check(conv_act_model(act, c=16, hw=20), x, "nhwc", monkeypatch, fused=True)
