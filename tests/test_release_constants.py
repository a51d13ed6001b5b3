"""Constants that every reader packed at session creation are dropped (Graph::release_if_packed):
weights shared between packing kernels, or also read by a plain op or returned as a graph output,
must still give the right numbers on every run."""

from __future__ import annotations

import fastinfer
import numpy as np
from onnx import TensorProto, helper, numpy_helper
from op_helpers import run_ort

R = np.random.default_rng(11)


def shared_weight_model(extra_reader: str | None):
    """Two Convs (the NHWC pass packs both) read one weight W; optionally W is also read by an Add
    or is a graph output itself."""
    w = (R.standard_normal((8, 8, 3, 3)) / 8).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c1"], pads=[1] * 4, name="c1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="r1"),
             helper.make_node("Conv", ["r1", "W"], ["y"], pads=[1] * 4, name="c2")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if extra_reader == "add":
        nodes.append(helper.make_node("Add", ["W", "W"], ["w2"], name="add"))
        outputs.append(helper.make_tensor_value_info("w2", TensorProto.FLOAT, None))
    elif extra_reader == "output":
        nodes.append(helper.make_node("Identity", ["W"], ["w_out"], name="id"))
        outputs.append(helper.make_tensor_value_info("w_out", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 7])], outputs,
                          [numpy_helper.from_array(w, "W")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_shared_packed_weights_stay_correct_with_and_without_other_readers():
    x = R.standard_normal((1, 8, 6, 7)).astype(np.float32)
    for extra in (None, "add", "output"):
        model = shared_weight_model(extra)
        sess = fastinfer.Session(model)
        assert "NhwcConv" in {n["op_type"] for n in sess._describe_nodes()}
        want = run_ort(model, {"x": x})
        for _ in range(2):  # the second run binds the constants from the plan again
            got = sess.run(None, {"x": x})
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def packed_op_model(op: str):
    """One node whose kernel packs its constant weight W and declares it never reads W again
    (MatMul, Gemm, NCHW Conv, ConvTranspose, com.microsoft Attention); W is also an odd size.
    Returns (model, input)."""
    ops = [helper.make_opsetid("", 13)]
    attrs: dict = {}
    inputs = ["x", "W"]
    if op == "MatMul":
        x, w = R.standard_normal((2, 3, 17)), R.standard_normal((17, 33))
    elif op == "Gemm":
        x, w = R.standard_normal((7, 17)), R.standard_normal((33, 17))
        attrs = {"transB": 1, "alpha": 0.5}
    elif op == "Conv":
        x, w = R.standard_normal((2, 6, 7, 9)), R.standard_normal((10, 3, 3, 2)) / 4
        attrs = {"group": 2, "pads": [1, 0, 1, 1]}
    elif op == "ConvTranspose":
        x, w = R.standard_normal((1, 4, 5, 6)), R.standard_normal((4, 3, 3, 3)) / 4
        attrs = {"strides": [2, 1]}
    else:  # Attention: x [B, S, C], W [C, 3 * hidden], bias [3 * hidden]
        x, w = R.standard_normal((2, 5, 8)), R.standard_normal((8, 24)) / 4
        attrs = {"num_heads": 2, "domain": "com.microsoft"}
        inputs = ["x", "W", "bias"]
        ops.append(helper.make_opsetid("com.microsoft", 1))
    x, w = x.astype(np.float32), w.astype(np.float32)
    inits = [numpy_helper.from_array(w, "W")]
    if op == "Attention":
        inits.append(numpy_helper.from_array(R.standard_normal(24).astype(np.float32), "bias"))
    node = helper.make_node(op, inputs, ["y"], name="n", **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=ops, ir_version=8), x


def test_kernels_that_drop_their_packed_constant_stay_correct():
    for op in ("MatMul", "Gemm", "Conv", "ConvTranspose", "Attention"):
        model, x = packed_op_model(op)
        want = run_ort(model, {"x": x})[0]
        for optimize in (True, False):
            sess = fastinfer.Session(model, optimize=optimize)
            for _ in range(2):  # the second run binds the (released) constant from the plan
                np.testing.assert_allclose(sess.run(x), want, rtol=1e-4, atol=1e-4, err_msg=f"{op} {optimize}")
