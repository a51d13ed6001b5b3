"""The clean-up passes for old caffe2 exports: fold_channel_affine (per-channel Mul/Add/Sub chains on NCHW
float32 values become one BatchNormalization, merged into the BatchNormalization or folded into the Conv before
them) and rewrite_sum_as_add (Sum -> Add), plus the removal of a Dropout whose mask nothing reads. Each case
builds a small model, checks the graph after the passes (``Session._describe_nodes``) and compares the outputs
with ONNX Runtime and with ``optimize=False``; the negative cases must keep their nodes."""

from __future__ import annotations

import os

import fastinfer
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import run_ort

F = TensorProto.FLOAT
RNG = np.random.default_rng(11)
LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


class G:
    """A small graph builder: constants get fresh names, nodes write fresh values."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, a, dtype=np.float32) -> str:
        self.n += 1
        name = f"k{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(a, dtype), name))
        return name

    def node(self, op, ins, n_out=1, **attrs):
        self.n += 1
        outs = [f"v{self.n}_{k}" for k in range(n_out)]
        self.nodes.append(helper.make_node(op, ins, outs, name=f"n{self.n}", **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, c, m, k=3):
        w = self.const(RNG.standard_normal((m, c, k, k)) / np.sqrt(c * k * k))
        return self.node("Conv", [x, w, self.const(RNG.standard_normal(m) * 0.1)], kernel_shape=[k, k],
                         pads=[k // 2] * 4)

    def bn(self, x, c):
        return self.node("BatchNormalization", [x, self.const(RNG.uniform(0.5, 2, c)),
                                                self.const(RNG.standard_normal(c)),
                                                self.const(RNG.standard_normal(c) * 0.1),
                                                self.const(RNG.uniform(0.5, 2, c))], epsilon=1e-5)

    def model(self, x_shape, outputs, elem=F, opset=17):
        g = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", elem, x_shape)],
                              [helper.make_tensor_value_info(o, elem, None) for o in outputs], self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def check(model, shape, dtype=np.float32, rtol=1e-4, atol=1e-5):
    """fastinfer with and without passes agrees with ONNX Runtime; returns (op_type, layout) after passes."""
    x = RNG.standard_normal(shape).astype(dtype)
    s = fastinfer.Session(model, threads=1)
    got = s.run(None, {"x": x})
    plain = fastinfer.Session(model, threads=1, optimize=False).run(None, {"x": x})
    want = run_ort(model, {"x": x})
    for g, p, w in zip(got, plain, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        np.testing.assert_allclose(g, p, rtol=rtol, atol=atol)
    return [n["op_type"] for n in s._describe_nodes()]


@pytest.fixture
def nchw(monkeypatch):
    """The layout pass off, so the ops after the passes keep their ONNX names."""
    monkeypatch.setenv("FASTINFER_LAYOUT", "nchw")


def per_channel(c, shape):
    """Values in [0.5, 1.5) of `shape` (c of them when it holds c)."""
    return RNG.uniform(0.5, 1.5, int(np.prod(shape))).reshape(shape)


# ---- fold_channel_affine: positive cases ----

@pytest.mark.parametrize("shape", [(5, 1, 1), (1, 5, 1, 1), (1, 1), ()])
def test_conv_mul_add_relu_folds_into_conv(nchw, shape):
    g = G()
    c = g.conv("x", 3, 5)
    y = g.node("Relu", [g.node("Add", [g.const(per_channel(5, shape) - 1),
                                       g.node("Mul", [c, g.const(per_channel(5, shape))])])])
    assert check(g.model(["N", 3, 7, 9], [y]), (2, 3, 7, 9)) == ["Conv"]


def test_batchnorm_then_mul_add_merges_and_folds(nchw):
    """inception_v2: Conv -> BatchNormalization -> Mul -> Add -> Relu is one Conv."""
    g = G()
    b = g.bn(g.conv("x", 4, 6), 6)
    y = g.node("Relu", [g.node("Add", [g.node("Mul", [b, g.const(per_channel(6, (6, 1, 1)))]),
                                       g.const(per_channel(6, (6, 1, 1)))])])
    assert check(g.model([1, 4, 8, 8], [y]), (1, 4, 8, 8)) == ["Conv"]


def test_preactivation_chain_merges_into_batchnorm(nchw):
    """densenet: MaxPool -> BatchNormalization -> Mul -> Add -> Relu -> Conv keeps one BatchNormalization."""
    g = G()
    p = g.node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2])
    a = g.node("Add", [g.node("Mul", [g.bn(p, 4), g.const(per_channel(4, (4, 1, 1)))]),
                       g.const(per_channel(4, (1, 4, 1, 1)))])
    y = g.conv(g.node("Relu", [a]), 4, 6)
    assert check(g.model([1, 4, 10, 6], [y]), (1, 4, 10, 6)) == ["MaxPool", "BatchNormalization", "Relu", "Conv"]


@pytest.mark.parametrize("ops", [["Mul"], ["Add"], ["Sub"], ["Add", "Mul"], ["Mul", "Sub", "Mul", "Add"]])
def test_per_channel_chain_after_any_op_becomes_batchnorm(nchw, ops):
    g = G()
    v = g.node("Relu", ["x"])
    for k, op in enumerate(ops):
        ins = [v, g.const(per_channel(7, (7, 1, 1)))]
        v = g.node(op, ins if op == "Sub" or k % 2 == 0 else ins[::-1])
    assert check(g.model([2, 7, 5, 3], [v]), (2, 7, 5, 3)) == ["Relu", "BatchNormalization"]


def test_per_channel_chain_runs_channels_last_between_convs():
    """With the layout pass on, a per-channel Mul/Add between two Convs no longer splits the NHWC region."""
    g = G()
    c = g.conv(g.conv("x", 3, 8), 8, 8)
    a = g.node("Add", [g.node("Mul", [g.node("MaxPool", [c], kernel_shape=[1, 1]),
                                      g.const(per_channel(8, (8, 1, 1)))]), g.const(per_channel(8, (8, 1, 1)))])
    y = g.conv(g.node("Relu", [a]), 8, 4)
    ops = check(g.model([1, 3, 9, 9], [y]), (1, 3, 9, 9))
    # One region (its 3-channel first conv reads the NCHW input itself), one reorder out.
    assert ops.count("NchwToNhwc") == 0 and ops.count("NhwcToNchw") == 1
    assert "NhwcBatchNormalization" in ops and "Mul" not in ops and "Add" not in ops


# ---- fold_channel_affine: negative cases ----

@pytest.mark.parametrize("shape", [(1, 1, 1, 9), (5, 7, 1), (9,), (2, 5, 1, 1)])
def test_constant_not_per_channel_stays(nchw, shape):
    g = G()
    y = g.node("Mul", [g.conv("x", 3, 5), g.const(RNG.uniform(0.5, 1.5, shape))])
    x_shape = (1, 3, 7, 9)
    ops = check(g.model(list(x_shape), [y]), x_shape)
    assert ops == ["Conv", "Mul"]


def test_constant_broadcasting_x_stays(nchw):
    """x [N, 1, H, W] times a [4, 1, 1] constant grows x: no BatchNormalization of x's one channel."""
    g = G()
    y = g.node("Mul", [g.node("Relu", ["x"]), g.const(per_channel(4, (4, 1, 1)))])
    assert check(g.model([2, 1, 3, 3], [y]), (2, 1, 3, 3)) == ["Relu", "Mul"]


def test_intermediate_with_two_readers_stays(nchw):
    """Conv -> Mul -> Add where the Mul's result has a second reader: the chain stops there; the Mul folds
    into the Conv and the Add becomes a BatchNormalization of its own."""
    g = G()
    m = g.node("Mul", [g.conv("x", 3, 5), g.const(per_channel(5, (5, 1, 1)))])
    a = g.node("Add", [m, g.const(per_channel(5, (5, 1, 1)))])
    y = g.node("Sub", [a, m])
    assert check(g.model([1, 3, 6, 6], [y]), (1, 3, 6, 6)) == ["Conv", "BatchNormalization", "Sub"]


def test_conv_with_second_reader_keeps_conv(nchw):
    """The Conv's output is a graph output too: a per-channel chain becomes a BatchNormalization after it, a
    scalar one stays."""
    for const, want in [(per_channel(5, (5, 1, 1)), ["Conv", "BatchNormalization"]), (2.5, ["Conv", "Mul"])]:
        g = G()
        c = g.conv("x", 3, 5)
        y = g.node("Mul", [c, g.const(const)])
        assert check(g.model([1, 3, 6, 6], [y, c]), (1, 3, 6, 6)) == want


def test_scalar_chain_after_other_ops_stays(nchw):
    """A scalar Mul on a rank-4 value (an attention score scale, say) is left to the other passes."""
    g = G()
    y = g.node("Add", [g.node("Mul", [g.node("Relu", ["x"]), g.const(0.125)]), g.const(1.0)])
    assert check(g.model([2, 4, 5, 5], [y]), (2, 4, 5, 5)) == ["Relu", "Mul", "Add"]


def test_non_float_and_other_ranks_stay(nchw):
    g = G()
    y = g.node("Mul", [g.node("Relu", ["x"]), g.const(per_channel(3, (3, 1, 1)), np.float64)])
    assert check(g.model([1, 3, 4, 4], [y], elem=TensorProto.DOUBLE), (1, 3, 4, 4), np.float64) == ["Relu", "Mul"]
    g = G()
    y = g.node("Mul", [g.node("Relu", ["x"]), g.const(per_channel(3, (3, 1)))])
    assert check(g.model([2, 3, 5], [y]), (2, 3, 5)) == ["Relu", "Mul"]
    g = G()
    y = g.node("Mul", [g.node("Relu", ["x"]), g.const(per_channel(3, (3, 1, 1, 1)))])
    assert check(g.model([2, 3, 5, 4, 2], [y]), (2, 3, 5, 4, 2)) == ["Relu", "Mul"]


def test_div_and_reversed_sub_stay(nchw):
    g = G()
    d = g.node("Div", [g.node("Relu", ["x"]), g.const(per_channel(3, (3, 1, 1)))])
    y = g.node("Sub", [g.const(per_channel(3, (3, 1, 1))), d])
    assert check(g.model([1, 3, 4, 4], [y]), (1, 3, 4, 4)) == ["Relu", "Div", "Sub"]


# ---- rewrite_sum_as_add ----

def test_sum_of_two_fuses_as_residual(nchw):
    g = G()
    a = g.node("Relu", ["x"])
    y = g.node("Relu", [g.node("Sum", [g.conv(a, 4, 4), a])])
    assert check(g.model([1, 4, 6, 6], [y]), (1, 4, 6, 6)) == ["Relu", "Conv"]


@pytest.mark.parametrize("n", [1, 3, 4])
def test_sum_of_one_or_many(nchw, n):
    g = G()
    a = g.node("Relu", ["x"])
    terms = [a] + [g.node("Neg", [a]) if k % 2 else g.const(RNG.standard_normal((1, 3, 1, 1)))
                   for k in range(1, n)]
    y = g.node("Sum", terms)
    ops = check(g.model([2, 3, 4, 5], [g.node("Exp", [y])]), (2, 3, 4, 5))
    assert "Sum" not in ops and ops.count("Add") == n - 1


def test_sum_as_graph_output_keeps_name():
    g = G()
    y = g.node("Sum", [g.node("Relu", ["x"]), g.node("Neg", ["x"]), g.node("Exp", ["x"])])
    m = g.model([2, 3], [y])
    assert check(m, (2, 3)).count("Add") == 2
    assert [o.name for o in fastinfer.Session(m).get_outputs()] == [y]


def test_sum_opset6_two_inputs():
    g = G()
    y = g.node("Sum", [g.node("Relu", ["x"]), g.node("Neg", ["x"])])
    assert check(g.model([3, 4], [y], opset=6), (3, 4)) == ["Relu", "Neg", "Add"]


# ---- Dropout with an unread mask ----

def test_dropout_with_unread_mask_removed():
    g = G()
    y, _mask = g.node("Dropout", [g.node("Relu", ["x"])], n_out=2, ratio=0.5)
    assert check(g.model([2, 3], [g.node("Neg", [y])], opset=9), (2, 3)) == ["Relu", "Neg"]


# ---- the light models ----

@pytest.mark.parametrize("name", ["inception_v2", "densenet121", "resnet50"])
def test_light_models_run_channels_last_throughout(name):
    path = os.path.join(LIGHT_DIR, f"light_{name}.onnx")
    if not os.path.exists(path):
        pytest.skip("light model not shipped")
    ops = [n["op_type"] for n in fastinfer.Session(path, threads=1)._describe_nodes()]
    # One region: the RGB stem reads the NCHW input itself (no NchwToNhwc), one reorder out.
    assert ops.count("NchwToNhwc") == 0 and ops.count("NhwcToNchw") == 1
    assert not {"Mul", "Add", "Sum", "Conv"} & set(ops), sorted(set(ops))


# ---- fuse_residual_add_into_conv with grouped and depthwise Convs (ShuffleNet's residual adds) ----

@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("group", [2, 8])
def test_residual_add_fuses_into_grouped_conv(monkeypatch, layout, group):
    monkeypatch.setenv("FASTINFER_LAYOUT", layout)
    g = G()
    a = g.node("Relu", [g.conv("x", 3, 8)])
    w = g.const(RNG.standard_normal((8, 8 // group, 3, 3)) / 3)
    c = g.node("Conv", [a, w, g.const(RNG.standard_normal(8))], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=group)
    y = g.node("Relu", [g.node("Add", [a, c])])
    ops = check(g.model([2, 3, 9, 7], [y]), (2, 3, 9, 7))
    assert "Add" not in ops and "Relu" not in ops, ops
