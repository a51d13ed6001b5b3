"""The fuse_attention pass: the self-attention subgraph that torch.onnx.export writes becomes one
com.microsoft MultiHeadAttention node; outputs stay within 1e-5 of ONNX Runtime and of
optimize=False; look-alike graphs that are not attention (or not provably so) stay as they are."""

from __future__ import annotations

import fastinfer
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper


def _ops(model_bytes: bytes, feeds: dict) -> tuple[set[str], np.ndarray]:
    s = fastinfer.Session(model_bytes, profile=True)
    y = s.run(None, feeds)[0]
    return {t.op_type for t in s.profile_summary()}, y


def _check(model: onnx.ModelProto, feeds: dict, fused: bool):
    data = model.SerializeToString()
    ops, y = _ops(data, feeds)
    assert ("MultiHeadAttention" in ops) == fused, ops
    if fused:
        assert "Softmax" not in ops and "Transpose" not in ops, ops
    y0 = fastinfer.Session(data, optimize=False).run(None, feeds)[0]
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    yo = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    np.testing.assert_allclose(y, yo, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, y0, rtol=1e-5, atol=1e-5)


def _attention_model(h=2, d=8, dv=None, scale="div", mask="b11l", kt="0231", axis=-1, v_perm=(0, 2, 1, 3),
                     scores_output=False, scale_input=False, out_shape=None, opset=17):
    """q, k, v [B, S|L, H*D] -> split heads -> MatMul -> scale -> Add mask -> Softmax -> MatMul -> merge."""
    dv = d if dv is None else dv
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    const("shape_qk", np.array([0, 0, h, d], np.int64))
    const("shape_v", np.array([0, 0, h, dv], np.int64))
    const("shape_o", np.array(out_shape or [0, 0, h * dv], np.int64))
    nodes += [
        helper.make_node("Reshape", ["q", "shape_qk"], ["q4"]),
        helper.make_node("Transpose", ["q4"], ["qt"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["k", "shape_qk"], ["k4"]),
        helper.make_node("Reshape", ["v", "shape_v"], ["v4"]),
        helper.make_node("Transpose", ["v4"], ["vt"], perm=list(v_perm)),
    ]
    if kt == "0231":
        nodes.append(helper.make_node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]))
    else:
        nodes.append(helper.make_node("Transpose", ["k4"], ["kh"], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Transpose", ["kh"], ["kt"], perm=[0, 1, 3, 2]))
    nodes.append(helper.make_node("MatMul", ["qt", "kt"], ["s0"]))
    s = "s0"
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B", x, w])
              for n, x, w in (("q", "S", h * d), ("k", "L", h * d), ("v", "L", h * dv))]
    if scale == "div":
        nodes.append(helper.make_node("Div", [s, "c" if scale_input else const("c", np.float32(d ** 0.5))], ["s1"]))
        s = "s1"
    elif scale == "mul":
        nodes.append(helper.make_node("Mul", [const("c", np.float32(d ** -0.5)), s], ["s1"]))
        s = "s1"
    if scale_input:
        inputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, []))
    if mask:
        dims = {"b11l": ["B", 1, 1, "L"], "bhsl": ["B", h, "S", "L"], "l": ["L"], "grow": ["B", h, "T", "L"]}[mask]
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, dims))
        nodes.append(helper.make_node("Add", ["mask", s], ["s2"]))
        s = "s2"
    nodes += [
        helper.make_node("Softmax", [s], ["p"], axis=axis),
        helper.make_node("MatMul", ["p", "vt"], ["o4"]),
        helper.make_node("Transpose", ["o4"], ["ot"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["ot", "shape_o"], ["y"]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if scores_output:
        outputs.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "attn", inputs, outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _feeds(b, s, l, h, d, dv=None, mask="b11l", seed=0, t=None):
    dv = d if dv is None else dv
    r = np.random.default_rng(seed)
    f = {"q": r.standard_normal((b, s, h * d)).astype(np.float32),
         "k": r.standard_normal((b, l, h * d)).astype(np.float32),
         "v": r.standard_normal((b, l, h * dv)).astype(np.float32)}
    if mask:
        shape = {"b11l": (b, 1, 1, l), "bhsl": (b, h, s, l), "l": (l,), "grow": (b, h, t or s, l)}[mask]
        f["mask"] = np.where(r.random(shape) > 0.3, 0.0, -10000.0).astype(np.float32)
    return f


@pytest.mark.parametrize("s,l,h,d", [(1, 1, 1, 8), (7, 7, 2, 8), (33, 17, 3, 64), (129, 129, 2, 80)])
def test_fuses_basic(s, l, h, d):
    _check(_attention_model(h, d), _feeds(2, s, l, h, d), fused=True)


@pytest.mark.parametrize("kw", [
    {"scale": "mul"}, {"scale": None}, {"mask": None}, {"mask": "bhsl"}, {"mask": "l"}, {"kt": "double"},
    {"dv": 24}, {"axis": 3}, {"opset": 11, "axis": 3},
])
def test_fuses_variants(kw):
    model = _attention_model(3, 16, **kw)
    _check(model, _feeds(2, 9, 9, 3, 16, dv=kw.get("dv"), mask=kw.get("mask", "b11l")), fused=True)


@pytest.mark.parametrize("kw", [
    {"axis": 2},                      # softmax over the wrong axis
    {"opset": 11, "axis": 1},         # the old flattening softmax
    {"scale_input": True},            # scale not a constant
    {"scores_output": True},          # intermediate read by someone else
    {"v_perm": (0, 2, 3, 1)},         # V not split the attention way
    {"out_shape": [0, -1, 8]},        # heads not merged back to [B, S, H*Dv]
    {"mask": "grow"},                 # mask broadcasts the scores up: not provably [B, H, S, L]
])
def test_does_not_fuse(kw):
    h, d = 2, 8
    model = _attention_model(h, d, **kw)
    feeds = _feeds(1, 5, 5, h, d, mask=kw.get("mask", "b11l"), t=1)
    if kw.get("scale_input"):
        feeds["c"] = np.array(3.0, np.float32)
    if kw.get("mask") == "grow":
        feeds["q"] = feeds["q"][:, :1]
        feeds["mask"] = np.zeros((1, h, 5, 5), np.float32)
    if kw.get("v_perm"):  # [B, H, D, L] as the right operand: valid when L == D, but not attention
        feeds = _feeds(1, 8, 8, h, d)
    _check(model, feeds, fused=False)


# ---- real exports ----

torch = pytest.importorskip("torch")


class _SelfAttention(torch.nn.Module):
    """A BERT-style self-attention block in plain torch (or through scaled_dot_product_attention)."""

    def __init__(self, hidden=64, heads=4, sdpa=False):
        super().__init__()
        self.h, self.d, self.sdpa = heads, hidden // heads, sdpa
        self.q = torch.nn.Linear(hidden, hidden)
        self.k = torch.nn.Linear(hidden, hidden)
        self.v = torch.nn.Linear(hidden, hidden)

    def forward(self, x, mask):
        b, s, _ = x.shape
        q, k, v = (t(x).view(b, s, self.h, self.d).transpose(1, 2) for t in (self.q, self.k, self.v))
        if self.sdpa:
            o = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            p = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / self.d ** 0.5 + mask, dim=-1)
            o = torch.matmul(p, v)
        return o.transpose(1, 2).reshape(b, s, self.h * self.d)


def _export(tmp_path, dynamo, sdpa):
    torch.manual_seed(0)
    m = _SelfAttention(sdpa=sdpa).eval()
    x, mask = torch.randn(2, 7, 64), torch.zeros(2, 1, 1, 7)
    path = tmp_path / f"attn_{dynamo}_{sdpa}.onnx"
    if dynamo:
        b, s = torch.export.Dim("B"), torch.export.Dim("S")
        kw = {"dynamic_shapes": {"x": {0: b, 1: s}, "mask": {0: b, 3: s}}}
    else:
        kw = {"dynamic_axes": {"x": {0: "B", 1: "S"}, "mask": {0: "B", 3: "S"}}}
    torch.onnx.export(m, (x, mask), str(path), input_names=["x", "mask"], output_names=["y"], dynamo=dynamo, **kw)
    return onnx.load(str(path))


@pytest.mark.parametrize("dynamo,sdpa,fused", [
    (True, False, True), (False, False, True), (True, True, True),
    (False, True, True),  # TorchScript's SDPA scale comes from Shape: fold_shape_subgraphs makes it constant
])
def test_torch_export(tmp_path, dynamo, sdpa, fused):
    model = _export(tmp_path, dynamo, sdpa)
    r = np.random.default_rng(1)
    for b, s in ((2, 7), (1, 33)):
        feeds = {"x": r.standard_normal((b, s, 64)).astype(np.float32),
                 "mask": np.where(r.random((b, 1, 1, s)) > 0.3, 0.0, -10000.0).astype(np.float32)}
        _check(model, feeds, fused=fused)
