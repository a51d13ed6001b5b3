"""The assign_layout graph pass: CNN regions run channels-last (ai.fastinfer Nhwc* ops) with reorders only at
the region's edges, giving the numbers of onnxruntime and of the unoptimised graph; FASTINFER_LAYOUT turns it
off (nchw) or converts single Convs too (nhwc); the torch ResNet-50/MobileNetV2 exports stay within 1e-4."""

from __future__ import annotations

import os
import sys

import fastinfer
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import run_ort

R = np.random.default_rng(5)


class G:
    """A small graph builder: constants and nodes, symbolic batch."""

    def __init__(self, c: int, h: int, w: int):
        self.nodes, self.inits, self.n = [], [], 0
        self.shape = ["N", c, h, w]

    def const(self, a) -> str:
        self.n += 1
        name = f"k{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(a, np.float32), name))
        return name

    def node(self, op, ins, **attrs) -> str:
        self.n += 1
        out = f"v{self.n}"
        self.nodes.append(helper.make_node(op, ins, [out], name=f"n{self.n}", **attrs))
        return out

    def conv(self, x, c, m, k=3, s=1, group=1, act=None, bn=False):
        w = self.const(R.standard_normal((m, c // group, k, k)) * (1.0 / np.sqrt(c // group * k * k)))
        y = self.node("Conv", [x, w, self.const(R.standard_normal(m) * 0.1)], kernel_shape=[k, k], strides=[s, s],
                      pads=[k // 2] * 4, group=group)
        if bn:
            y = self.node("BatchNormalization", [y, self.const(R.uniform(0.5, 2, m)), self.const(R.standard_normal(m)),
                                                 self.const(R.standard_normal(m) * 0.1), self.const(R.uniform(0.5, 2, m))])
        if act == "relu":
            y = self.node("Relu", [y])
        elif act == "relu6":
            y = self.node("Clip", [y, self.const(0.0), self.const(6.0)])
        return y

    def model(self, outputs):
        g = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def residual_block():
    g = G(8, 9, 11)
    a = g.conv("x", 8, 16, k=1, act="relu", bn=True)
    b = g.conv(a, 16, 16, act="relu", bn=True)
    c = g.conv(b, 16, 16, bn=True)
    d = g.node("Relu", [g.node("Add", [c, a])])
    e = g.conv(d, 16, 24, k=1, s=2)
    f = g.node("Relu", [g.node("Add", [g.conv(d, 16, 24, k=3, s=2), e])])
    return g.model([f]), {"NchwToNhwc": 1, "NhwcToNchw": 1}


def branches_concat():
    g = G(5, 13, 12)
    a = g.conv("x", 5, 12, act="relu")
    b1 = g.conv(a, 12, 7, k=1, act="relu")
    b2 = g.conv(g.node("MaxPool", [a], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 12, 9, k=3, act="relu")
    cat = g.node("Concat", [b1, b2, a], axis=1)
    p = g.node("AveragePool", [cat], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    q = g.conv(p, 28, 11, k=3, act="relu6")
    gap = g.node("GlobalAveragePool", [q])
    flat = g.node("Flatten", [gap])
    out = g.node("Gemm", [flat, g.const(R.standard_normal((11, 4))), g.const(R.standard_normal(4))])
    return g.model([out]), {"NchwToNhwc": 1, "NhwcToNchw": 1}


def outputs_in_middle():
    g = G(3, 10, 10)
    a = g.conv("x", 3, 8, act="relu")
    b = g.conv(a, 8, 8, act="relu")
    t = g.node("Transpose", [b], perm=[0, 1, 3, 2])  # not understood: reads NCHW
    c = g.conv(b, 8, 6, k=1)
    s = g.node("Sigmoid", [c])
    return g.model([a, s, t, c]), {"NchwToNhwc": 0, "NhwcToNchw": 4}  # the 3-channel conv reads NCHW


def depthwise_chain():
    g = G(16, 15, 14)
    a = g.conv("x", 16, 16, k=1, act="relu6", bn=True)
    e = g.conv(a, 16, 48, k=1, act="relu6", bn=True)
    d = g.conv(e, 48, 48, k=3, group=48, act="relu6", bn=True)
    p = g.conv(d, 48, 16, k=1, bn=True)
    r = g.node("Add", [p, a])
    e2 = g.conv(r, 16, 40, k=1, act="relu6")
    d2 = g.conv(e2, 40, 40, k=5, s=2, group=40, act="relu6")
    d3 = g.conv(d2, 40, 40, k=3, s=2, group=40)
    m = g.node("Mul", [d3, g.node("Sigmoid", [d3])])
    return g.model([m]), {"NchwToNhwc": 1, "NhwcToNchw": 1}


def lone_conv():
    g = G(4, 6, 6)
    return g.model([g.node("MaxPool", [g.conv("x", 4, 5, act="relu")], kernel_shape=[2, 2])]), {
        "NchwToNhwc": 0, "NhwcToNchw": 0}


def bn(g, x, c):
    """An inference BatchNormalization that no conv precedes (DenseNet's pre-activation BN)."""
    return g.node("BatchNormalization", [x, g.const(R.uniform(0.5, 2, c)), g.const(R.standard_normal(c)),
                                         g.const(R.standard_normal(c) * 0.1), g.const(R.uniform(0.5, 2, c))],
                  epsilon=1e-3)


def dense_block():
    """DenseNet-style: Concat -> BN -> Relu -> Conv1x1 -> BN -> Relu -> Conv3x3 -> Concat, twice; the
    BNs run channels-last too, so the region needs one reorder each way."""
    g = G(8, 9, 10)
    feats = [g.conv("x", 8, 8, k=3)]
    for _ in range(2):
        cat = feats[0] if len(feats) == 1 else g.node("Concat", feats, axis=1)
        c = 8 * len(feats)
        a = g.conv(g.node("Relu", [bn(g, cat, c)]), c, 16, k=1)
        feats.append(g.conv(g.node("Relu", [bn(g, a, 16)]), 16, 8, k=3))
    out = bn(g, g.node("Concat", feats, axis=1), 24)
    return g.model([out]), {"NchwToNhwc": 1, "NhwcToNchw": 1}


def c2f_upsample():
    """YOLOv8-style: a channel Split (two outputs) feeding a bottleneck and a Concat, then Resize
    (nearest 2x, linear by 1.5 x 2.5), all channels-last: one reorder each way."""
    g = G(8, 6, 7)
    a = g.conv("x", 8, 16, k=1, act="relu")
    g.n += 1
    s0, s1 = f"v{g.n}a", f"v{g.n}b"
    split = g.const(np.array([6, 10]))
    g.inits[-1] = numpy_helper.from_array(np.array([6, 10], np.int64), split)
    g.nodes.append(helper.make_node("Split", [a, split], [s0, s1], name=f"n{g.n}", axis=1))
    b = g.node("Add", [s1, g.conv(g.conv(s1, 10, 10, act="relu"), 10, 10)])
    cat = g.node("Concat", [s0, b, s1], axis=1)
    up = g.node("Resize", [cat, "", g.const([1, 1, 2, 2])], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    c = g.conv(up, 26, 12, k=3, act="relu")
    lin = g.node("Resize", [c, "", g.const([1, 1, 1.5, 2.5])], mode="linear")
    return g.model([g.conv(lin, 12, 5, k=1)]), {"NchwToNhwc": 1, "NhwcToNchw": 1}


def shuffle(g, x, groups, c, h, w):
    """ShuffleNet's channel shuffle as torch exports it: Reshape, Transpose (0, 2, 1, 3, 4), Reshape."""
    def shape(dims):
        name = g.const(np.zeros(len(dims)))
        g.inits[-1] = numpy_helper.from_array(np.array(dims, np.int64), name)
        return name

    v = g.node("Reshape", [x, shape([-1, groups, c // groups, h, w])])
    t = g.node("Transpose", [v], perm=[0, 2, 1, 3, 4])
    return g.node("Reshape", [t, shape([-1, c, h, w])])


def shufflenet_units():
    """ShuffleNet units: grouped 1x1 convs (in place over the residual), the channel shuffle
    (NhwcChannelShuffle), depthwise 3x3, and a grouped 3x3 stride-2 conv of 8 channels per group
    (the implicit GEMM with pointers offset per group), all channels-last: one reorder each way."""
    g = G(8, 10, 9)
    a = g.conv("x", 8, 24, k=1, group=4, act="relu", bn=True)
    d = g.conv(shuffle(g, a, 4, 24, 10, 9), 24, 24, group=24, bn=True)
    f = g.node("Relu", [g.node("Add", [g.conv(d, 24, 24, k=1, group=4, bn=True), a])])
    h = g.conv(f, 24, 48, k=3, s=2, group=3, act="relu")
    return g.model([g.conv(shuffle(g, h, 3, 48, 5, 5), 48, 10, k=1)]), {"NchwToNhwc": 1, "NhwcToNchw": 1}


def concats_in_place():
    """Concats whose convs write into the buffer: a fire module (1x1 direct GEMM + 3x3, Winograd or GEMM),
    3x3 stride-2 (implicit GEMM), a conv over 4 channels (im2row), a grouped 1x1 with a fused residual;
    a pooling branch and a conv output also read elsewhere are copied in by ConcatInto; the last Concat
    is a graph output."""
    g = G(4, 12, 12)
    s = g.conv("x", 4, 16, k=1, act="relu")
    fire = g.node("Concat", [g.conv(s, 16, 24, k=1, act="relu"), g.conv(s, 16, 20, act="relu")], axis=1)
    small = g.conv(g.conv("x", 4, 4, k=1), 4, 8, k=3, s=2)
    down = g.node("Concat", [g.conv(fire, 44, 12, k=3, s=2), small,
                             g.node("MaxPool", [fire], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
                  axis=1)
    shared = g.conv(down, 64, 16, k=1, act="relu")
    grouped = g.node("Add", [g.conv(down, 64, 64, k=1, group=4), down])
    out = g.node("Concat", [grouped, shared, g.node("Relu", [shared])], axis=1)
    return g.model([out]), {"NchwToNhwc": 1, "NhwcToNchw": 1}


def googlenet_stem():
    """GoogLeNet's stem: 7x7 conv, max pool, LRN, 1x1 and 3x3 convs, LRN again: one channels-last
    region (NhwcLRN), no reorder between."""
    g = G(3, 32, 30)
    a = g.node("MaxPool", [g.conv("x", 3, 16, k=7, s=2, act="relu")], kernel_shape=[3, 3], strides=[2, 2])
    b = g.node("LRN", [a], size=5, alpha=1e-4, beta=0.75, bias=1.0)
    c = g.conv(g.conv(b, 16, 16, k=1, act="relu"), 16, 24, k=3, act="relu")
    d = g.node("LRN", [c], size=3, alpha=1e-2, beta=0.6, bias=2.0)
    return g.model([g.node("MaxPool", [d], kernel_shape=[3, 3], strides=[2, 2])]), {"NchwToNhwc": 0,
                                                                                      "NhwcToNchw": 1}


GRAPHS = [residual_block, branches_concat, outputs_in_middle, depthwise_chain, lone_conv, dense_block, c2f_upsample,
          shufflenet_units, concats_in_place, googlenet_stem]


def _ops(sess):
    return [op for _, op, _ in sess._graph.nodes()]


@pytest.mark.parametrize("make", GRAPHS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("batch", [1, 3])
def test_pass_matches_ort_and_plain(make, batch, monkeypatch):
    monkeypatch.delenv("FASTINFER_LAYOUT", raising=False)
    model, reorders = make()
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = R.standard_normal([batch, *dims]).astype(np.float32)
    sess = fastinfer.Session(model, threads=2)
    ops = _ops(sess)
    for op, count in reorders.items():
        assert ops.count(op) == count, ops
    if reorders["NchwToNhwc"] or reorders["NhwcToNchw"]:
        assert "Conv" not in ops and "NhwcConv" in ops, ops
    got = sess.run(None, {"x": x})
    plain = fastinfer.Session(model, threads=1, optimize=False).run(None, {"x": x})
    ref = run_ort(model, {"x": x})
    for a, b, c in zip(got, plain, ref):
        assert a.shape == c.shape
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert [a.shape for a in sess.run(None, {"x": x})] == [c.shape for c in ref]  # second run, from the plan


def test_layout_env(monkeypatch):
    model, _ = residual_block()
    monkeypatch.setenv("FASTINFER_LAYOUT", "nchw")
    assert not any(op.startswith("Nhwc") for op in _ops(fastinfer.Session(model)))
    model, _ = lone_conv()
    monkeypatch.setenv("FASTINFER_LAYOUT", "nhwc")
    sess = fastinfer.Session(model)
    assert "NhwcConv" in _ops(sess) and "NhwcMaxPool" in _ops(sess)
    x = R.standard_normal((2, 4, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], run_ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet50", "mobilenetv2"])
def test_torch_models(name, monkeypatch, tmp_path):
    """The torch exports (bench/torch_models.py) within 1e-4 of onnxruntime, every Conv channels-last."""
    pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
    import torch_models
    path = str(tmp_path / f"{name}.onnx")
    torch_models.export(name, path)
    monkeypatch.delenv("FASTINFER_LAYOUT", raising=False)
    sess = fastinfer.Session(path, threads=2)
    ops = _ops(sess)
    # The RGB stem reads the NCHW input itself: no reorder on the way in.
    assert "Conv" not in ops and ops.count("NchwToNhwc") == 0 and ops.count("NhwcToNchw") == 1, ops
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    got = sess.run(None, {"input": x})[0]
    ref = run_ort(onnx.load(path), {"input": x})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("c,k,s,d,pads,hw", [(3, 3, 2, 1, [1, 1, 1, 1], (17, 23)), (3, 7, 2, 1, [3, 3, 3, 3], (29, 31)),
                                              (1, 5, 1, 1, [2, 0, 1, 2], (9, 14)), (4, 3, 1, 2, [2, 2, 2, 2], (12, 7)),
                                              (2, 3, 3, 1, [0, 0, 0, 0], (16, 20)), (3, 2, 2, 1, [0, 1, 1, 0], (8, 9))])
@pytest.mark.parametrize("batch", [1, 2])
def test_rgb_stem_reads_nchw_input_without_a_reorder(c, k, s, d, pads, hw, batch, monkeypatch):
    # A region's first conv over <= 4 channels gathers its im2row rows straight from the NCHW
    # input (NhwcConv fi.nchw_input): no NchwToNhwc node, same numbers as ORT.
    monkeypatch.delenv("FASTINFER_LAYOUT", raising=False)
    g = G(c, *hw)
    w = g.const(R.standard_normal((16, c, k, k)))
    y = g.node("Conv", ["x", w, g.const(R.standard_normal(16))], kernel_shape=[k, k], strides=[s, s],
               dilations=[d, d], pads=pads)
    y = g.node("Clip", [y, g.const(0.0), g.const(6.0)])
    out = g.conv(g.conv(y, 16, 8, k=1, act="relu"), 8, 8, k=3)
    model = g.model([out])
    x = R.standard_normal([batch, c, *hw]).astype(np.float32)
    for threads in (1, 2):
        sess = fastinfer.Session(model, threads=threads)
        ops = _ops(sess)
        assert "NchwToNhwc" not in ops and ops.count("NhwcConv") == 3, ops
        assert any("from NCHW input" in n["kernel"] for n in sess._describe_nodes()), sess._describe_nodes()
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], run_ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_wide_first_conv_keeps_the_reorder(monkeypatch):
    # 8 input channels: the pixels' channel runs make NHWC im2row cheaper; the reorder stays.
    monkeypatch.delenv("FASTINFER_LAYOUT", raising=False)
    g = G(8, 10, 10)
    out = g.conv(g.conv("x", 8, 16, k=3, s=2), 16, 8, k=3)
    sess = fastinfer.Session(g.model([out]))
    assert "NchwToNhwc" in _ops(sess)


@pytest.mark.parametrize("mode,roi", [("nearest", None), ("linear", None), ("linear", [0, 0, 0.1, 0.2, 1, 1, 0.8, 0.9])])
def test_resize_by_sizes_and_roi_runs_channels_last(mode, roi, monkeypatch):
    """Resize's sizes (and a tf_crop_and_resize roi) are permuted to NHWC order with the data."""
    monkeypatch.delenv("FASTINFER_LAYOUT", raising=False)
    g = G(6, 7, 9)
    g.shape = [1, 6, 7, 9]
    a = g.conv("x", 6, 8, act="relu")
    sizes = g.const([0])
    g.inits[-1] = numpy_helper.from_array(np.array([1, 8, 11, 5], np.int64), sizes)
    attrs = {"mode": mode}
    roi_name = ""
    if roi is not None:
        roi_name = g.const(roi)
        attrs["coordinate_transformation_mode"] = "tf_crop_and_resize"
    r = g.node("Resize", [a, roi_name, "", sizes], **attrs)
    model = g.model([g.conv(r, 8, 4, k=1)])
    sess = fastinfer.Session(model, threads=1)
    assert "Resize" in _ops(sess) and _ops(sess).count("NhwcToNchw") == 1, _ops(sess)
    assert [n["layout"] for n in sess._describe_nodes() if n["op_type"] == "Resize"] == ["NHWC"]
    x = R.standard_normal((1, 6, 7, 9)).astype(np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], run_ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_preactivation_batchnorm_takes_the_clamp(act, monkeypatch):
    """DenseNet's BN -> Relu (or Clip) between two convs: the clamp moves into the channels-last
    BatchNormalization (no activation node is left), NaN passes through as in ORT."""
    monkeypatch.delenv("FASTINFER_LAYOUT", raising=False)
    g = G(8, 6, 7)
    cat = g.node("Concat", [g.conv("x", 8, 12, k=1), g.conv("x", 8, 4, k=3)], axis=1)  # no Conv to fold into
    b = bn(g, cat, 16)
    b = g.node("Relu", [b]) if act == "relu" else g.node("Clip", [b, g.const(0.0), g.const(6.0)])
    model = g.model([g.conv(b, 16, 5, k=3)])
    sess = fastinfer.Session(model, threads=2)
    ops = _ops(sess)
    assert "NhwcBatchNormalization" in ops and "Relu" not in ops and "Clip" not in ops, ops
    x = R.standard_normal((2, 8, 6, 7)).astype(np.float32) * 3
    x[1, :, 2, 3] = np.nan
    got, ref = sess.run(None, {"x": x})[0], run_ort(model, {"x": x})[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("winograd", ["0", "4"])
@pytest.mark.parametrize("threads", [1, 2])
def test_convs_write_into_concat_buffers(winograd, threads, monkeypatch):
    """The fire Concat goes away, the other two become ConcatInto (the pooling branch and the shared
    conv output copied in). Every run (the first, which traces and copies the buffers, and the planned
    ones in place) gives ORT's numbers, with Winograd forced or off."""
    monkeypatch.delenv("FASTINFER_LAYOUT", raising=False)
    monkeypatch.setenv("FASTINFER_WINOGRAD", winograd)
    model, _ = concats_in_place()
    sess = fastinfer.Session(model, threads=threads)
    ops = _ops(sess)
    assert ops.count("ConcatInto") == 2 and ops.count("Concat") == 0, ops
    convs = [n for n in sess._describe_nodes() if n["op_type"] == "NhwcConv"]
    # Buffers handed along a chain: the fire's first conv, both stride-2 convs, the grouped conv.
    assert sum("/part" in n["outputs"][0]["name"] for n in convs) == 4, [n["outputs"][0]["name"] for n in convs]
    kinds = [n["kernel"] for n in convs]
    assert any("winograd" in k for k in kinds) == (winograd == "4"), kinds
    x = R.standard_normal((2, 4, 12, 12)).astype(np.float32)
    ref = run_ort(model, {"x": x})[0]
    for _ in range(3):
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], ref, rtol=1e-4, atol=1e-4)
