"""Static shape and type inference: inferred output shapes (symbolic dims), constant shape
arithmetic as torch exports it, and contradictions reported as InvalidModel at load."""

from __future__ import annotations

import subprocess
import sys

import fastinfer
import numpy as np
import onnx
import pytest
from fastinfer import models
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

F = T.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = h.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _out(name):
    """A graph output with no declared type or shape."""
    return onnx.ValueInfoProto(name=name)


def _const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def _shapes(m):
    return [o.shape for o in fastinfer.Session(m).get_outputs()]


def test_conv_net_output_shape_is_symbolic():
    m = models.get_model("resnet_mini")
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")
    s = fastinfer.Session(m)
    assert s.get_inputs()[0].shape == ["N", 3, 224, 224]
    assert s.get_outputs()[0].shape == ["N", 1000]
    assert s.get_outputs()[0].type == "tensor(float)"


def test_undeclared_output_type_and_shape():
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], name="conv", strides=[2, 2], pads=[1, 1, 1, 1]),
             h.make_node("MaxPool", ["c"], ["p"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
             h.make_node("Cast", ["p"], ["y"], to=T.DOUBLE),
             h.make_node("ReduceMean", ["y"], ["r"], axes=[2, 3], keepdims=0),
             h.make_node("Greater", ["r", "r"], ["b"])]
    w = np.zeros((8, 3, 3, 3), np.float32)
    m = _model(nodes, [h.make_tensor_value_info("x", F, ["B", 3, 17, 17])], [_out("y"), _out("r"), _out("b")],
               [_const("w", w)], opset=17)
    s = fastinfer.Session(m)
    outs = s.get_outputs()
    assert outs[0].shape == ["B", 8, 4, 4] and outs[0].type == "tensor(double)"
    assert outs[1].shape == ["B", 8]
    assert outs[2].type == "tensor(bool)"
    got = s.run(None, {"x": np.zeros((2, 3, 17, 17), np.float32)})
    assert got[0].shape == (2, 8, 4, 4) and got[1].shape == (2, 8)


def test_torch_style_shape_chain_gives_known_reshape():
    # x: [N, 3, 4] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), Unsqueeze(s[1] * s[2])))
    nodes = [h.make_node("Shape", ["x"], ["s"]),
             h.make_node("Gather", ["s", "i0"], ["n"], axis=0),
             h.make_node("Gather", ["s", "i1"], ["a"], axis=0),
             h.make_node("Gather", ["s", "i2"], ["b"], axis=0),
             h.make_node("Mul", ["a", "b"], ["ab"]),
             h.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
             h.make_node("Unsqueeze", ["ab", "ax"], ["ab1"]),
             h.make_node("Concat", ["n1", "ab1"], ["shape"], axis=0),
             h.make_node("Reshape", ["x", "shape"], ["y"]),
             h.make_node("Cast", ["shape"], ["shape32"], to=T.INT32),
             h.make_node("Slice", ["s", "st", "en"], ["tail"]),
             h.make_node("ConstantOfShape", ["tail"], ["z"])]
    inits = [_const("i0", np.int64(0)), _const("i1", np.int64(1)), _const("i2", np.int64(2)),
             _const("ax", np.array([0], np.int64)), _const("st", np.array([1], np.int64)),
             _const("en", np.array([100], np.int64))]
    m = _model(nodes, [h.make_tensor_value_info("x", F, ["N", 3, 4])],
               [_out("y"), _out("shape32"), _out("z")], inits)
    s = fastinfer.Session(m)
    assert [o.shape for o in s.get_outputs()] == [["N", 12], [2], [3, 4]]
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    y, sh, z = s.run(None, {"x": x})
    np.testing.assert_array_equal(y, x.reshape(2, 12))
    assert sh.tolist() == [2, 12] and z.shape == (3, 4)


def test_reshape_minus_one_with_symbols_and_zero():
    nodes = [h.make_node("Reshape", ["x", "s1"], ["y"]), h.make_node("Reshape", ["x", "s2"], ["z"]),
             h.make_node("Flatten", ["x"], ["f"], axis=1), h.make_node("Transpose", ["x"], ["t"], perm=[2, 0, 1])]
    m = _model(nodes, [h.make_tensor_value_info("x", F, ["N", 6, 4])], [_out("y"), _out("z"), _out("f"), _out("t")],
               [_const("s1", np.array([0, -1], np.int64)), _const("s2", np.array([0, 3, -1, 2], np.int64))])
    assert _shapes(m) == [["N", 24], ["N", 3, 4, 2], ["N", 24], [4, "N", 6]]


def test_reshape_minus_one_keeps_the_one_leftover_symbol():
    # The known sizes match (6 * 4 = 2 * 3 * 4): -1 is N itself (a channel shuffle's reshape), not
    # a fresh symbol; with another symbol or unequal sizes left over it stays fresh.
    nodes = [h.make_node("Reshape", ["x", "s1"], ["y"]), h.make_node("Reshape", ["x", "s2"], ["z"]),
             h.make_node("Reshape", ["w", "s1"], ["u"])]
    m = _model(nodes, [h.make_tensor_value_info("x", F, ["N", 6, 4]), h.make_tensor_value_info("w", F, ["N", "M", 4])],
               [_out("y"), _out("z"), _out("u")],
               [_const("s1", np.array([-1, 2, 3, 4], np.int64)), _const("s2", np.array([-1, 3, 4], np.int64))])
    y, z, u = _shapes(m)
    assert y == ["N", 2, 3, 4]
    assert z[1:] == [3, 4] and z[0] not in ("N", 2)
    assert u[1:] == [2, 3, 4] and u[0] not in ("N", "M")


def test_matmul_gemm_broadcast_shapes():
    nodes = [h.make_node("MatMul", ["a", "b"], ["m"]), h.make_node("MatMul", ["v", "b"], ["mv"]),
             h.make_node("Gemm", ["g", "w"], ["gm"], transB=1), h.make_node("Add", ["a", "c"], ["s"]),
             h.make_node("Einsum", ["a", "b"], ["es"], equation="bxsk,hkn->bhsn")]
    m = _model(nodes, [h.make_tensor_value_info("a", F, ["B", 1, "S", 8]),
                       h.make_tensor_value_info("b", F, [5, 8, 16]),
                       h.make_tensor_value_info("v", F, [8]),
                       h.make_tensor_value_info("g", F, ["M", 8]),
                       h.make_tensor_value_info("c", F, [1, 5, 1, 1])],
               [_out("m"), _out("mv"), _out("gm"), _out("s"), _out("es")], [_const("w", np.zeros((3, 8), np.float32))])
    assert _shapes(m) == [["B", 5, "S", 16], [5, 16], ["M", 3], ["B", 5, "S", 8], ["B", 5, "S", 16]]


def test_ops_without_inference_give_unknown_shapes():
    # Unique has no inference function: its output is unknown, and later ops do not complain.
    nodes = [h.make_node("Unique", ["x"], ["u"]), h.make_node("Add", ["u", "c"], ["y"]),
             h.make_node("NonZero", ["x"], ["nz"])]
    m = _model(nodes, [h.make_tensor_value_info("x", F, [3, 4])], [_out("y"), _out("nz")],
               [_const("c", np.zeros((2, 1, 1), np.float32))])
    s = fastinfer.Session(m)
    assert s.get_outputs()[0].shape == [] and s.get_outputs()[0].type == "tensor(undefined)"
    assert s.get_outputs()[1].shape[0] == 2 and s.get_outputs()[1].type == "tensor(int64)"
    got = s.run(None, {"x": np.eye(3, 4, dtype=np.float32)})
    assert got[0].shape == (2, 1, 2) and got[1].shape == (2, 3)


@pytest.mark.parametrize("case", ["broadcast", "matmul", "conv", "reshape", "concat", "gemm", "split"])
def test_contradictions_raise_invalid_model_naming_the_node(case):
    x = lambda name, shape: h.make_tensor_value_info(name, F, shape)
    inits = []
    if case == "broadcast":
        nodes = [h.make_node("Add", ["a", "b"], ["y"], name="bad")]
        ins, want = [x("a", ["N", 3]), x("b", ["N", 4])], "[N,3] and [N,4] cannot be broadcast"
    elif case == "matmul":
        nodes = [h.make_node("Relu", ["a"], ["r"]), h.make_node("MatMul", ["r", "b"], ["y"], name="bad")]
        ins, want = [x("a", ["N", 2, 3]), x("b", [4, 5])], "inner dimensions"
    elif case == "conv":
        nodes = [h.make_node("Conv", ["a", "w"], ["y"], name="bad")]
        ins, want = [x("a", ["N", 3, 8, 8])], "3 channels"
        inits = [_const("w", np.zeros((8, 4, 3, 3), np.float32))]
    elif case == "reshape":
        nodes = [h.make_node("Reshape", ["a", "s"], ["y"], name="bad")]
        ins, want = [x("a", [2, 3, 4])], "cannot reshape [2,3,4]"
        inits = [_const("s", np.array([5, 5], np.int64))]
    elif case == "concat":
        nodes = [h.make_node("Concat", ["a", "b"], ["y"], name="bad", axis=0)]
        ins, want = [x("a", [2, 3]), x("b", [2, 3, 1])], "different ranks"
    elif case == "gemm":
        nodes = [h.make_node("Gemm", ["a", "b"], ["y"], name="bad")]
        ins, want = [x("a", ["M", 3]), x("b", [4, 5])], "inner dimensions"
    else:
        nodes = [h.make_node("Split", ["a", "s"], ["y", "z"], name="bad", axis=1)]
        ins, want = [x("a", ["N", 6])], "split sums to 5"
        inits = [_const("s", np.array([2, 3], np.int64))]
    m = _model(nodes, ins, [_out("y")], inits)
    with pytest.raises(fastinfer.InvalidModel) as e:
        fastinfer.Session(m)
    assert "node 'bad'" in str(e.value) and want in str(e.value), str(e.value)


def test_symbolic_dims_never_raise():
    # Different symbols may be equal (or 1) at run time: no error, and the run works.
    nodes = [h.make_node("Add", ["a", "b"], ["y"]), h.make_node("MatMul", ["a", "c"], ["m"])]
    m = _model(nodes, [h.make_tensor_value_info("a", F, ["N", "K"]), h.make_tensor_value_info("b", F, ["M", "K"]),
                       h.make_tensor_value_info("c", F, ["Q", 2])], [_out("y"), _out("m")])
    s = fastinfer.Session(m)
    assert s.get_outputs()[1].shape == ["N", 2]
    a = np.ones((3, 4), np.float32)
    y, mm = s.run(None, {"a": a, "b": a, "c": np.ones((4, 2), np.float32)})
    assert y.shape == (3, 4) and mm.shape == (3, 2)


def test_subgraph_with_loose_declared_types_still_loads():
    # The body declares its input as [1] though the loop feeds a scalar: inference stays quiet.
    body = h.make_graph(
        [h.make_node("Identity", ["cond_in"], ["cond_out"]), h.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body", [h.make_tensor_value_info("i", T.INT64, [1]), h.make_tensor_value_info("cond_in", T.BOOL, [1]),
                 h.make_tensor_value_info("v_in", F, [7])],
        [h.make_tensor_value_info("cond_out", T.BOOL, [1]), h.make_tensor_value_info("v_out", F, [7])],
        initializer=[_const("one", np.ones(3, np.float32))])
    loop = h.make_node("Loop", ["n", "c", "v"], ["v_final"], body=body)
    m = _model([loop], [h.make_tensor_value_info("n", T.INT64, []), h.make_tensor_value_info("c", T.BOOL, []),
                        h.make_tensor_value_info("v", F, [3])], [_out("v_final")])
    s = fastinfer.Session(m)
    got = s.run(None, {"n": np.array(2, np.int64), "c": np.array(True), "v": np.zeros(3, np.float32)})
    np.testing.assert_array_equal(got[0], np.full(3, 2, np.float32))


def test_range_expand_tile_pad_shapes():
    nodes = [h.make_node("Range", ["r0", "r1", "r2"], ["r"]),
             h.make_node("Expand", ["x", "es"], ["e"]),
             h.make_node("Tile", ["x", "reps"], ["t"]),
             h.make_node("Pad", ["x", "pads"], ["p"]),
             h.make_node("Resize", ["x", "", "scales"], ["rs"], mode="nearest"),
             h.make_node("TopK", ["x", "k"], ["tv", "ti"], axis=1)]
    inits = [_const("r0", np.int64(1)), _const("r1", np.int64(10)), _const("r2", np.int64(3)),
             _const("es", np.array([2, 1, 5], np.int64)), _const("reps", np.array([2, 3], np.int64)),
             _const("pads", np.array([0, 1, 0, 2], np.int64)), _const("scales", np.array([1, 2], np.float32)),
             _const("k", np.array([2], np.int64))]
    m = _model(nodes, [h.make_tensor_value_info("x", F, ["N", 5])],
               [_out("r"), _out("e"), _out("t"), _out("p"), _out("rs"), _out("tv"), _out("ti")], inits, opset=18)
    s = fastinfer.Session(m)
    shapes = [o.shape for o in s.get_outputs()]
    assert isinstance(shapes[2][0], str) and shapes[2][0] != "N"  # 2*N: a new symbol
    shapes[2][0] = "2N"
    assert shapes == [[3], [2, "N", 5], ["2N", 15], ["N", 8], ["N", 10], ["N", 2], ["N", 2]]
    assert s.get_outputs()[6].type == "tensor(int64)"
    got = s.run(None, {"x": np.ones((1, 5), np.float32)})
    assert [g.shape for g in got] == [(3,), (2, 1, 5), (2, 15), (1, 8), (1, 10), (1, 2), (1, 2)]


def test_inspect_prints_node_shapes(tmp_path):
    path = str(tmp_path / "mini.onnx")
    onnx.save(models.get_model("resnet_mini"), path)
    p = subprocess.run([sys.executable, "-m", "fastinfer.cli", "inspect", path], capture_output=True, text=True,
                       check=False, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "graph after passes:" in p.stdout
    fc = [ln.split() for ln in p.stdout.splitlines() if ln.split()[1:3] == ["fc", "Gemm"]]
    assert len(fc) == 1 and fc[0][-2:] == ["FLOAT", "[Nx1000]"]


def test_recurrent_and_partially_declared_outputs():
    # Y of an LSTM is [seq, directions, batch, hidden]; a declared output with an unnamed
    # unknown dim is completed from inference, a declared symbol is kept.
    w = np.zeros((2, 4 * 5, 3), np.float32)
    r = np.zeros((2, 4 * 5, 5), np.float32)
    nodes = [h.make_node("LSTM", ["x", "w", "r"], ["y", "yh"], hidden_size=5, direction="bidirectional")]
    y_decl = h.make_tensor_value_info("y", F, ["S", None, None, None])
    m = _model(nodes, [h.make_tensor_value_info("x", F, ["S", "B", 3])], [y_decl, _out("yh")],
               [_const("w", w), _const("r", r)])
    s = fastinfer.Session(m)
    assert [o.shape for o in s.get_outputs()] == [["S", 2, "B", 5], [2, "B", 5]]
    got = s.run(None, {"x": np.zeros((4, 2, 3), np.float32)})
    assert got[0].shape == (4, 2, 2, 5) and got[1].shape == (2, 2, 5)


def test_torch_transformer_export_infers_every_rank():
    torch = pytest.importorskip("torch")
    import io

    from fastinfer._import import import_model

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
            self.enc = torch.nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
            self.head = torch.nn.Linear(16, 4)

        def forward(self, x):
            b, t, c = x.shape
            return self.head(self.enc(x).reshape(b * t, c)).reshape(b, t, 4)

    f = io.BytesIO()
    torch.onnx.export(Net().eval(), (torch.zeros(2, 5, 16),), f, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "B", 1: "T"}, "y": {0: "B", 1: "T"}}, opset_version=17, dynamo=False)
    model = onnx.load_from_string(f.getvalue())
    for o in model.graph.output:
        o.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    graph, _ = import_model(model)
    no_rank = [(name, op) for name, op, outs in graph.node_output_types() for o in outs if not o["has_shape"]]
    assert no_rank == []
    s = fastinfer.Session(model)
    assert s.get_outputs()[0].shape == ["B", "T", 4]
    assert s.run(None, {"x": np.zeros((3, 5, 16), np.float32)})[0].shape == (3, 5, 4)  # the trace fixed T
