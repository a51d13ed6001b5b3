"""Function expansion at import (python/fastinfer/_functions.py): model-local functions and
standard operators defined as ONNX functions are replaced by their bodies."""

from __future__ import annotations

import fastinfer
import numpy as np
import onnx
import pytest
from fastinfer import _functions
from fastinfer._functions import expand_functions
from fastinfer._import import model_opsets
from onnx import TensorProto, helper
from op_helpers import assert_close, run_ort

F = TensorProto.FLOAT


def expanded(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its graph replaced by the expanded one (as the core would see it)."""
    opsets = model_opsets(model)
    g = expand_functions(model, opsets)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.functions[:]
    del out.graph.node[:]
    out.graph.node.extend(g.node)
    del out.opset_import[:]
    out.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets.items())
    return out


def all_op_types(g) -> list[str]:
    types = []
    for n in g.node:
        types.append(n.op_type)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                types += all_op_types(a.g)
    return types


def all_values(g) -> list[str]:
    return [o for n in g.node for o in n.output if o]


ALL_STANDARD_OPS = frozenset(("", s.name) for s in onnx.defs.get_all_schemas_with_history() if s.domain == "")


@pytest.fixture
def kernels_except(monkeypatch):
    """Pretends fastinfer has a kernel for every standard op except the given ones."""

    def set_missing(*ops: str) -> None:
        monkeypatch.setattr(_functions, "_supported", ALL_STANDARD_OPS - {("", o) for o in ops})

    return set_missing


def _model(nodes, inputs, outputs, opset=17, functions=(), domains=("custom",)):
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs), opset_imports=imports,
                             functions=list(functions), ir_version=10)


def _add_twice() -> onnx.FunctionProto:
    return helper.make_function("custom", "AddTwice", ["a", "b"], ["c"],
                                [helper.make_node("Add", ["a", "b"], ["t"]), helper.make_node("Add", ["t", "b"], ["c"])],
                                [helper.make_opsetid("", 17)])


def test_local_function_inlined_and_runs():
    x = helper.make_tensor_value_info("x", F, [3])
    y = helper.make_tensor_value_info("y", F, [3])
    m = _model([helper.make_node("AddTwice", ["x", "x"], ["y"], domain="custom", name="f0")], [x], [y],
               functions=[_add_twice()])
    g = expand_functions(m, model_opsets(m))
    assert all_op_types(g) == ["Add", "Add"]
    assert g.node[1].output[0] == "y" and g.node[0].input[0] == "x"
    out = fastinfer.Session(m).run(np.array([1, 2, 3], np.float32))
    np.testing.assert_array_equal(out, [3, 6, 9])


def test_local_function_called_twice_gets_unique_names():
    x = helper.make_tensor_value_info("x", F, [3])
    y = helper.make_tensor_value_info("y", F, [3])
    # The caller already uses the name the body uses internally ("t").
    nodes = [helper.make_node("AddTwice", ["x", "x"], ["t"], domain="custom"),
             helper.make_node("AddTwice", ["t", "x"], ["y"], domain="custom")]
    m = _model(nodes, [x], [y], functions=[_add_twice()])
    g = expand_functions(m, model_opsets(m))
    vals = all_values(g)
    assert len(vals) == len(set(vals)) == 4
    out = fastinfer.Session(m).run(np.array([1, 2, 3], np.float32))
    np.testing.assert_array_equal(out, [5, 10, 15])  # (x+x+x) + x + x


def test_nested_local_functions():
    inner = _add_twice()
    outer = helper.make_function("custom", "Outer", ["a"], ["b"],
                                 [helper.make_node("AddTwice", ["a", "a"], ["m"], domain="custom"),
                                  helper.make_node("Add", ["m", "a"], ["b"])],
                                 [helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)])
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    m = _model([helper.make_node("Outer", ["x"], ["y"], domain="custom")], [x], [y], functions=[outer, inner])
    g = expand_functions(m, model_opsets(m))
    assert all_op_types(g) == ["Add"] * 3
    np.testing.assert_array_equal(fastinfer.Session(m).run(np.array([1, 2], np.float32)), [4, 8])


def test_unused_function_output_and_fewer_node_outputs():
    f = helper.make_function("custom", "Two", ["a"], ["p", "q"],
                             [helper.make_node("Add", ["a", "a"], ["p"]), helper.make_node("Add", ["p", "a"], ["q"])],
                             [helper.make_opsetid("", 17)])
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    m = _model([helper.make_node("Two", ["x"], ["y"], domain="custom")], [x], [y], functions=[f])
    g = expand_functions(m, model_opsets(m))
    assert g.node[0].output[0] == "y" and g.node[1].output[0] not in ("", "y", "q")
    np.testing.assert_array_equal(fastinfer.Session(m).run(np.array([1, 2], np.float32)), [2, 4])


def test_attribute_reference_and_default():
    body = [helper.make_node("Constant", [], ["k"]), helper.make_node("Add", ["a", "k"], ["b"])]
    body[0].attribute.append(helper.make_attribute_ref("value_float", onnx.AttributeProto.FLOAT, ref_attr_name="alpha"))
    f = helper.make_function("custom", "AddAlpha", ["a"], ["b"], body, [helper.make_opsetid("", 17)],
                             attributes=[], attribute_protos=[helper.make_attribute("alpha", 0.5)])
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    z = helper.make_tensor_value_info("z", F, [2])
    nodes = [helper.make_node("AddAlpha", ["x"], ["y"], domain="custom", alpha=2.0),
             helper.make_node("AddAlpha", ["x"], ["z"], domain="custom")]
    m = _model(nodes, [x], [y, z], functions=[f])
    g = expand_functions(m, model_opsets(m))
    consts = [n for n in g.node if n.op_type == "Constant"]
    assert [(a.name, a.f, a.ref_attr_name) for c in consts for a in c.attribute] == [
        ("value_float", 2.0, ""), ("value_float", 0.5, "")]
    yv, zv = fastinfer.Session(m).run(None, {"x": np.array([1, 2], np.float32)})
    np.testing.assert_array_equal(yv, [3, 4])
    np.testing.assert_array_equal(zv, [1.5, 2.5])


def test_optional_attribute_without_default_is_dropped():
    body = [helper.make_node("Identity", ["a"], ["b"])]
    body[0].attribute.append(helper.make_attribute_ref("unused", onnx.AttributeProto.INT, ref_attr_name="opt"))
    f = helper.make_function("custom", "Id", ["a"], ["b"], body, [helper.make_opsetid("", 17)], attributes=["opt"])
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    m = _model([helper.make_node("Id", ["x"], ["y"], domain="custom")], [x], [y], functions=[f])
    g = expand_functions(m, model_opsets(m))
    assert len(g.node[0].attribute) == 0
    np.testing.assert_array_equal(fastinfer.Session(m).run(np.array([1, 2], np.float32)), [1, 2])


def test_recursive_function_is_an_error():
    f = helper.make_function("custom", "Loop", ["a"], ["b"], [helper.make_node("Loop", ["a"], ["b"], domain="custom")],
                             [helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)])
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    m = _model([helper.make_node("Loop", ["x"], ["y"], domain="custom")], [x], [y], functions=[f])
    with pytest.raises(fastinfer.InvalidModel, match="calls itself"):
        fastinfer.Session(m)


def test_function_inside_if_branch_is_expanded():
    x = helper.make_tensor_value_info("x", F, [2])
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", F, [2])
    then_g = helper.make_graph([helper.make_node("AddTwice", ["x", "x"], ["t_out"], domain="custom")], "then", [],
                               [helper.make_tensor_value_info("t_out", F, [2])])
    else_g = helper.make_graph([helper.make_node("Add", ["x", "x"], ["e_out"])], "else", [],
                               [helper.make_tensor_value_info("e_out", F, [2])])
    m = _model([helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)], [c, x], [y],
               functions=[_add_twice()])
    g = expand_functions(m, model_opsets(m))
    assert all_op_types(g) == ["If", "Add", "Add", "Add"]
    then_attr = next(a for a in m.graph.node[0].attribute if a.name == "then_branch")
    assert then_attr.g.node[0].op_type == "AddTwice"  # the caller's model is untouched
    sess = fastinfer.Session(m)
    xv = np.array([1, 2], np.float32)
    np.testing.assert_array_equal(sess.run(None, {"c": np.array(True), "x": xv})[0], [3, 6])
    np.testing.assert_array_equal(sess.run(None, {"c": np.array(False), "x": xv})[0], [2, 4])


def test_nothing_to_expand_returns_the_graph_itself():
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    m = _model([helper.make_node("Add", ["x", "x"], ["y"])], [x], [y])
    assert expand_functions(m, model_opsets(m)) is m.graph


def test_kernel_is_preferred_over_function():
    # Add has a kernel and no function; Identity too. A supported op is never replaced.
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    m = _model([helper.make_node("Identity", ["x"], ["y"])], [x], [y])
    assert all_op_types(expand_functions(m, model_opsets(m))) == ["Identity"]


# ---- standard operators defined as functions ----

def _rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _std_cases():
    r = np.random.default_rng(1)
    return [
        ("Gelu", 20, {"approximate": "tanh"}, {"x": _rand((2, 3, 5))}),
        ("Gelu", 20, {}, {"x": _rand((7,))}),
        ("MeanVarianceNormalization", 13, {}, {"x": _rand((2, 3, 4, 5))}),
        ("MeanVarianceNormalization", 18, {"axes": [1]}, {"x": _rand((2, 3, 4))}),
        ("Elu", 18, {"alpha": 0.7}, {"x": _rand((3, 4))}),
        ("Softplus", 18, {}, {"x": _rand((5,))}),
        ("HardSwish", 14, {}, {"x": _rand((17,))}),
        ("Mish", 18, {}, {"x": _rand((3, 3))}),
        ("RMSNormalization", 23, {"epsilon": 1e-5}, {"x": _rand((2, 3, 8)), "scale": _rand((8,), 2)}),
        ("RMSNormalization", 23, {"axis": 1}, {"x": _rand((2, 3, 4)), "scale": _rand((3, 4), 2)}),
        ("Range", 11, {}, {"start": np.array(1.0, np.float32), "limit": np.array(9.5, np.float32),
                           "delta": np.array(1.5, np.float32)}),
        ("NegativeLogLikelihoodLoss", 13, {"reduction": "mean"},
         {"input": _rand((3, 5)), "target": r.integers(0, 5, (3,)).astype(np.int64)}),
        ("NegativeLogLikelihoodLoss", 13, {"reduction": "none", "ignore_index": 1},
         {"input": _rand((2, 4, 3)), "target": r.integers(0, 4, (2, 3)).astype(np.int64),
          "weight": np.abs(_rand((4,), 3))}),
        ("SoftmaxCrossEntropyLoss", 13, {"reduction": "sum"},
         {"scores": _rand((3, 5)), "labels": r.integers(0, 5, (3,)).astype(np.int64)}),
        ("CenterCropPad", 18, {}, {"x": _rand((5, 7)), "shape": np.array([3, 9], np.int64)}),
        ("Attention", 23, {}, {"q": _rand((2, 3, 4, 8)), "k": _rand((2, 3, 6, 8), 2), "v": _rand((2, 3, 6, 8), 3)}),
        ("Attention", 23, {"is_causal": 1, "q_num_heads": 2, "kv_num_heads": 2},
         {"q": _rand((1, 5, 16)), "k": _rand((1, 5, 16), 2), "v": _rand((1, 5, 16), 3)}),
        # Models at other opsets than the body's: the body is taken where its ops mean the same.
        ("Gelu", 24, {"approximate": "tanh"}, {"x": _rand((3, 4))}),
        ("Elu", 17, {}, {"x": _rand((3, 4))}),
        ("MeanVarianceNormalization", 22, {}, {"x": _rand((2, 3, 4, 5))}),
        ("RMSNormalization", 24, {}, {"x": _rand((2, 3, 8)), "scale": _rand((8,), 2)}),
        ("Range", 21, {}, {"start": np.array(1.0, np.float32), "limit": np.array(9.5, np.float32),
                           "delta": np.array(1.5, np.float32)}),
        ("Attention", 24, {}, {"q": _rand((2, 3, 4, 8)), "k": _rand((2, 3, 6, 8), 2), "v": _rand((2, 3, 6, 8), 3)}),
        ("RotaryEmbedding", 23, {"num_heads": 2},
         {"x": _rand((1, 4, 16)), "cos": _rand((1, 4, 4), 2), "sin": _rand((1, 4, 4), 3),
          }),
    ]


def _std_model(op, opset, attrs, feeds):
    ins = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
           for k, v in feeds.items()]
    node = helper.make_node(op, list(feeds), ["y"], name="the_node", **attrs)
    y = helper.make_tensor_value_info("y", F, None)  # every case here has a float output
    return helper.make_model(helper.make_graph([node], "g", ins, [y]),
                             opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


STD_CASES = _std_cases()
STD_IDS = [f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(STD_CASES)]


@pytest.mark.parametrize("op,opset,attrs,feeds", STD_CASES, ids=STD_IDS)
def test_standard_function_expands_into_base_ops(kernels_except, op, opset, attrs, feeds):
    kernels_except(op, "CastLike")
    m = _std_model(op, opset, attrs, feeds)
    ex = expanded(m)
    types = set(all_op_types(ex.graph))
    assert op not in types
    # Function ops in the body without a kernel (CastLike here) are expanded too.
    assert "CastLike" not in types
    vals = all_values(ex.graph)
    assert len(vals) == len(set(vals))
    assert all(n.name.startswith("the_node/") for n in ex.graph.node)
    # The expanded model computes what the original computes (both run by ONNX Runtime).
    ref = run_ort(m, feeds)
    got = run_ort(ex, feeds)
    assert_close(got[0], ref[0], rtol=1e-5, atol=1e-5, what=op)


@pytest.mark.parametrize("op,opset,attrs,feeds", STD_CASES, ids=STD_IDS)
def test_standard_function_runs_like_onnxruntime(op, opset, attrs, feeds):
    m = _std_model(op, opset, attrs, feeds)
    got = fastinfer.Session(m).run(None, feeds)
    ref = run_ort(m, feeds)
    assert_close(got[0], ref[0], rtol=1e-4, atol=1e-5, what=op)


def test_old_opset_does_not_take_a_newer_body(kernels_except):
    # Elu's function body is written for opset 18 (CastLike); at opset 10 it must stay Elu.
    kernels_except("Elu")
    m = _std_model("Elu", 10, {}, {"x": _rand((3,))})
    assert all_op_types(expanded(m).graph) == ["Elu"]


def test_body_needing_a_missing_kernel_keeps_the_op(kernels_except):
    # Gelu(tanh) needs Tanh: without a Tanh kernel, Gelu stays, and the error names Gelu.
    kernels_except("Gelu", "Tanh")
    m = _std_model("Gelu", 20, {"approximate": "tanh"}, {"x": _rand((3,))})
    assert all_op_types(expanded(m).graph) == ["Gelu"]
    kernels_except("Gelu")
    assert "Gelu" not in all_op_types(expanded(m).graph)


def test_unsupported_inner_op_of_local_function_is_reported():
    f = helper.make_function("custom", "Weird", ["a"], ["b"], [helper.make_node("NoSuchOp", ["a"], ["b"])],
                             [helper.make_opsetid("", 17)])
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    m = _model([helper.make_node("Weird", ["x"], ["y"], domain="custom", name="w0")], [x], [y], functions=[f])
    with pytest.raises(fastinfer.NotImplemented, match=r"NoSuchOp.*w0/"):
        fastinfer.Session(m)



@pytest.mark.parametrize("node,body_opset,opset,ok", [
    (helper.make_node("Constant", [], ["c"], value_float=1.0), 19, 21, True),
    (helper.make_node("ReduceMean", ["x"], ["y"], axes=[1]), 13, 18, False),
    (helper.make_node("ReduceMean", ["x", "axes"], ["y"]), 18, 13, False),
    (helper.make_node("Softmax", ["x"], ["y"], axis=1), 13, 12, False),
    (helper.make_node("Cast", ["x"], ["y"], to=1, saturate=1), 21, 13, False),
    (helper.make_node("Cast", ["x"], ["y"], to=1), 13, 21, True),
    (helper.make_node("Sum", ["a", "b", "c"], ["y"]), 13, 8, True),
    (helper.make_node("CastLike", ["a", "b"], ["y"]), 19, 13, False),
], ids=["Constant", "ReduceMean-attr", "ReduceMean-input", "Softmax", "Cast-saturate", "Cast", "Sum", "CastLike"])
def test_body_node_compatibility(node, body_opset, opset, ok):
    assert _functions._node_compatible(node, body_opset, opset) is ok
