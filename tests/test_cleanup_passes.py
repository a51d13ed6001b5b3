"""The clean-up graph passes (csrc/graph/passes/): constant folding, shape-subgraph folding,
Transpose/Reshape/Identity/Dropout elimination and dead-node removal. Each case builds a small
model, checks the graph after the passes (``Session._describe_nodes``) and compares the outputs
with ONNX Runtime and with ``optimize=False``."""

from __future__ import annotations

import io

import fastinfer
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import run_ort

F = TensorProto.FLOAT


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def make(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return m


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def ops_after(model) -> list[str]:
    """Op types of the graph after the passes, in execution order."""
    return [n["op_type"] for n in fastinfer.Session(model, threads=1)._describe_nodes()]


def check(model, feed, rtol=1e-5, atol=1e-6):
    """fastinfer (with and without passes) agrees with ONNX Runtime; returns the ops after passes."""
    s = fastinfer.Session(model, threads=1)
    got = s.run(None, feed)
    plain = fastinfer.Session(model, threads=1, optimize=False).run(None, feed)
    want = run_ort(model, feed)
    for g, p, w in zip(got, plain, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        np.testing.assert_allclose(g, p, rtol=rtol, atol=atol)
    assert [o.name for o in s.get_outputs()] == [o.name for o in model.graph.output]
    return [n["op_type"] for n in s._describe_nodes()]


RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---- fold_constants ----

def test_constant_subexpression_folds():
    w = rand(4, 3)
    nodes = [helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
             helper.make_node("Mul", ["wt", "two"], ["w2"]),
             helper.make_node("MatMul", ["x", "w2"], ["y"])]
    m = make(nodes, [vi("x", [5, 3])], [vi("y", [5, 4])], [init("w", w), init("two", np.float32(2))])
    assert check(m, {"x": rand(5, 3)}) == ["MatMul"]


def test_constant_folding_keeps_graph_outputs():
    """c (a graph output) is computed from constants only: its node stays, and so does the value."""
    nodes = [helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("Mul", ["x", "c"], ["y"])]
    m = make(nodes, [vi("x", [3])], [vi("y", [3]), vi("c", [3])],
             [init("a", np.ones(3, np.float32)), init("b", np.ones(3, np.float32))])
    assert check(m, {"x": rand(3)}) == ["Add", "Mul"]


@pytest.mark.parametrize("n,folded", [(64, True), (1024, False)])
def test_constant_folding_does_not_grow_the_model(n, folded):
    """ConstantOfShape [n, n]: 16 KB folds, 4 MB (over the 1 MiB growth limit) stays a node."""
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["z"],
                              value=numpy_helper.from_array(np.array([0.5], np.float32))),
             helper.make_node("Add", ["x", "z"], ["y"])]
    m = make(nodes, [vi("x", [n, n])], [vi("y", [n, n])], [init("shape", np.array([n, n], np.int64))])
    ops = check(m, {"x": rand(n, n)})
    assert ("ConstantOfShape" not in ops) == folded


def test_constant_folding_leaves_errors_to_run_time():
    """An integer division by zero between constants: the node stays and the run fails, as without passes."""
    nodes = [helper.make_node("Div", ["a", "b"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])]
    m = make(nodes, [vi("x", [2], TensorProto.INT64)], [vi("y", [2], TensorProto.INT64)],
             [init("a", np.array([1, 2], np.int64)), init("b", np.array([0, 1], np.int64))])
    assert ops_after(m) == ["Div", "Add"]
    for optimize in (True, False):
        with pytest.raises(fastinfer.InvalidArgument, match="division by zero"):
            fastinfer.Session(m, optimize=optimize).run(None, {"x": np.zeros(2, np.int64)})


def test_constant_folding_skips_subgraph_ops():
    then_g = helper.make_graph([helper.make_node("Identity", ["a"], ["t"])], "then", [], [vi("t", [3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["a"], ["e"])], "else", [], [vi("e", [3])])
    nodes = [helper.make_node("If", ["cond"], ["r"], then_branch=then_g, else_branch=else_g),
             helper.make_node("Add", ["x", "r"], ["y"])]
    m = make(nodes, [vi("x", [3])], [vi("y", [3])],
             [init("cond", np.array(True)), init("a", np.array([1, 2, 3], np.float32))])
    ops = check(m, {"x": rand(3)})
    assert "If" in ops


def test_integer_and_bool_constants_fold():
    nodes = [helper.make_node("Greater", ["a", "b"], ["m"]),
             helper.make_node("Cast", ["m"], ["mf"], to=F),
             helper.make_node("Mul", ["x", "mf"], ["y"])]
    m = make(nodes, [vi("x", [4])], [vi("y", [4])],
             [init("a", np.array([1, 5, 2, 7], np.int64)), init("b", np.array([3, 3, 3, 3], np.int64))])
    assert check(m, {"x": rand(4)}) == ["Mul"]


# ---- fold_shape_subgraphs ----

def _shape_chain(x_shape, opset=17):
    """y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): torch's view(x.size(0), -1)."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
             helper.make_node("Unsqueeze", ["b", "axes0"], ["bu"]),
             helper.make_node("Concat", ["bu", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    inits = [init("zero", np.array(0, np.int64)), init("axes0", np.array([0], np.int64)),
             init("minus1", np.array([-1], np.int64))]
    return make(nodes, [vi("x", x_shape)], [vi("y", None)], inits, opset)


def test_shape_chain_folds_when_static():
    m = _shape_chain([2, 3, 4])
    assert check(m, {"x": rand(2, 3, 4)}) == ["Reshape"]


def test_shape_chain_stays_dynamic_with_symbolic_batch():
    m = _shape_chain(["batch", 3, 4])
    ops = check(m, {"x": rand(5, 3, 4)})
    assert "Shape" in ops and "Gather" in ops
    check(m, {"x": rand(1, 3, 4)})


def test_gather_of_known_dim_folds_with_symbolic_batch():
    """Shape -> Gather(2) of [batch, 3, 4] is the constant 4 even though dim 0 is symbolic."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "two"], ["d"], axis=0),
             helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
             helper.make_node("Cast", ["d"], ["df"], to=F),
             helper.make_node("Cast", ["b"], ["bf"], to=F),
             helper.make_node("Mul", ["df", "bf"], ["p"]),
             helper.make_node("Add", ["x", "p"], ["y"])]
    m = make(nodes, [vi("x", ["batch", 3, 4])], [vi("y", ["batch", 3, 4])],
             [init("two", np.array(2, np.int64)), init("zero", np.array(0, np.int64))])
    ops = check(m, {"x": rand(3, 3, 4)})
    assert ops.count("Gather") == 1 and ops.count("Cast") == 1


@pytest.mark.parametrize("start,end", [(1, None), (-2, None), (0, 2), (1, -1), (5, 9)])
def test_shape15_start_end_folds(start, end):
    kw = {"start": start} | ({"end": end} if end is not None else {})
    nodes = [helper.make_node("Shape", ["x"], ["s"], **kw),
             helper.make_node("Cast", ["s"], ["sf"], to=F),
             helper.make_node("ReduceSum", ["sf"], ["t"], keepdims=1),
             helper.make_node("Add", ["x", "t"], ["y"])]
    m = make(nodes, [vi("x", ["batch", 3, 4])], [vi("y", ["batch", 3, 4])], opset=18)
    ops = check(m, {"x": rand(2, 3, 4)})
    assert ops == (["Shape", "Cast", "ReduceSum", "Add"] if start == 0 else ["Add"])


@pytest.mark.parametrize("starts,ends,steps", [([1], [3], [1]), ([-1], [-4], [-1]), ([0], [100], [2]),
                                               ([2], [1], [1])])
def test_slice_of_shape_folds(starts, ends, steps):
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "st", "en", "ax", "sp"], ["d"]),
             helper.make_node("Cast", ["d"], ["df"], to=F),
             helper.make_node("ReduceSum", ["df"], ["t"], keepdims=1),
             helper.make_node("Add", ["x", "t"], ["y"])]
    inits = [init("st", np.array(starts, np.int64)), init("en", np.array(ends, np.int64)),
             init("ax", np.array([0], np.int64)), init("sp", np.array(steps, np.int64))]
    m = make(nodes, [vi("x", [2, 3, 4, 5])], [vi("y", [2, 3, 4, 5])], inits)
    assert check(m, {"x": rand(2, 3, 4, 5)}) == ["Add"]


def test_size_folds():
    nodes = [helper.make_node("Size", ["x"], ["n"]), helper.make_node("Cast", ["n"], ["nf"], to=F),
             helper.make_node("Mul", ["x", "nf"], ["y"])]
    m = make(nodes, [vi("x", [2, 3])], [vi("y", [2, 3])])
    assert check(m, {"x": rand(2, 3)}) == ["Mul"]
    m = make(nodes, [vi("x", ["n", 3])], [vi("y", ["n", 3])])
    assert "Size" in check(m, {"x": rand(4, 3)})


# ---- eliminate_transpose_reshape ----

def test_transpose_pair_cancels():
    nodes = [helper.make_node("Transpose", ["x"], ["a"], perm=[1, 0, 2]),
             helper.make_node("Transpose", ["a"], ["b"], perm=[1, 0, 2]),
             helper.make_node("Relu", ["b"], ["y"])]
    m = make(nodes, [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])])
    assert check(m, {"x": rand(2, 3, 4)}) == ["Relu"]


def test_transpose_pair_composes():
    nodes = [helper.make_node("Transpose", ["x"], ["a"], perm=[0, 2, 1, 3]),
             helper.make_node("Transpose", ["a"], ["b"], perm=[3, 1, 0, 2]),
             helper.make_node("Relu", ["b"], ["y"])]
    m = make(nodes, [vi("x", [2, 3, 5, 7])], [vi("y", None)])
    assert check(m, {"x": rand(2, 3, 5, 7)}) == ["Transpose", "Relu"]


def test_transpose_default_perm_and_multi_consumer():
    """The first Transpose feeds a second one and an Add: it stays, the second reads x."""
    nodes = [helper.make_node("Transpose", ["x"], ["a"]),
             helper.make_node("Transpose", ["a"], ["b"]),
             helper.make_node("Add", ["a", "a"], ["c"]),
             helper.make_node("Relu", ["b"], ["y"])]
    m = make(nodes, [vi("x", [3, 4])], [vi("y", [3, 4]), vi("c", [4, 3])])
    assert sorted(check(m, {"x": rand(3, 4)})) == ["Add", "Relu", "Transpose"]


def test_identity_and_dropout_removed_graph_output_keeps_name():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Dropout", ["r"], ["d"]),
             helper.make_node("Identity", ["d"], ["y"])]
    m = make(nodes, [vi("x", [2, 3])], [vi("y", [2, 3])])
    assert check(m, {"x": rand(2, 3)}) == ["Relu"]


def test_identity_between_graph_input_and_output_stays():
    m = make([helper.make_node("Identity", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    assert check(m, {"x": rand(2)}) == ["Identity"]


def test_identity_feeding_two_graph_outputs():
    nodes = [helper.make_node("Neg", ["x"], ["a"]), helper.make_node("Identity", ["a"], ["y"])]
    m = make(nodes, [vi("x", [2])], [vi("a", [2]), vi("y", [2])])
    assert check(m, {"x": rand(2)}) == ["Neg", "Identity"]


def test_dropout_with_mask_stays():
    nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"])]
    m = make(nodes, [vi("x", [2, 3])], [vi("y", [2, 3]), vi("mask", [2, 3], TensorProto.BOOL)])
    assert check(m, {"x": rand(2, 3)}) == ["Dropout"]


def test_reshape_chain_merges():
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["a"]),
             helper.make_node("Flatten", ["a"], ["b"], axis=2),
             helper.make_node("Unsqueeze", ["b", "ax"], ["c"]),
             helper.make_node("Squeeze", ["c", "ax"], ["d"]),
             helper.make_node("Reshape", ["d", "s2"], ["e"]),
             helper.make_node("Relu", ["e"], ["y"])]
    inits = [init("s1", np.array([2, 3, 4, 5], np.int64)), init("ax", np.array([0], np.int64)),
             init("s2", np.array([6, -1], np.int64))]
    m = make(nodes, [vi("x", [120])], [vi("y", None)], inits)
    assert check(m, {"x": rand(120)}) == ["Reshape", "Relu"]


def test_reshape_chain_with_symbolic_batch():
    nodes = [helper.make_node("Unsqueeze", ["x", "ax"], ["a"]),
             helper.make_node("Flatten", ["a"], ["b"], axis=1),
             helper.make_node("Relu", ["b"], ["y"])]
    m = make(nodes, [vi("x", ["n", 3, 4])], [vi("y", None)], [init("ax", np.array([1], np.int64))])
    assert check(m, {"x": rand(5, 3, 4)}) == ["Reshape", "Relu"]
    check(m, {"x": rand(1, 3, 4)})


def test_reshape_with_zero_copies_dims_from_the_intermediate():
    """Reshape(Reshape(x, [6, 4]), [0, 2, 2]): the 0 means the intermediate's dim 0 (6), not x's."""
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["a"]),
             helper.make_node("Reshape", ["a", "s2"], ["y"])]
    inits = [init("s1", np.array([6, 4], np.int64)), init("s2", np.array([0, 2, 2], np.int64))]
    m = make(nodes, [vi("x", [2, 12])], [vi("y", None)], inits)
    assert check(m, {"x": rand(2, 12)}) == ["Reshape"]


def test_same_shape_reshape_removed_multi_consumer_intermediate():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Reshape", ["r", "s"], ["a"]),
             helper.make_node("Add", ["a", "r"], ["y"])]
    m = make(nodes, [vi("x", [3, 4])], [vi("y", None)], [init("s", np.array([-1, 4], np.int64))])
    assert check(m, {"x": rand(3, 4)}) == ["Relu", "Add"]


def test_reshape_to_graph_output_keeps_name():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Reshape", ["r", "s1"], ["a"]),
             helper.make_node("Reshape", ["a", "s2"], ["y"])]
    inits = [init("s1", np.array([6, 2], np.int64)), init("s2", np.array([3, 4], np.int64))]
    m = make(nodes, [vi("x", [3, 4])], [vi("y", [3, 4])], inits)
    assert check(m, {"x": rand(3, 4)}) == ["Relu"]


# ---- remove_dead_nodes ----

def test_dead_branch_removed():
    nodes = [helper.make_node("Relu", ["x"], ["y"]),
             helper.make_node("MatMul", ["x", "w"], ["unused"]),
             helper.make_node("Sigmoid", ["unused"], ["unused2"])]
    m = make(nodes, [vi("x", [2, 3])], [vi("y", [2, 3])], [init("w", rand(3, 8))])
    assert check(m, {"x": rand(2, 3)}) == ["Relu"]


def test_dead_node_in_subgraph_removed_and_captures_kept():
    body = helper.make_graph([helper.make_node("Add", ["x", "one"], ["t"]),
                              helper.make_node("Neg", ["x"], ["dead"])], "then", [], [vi("t", [2])])
    other = helper.make_graph([helper.make_node("Sub", ["x", "one"], ["e"])], "else", [], [vi("e", [2])])
    nodes = [helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=other)]
    m = make(nodes, [vi("x", [2]), vi("c", [], TensorProto.BOOL)], [vi("y", [2])],
             [init("one", np.ones(2, np.float32))])
    for c in (True, False):
        check(m, {"x": rand(2), "c": np.array(c)})


# ---- a torch-exported BERT-like encoder ----

def _torch_encoder(static: bool):
    torch = pytest.importorskip("torch")

    class Attn(torch.nn.Module):
        def __init__(self, d=32, h=4):
            super().__init__()
            self.h = h
            self.qkv = torch.nn.Linear(d, 3 * d)
            self.out = torch.nn.Linear(d, d)
            self.ln1 = torch.nn.LayerNorm(d)
            self.ff = torch.nn.Sequential(torch.nn.Linear(d, 64), torch.nn.GELU(), torch.nn.Linear(64, d))
            self.ln2 = torch.nn.LayerNorm(d)
            self.drop = torch.nn.Dropout(0.1)

        def forward(self, x, mask):
            b, s, d = x.shape
            q, k, v = self.qkv(x).split(d, dim=-1)
            q = q.view(b, s, self.h, d // self.h).transpose(1, 2)
            k = k.view(b, s, self.h, d // self.h).transpose(1, 2)
            v = v.view(b, s, self.h, d // self.h).transpose(1, 2)
            att = q @ k.transpose(-1, -2) / (d // self.h) ** 0.5
            att = att + (1.0 - mask[:, None, None, :].to(x.dtype)) * -10000.0
            ctx = self.drop(att.softmax(-1)) @ v
            ctx = ctx.transpose(1, 2).reshape(b, s, d)
            x = self.ln1(x + self.out(ctx))
            return self.ln2(x + self.ff(x))

    torch.manual_seed(0)
    f = io.BytesIO()

    class Enc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([Attn(), Attn()])

        def forward(self, x, mask):
            for layer in self.layers:
                x = layer(x, mask)
            return x

    torch.onnx.export(Enc().eval(), (torch.zeros(2, 7, 32), torch.ones(2, 7)), f, input_names=["x", "mask"],
                      output_names=["y"], dynamic_axes={"x": {0: "B", 1: "S"}, "mask": {0: "B", 1: "S"}},
                      opset_version=17, dynamo=False)
    model = onnx.load_from_string(f.getvalue())
    if static:
        for inp, dims in zip(model.graph.input, ([2, 7, 32], [2, 7])):
            for d, v in zip(inp.type.tensor_type.shape.dim, dims):
                d.dim_value = v
    return model


def test_torch_encoder_static_shape_subgraphs_fold():
    model = _torch_encoder(static=True)
    assert any(n.op_type == "Shape" for n in model.graph.node)
    feed = {"x": rand(2, 7, 32), "mask": (RNG.random((2, 7)) > 0.3).astype(np.float32)}
    ops = check(model, feed, rtol=1e-4, atol=1e-5)
    for op in ("Shape", "Gather", "Concat", "Unsqueeze", "ConstantOfShape", "Identity", "Dropout"):
        assert op not in ops, (op, ops)
    assert len(ops) < len(model.graph.node) // 2


def test_torch_encoder_dynamic_shapes_still_correct():
    model = _torch_encoder(static=False)
    for b, s in ((2, 7), (1, 3), (3, 11)):
        feed = {"x": rand(b, s, 32), "mask": (RNG.random((b, s)) > 0.3).astype(np.float32)}
        check(model, feed, rtol=1e-4, atol=1e-5)


def test_shapes_in_loop_bodies_stay_dynamic():
    """The body declares v as [1] but v doubles each iteration: Shape(v2) must not fold from that."""
    body = helper.make_graph(
        [helper.make_node("Concat", ["v", "v"], ["v2"], axis=0),
         helper.make_node("Shape", ["v2"], ["s"]),
         helper.make_node("Cast", ["s"], ["sf"], to=F),
         helper.make_node("Identity", ["c"], ["c2"])], "body",
        [vi("i", [], TensorProto.INT64), vi("c", [], TensorProto.BOOL), vi("v", [1])],
        [vi("c2", [], TensorProto.BOOL), vi("v2", None), vi("sf", [1])])
    m = make([helper.make_node("Loop", ["M", "", "x"], ["vf", "scan"], body=body)], [vi("x", [1])],
             [vi("vf", None), vi("scan", None)], [init("M", np.array(3, np.int64))])
    check(m, {"x": np.ones(1, np.float32)})
    np.testing.assert_array_equal(fastinfer.Session(m).run(None, {"x": np.ones(1, np.float32)})[1],
                                  [[2], [4], [8]])


def _const_of_shape_model(reader: str):
    """W = ConstantOfShape([256, 256, 3, 3]) (2.4 MB, over the 1 MiB growth limit) read by a Conv as
    its weights, or by an Add."""
    from onnx import TensorProto, helper, numpy_helper
    shape = numpy_helper.from_array(np.array([256, 256, 3, 3], np.int64), "wshape")
    fill = helper.make_tensor("fill", TensorProto.FLOAT, [1], [0.01])
    nodes = [helper.make_node("ConstantOfShape", ["wshape"], ["W"], value=fill, name="cos")]
    if reader == "conv":
        nodes.append(helper.make_node("Conv", ["x", "W"], ["y"], pads=[1] * 4, name="conv"))
        x_shape, y_shape = [1, 256, 5, 5], [1, 256, 5, 5]
    else:
        nodes.append(helper.make_node("Add", ["x", "W"], ["y"], name="add"))
        x_shape = y_shape = [256, 256, 3, 3]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], [shape])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), x_shape


@pytest.mark.parametrize("reader,folded", [("conv", True), ("add", False)])
def test_large_constant_folds_only_when_it_is_a_weight(reader, folded):
    model, x_shape = _const_of_shape_model(reader)
    sess = fastinfer.Session(model)
    ops = [n["op_type"] for n in sess._describe_nodes()]
    assert ("ConstantOfShape" not in ops) == folded, ops
    x = np.random.default_rng(2).standard_normal(x_shape).astype(np.float32)
    for _ in range(2):
        np.testing.assert_allclose(sess.run(x), run_ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4)
