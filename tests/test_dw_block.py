"""The fused inverted-residual block (graph pass fuse_dw_block -> ai.fastinfer NhwcDwBlock): MobileNet-style
[1x1 expansion ->] depthwise -> [1x1 projection] chains written as plain ONNX Convs, against onnxruntime, in
both execution modes (rows streamed through L2, and staged), on 1-3 threads, batch 1 and 3, with channel
tails, strides, dilation, 5x5 kernels, a residual, ReLU6 and HardSwish; the window-shifting path (images
taller than one step); every FASTINFER_ISA tier; the chains the pass must leave alone; and bad input."""

from __future__ import annotations

import os
import sys

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child_env import assert_runs_at_isa
from op_helpers import run_ort
from test_chain import chained_vs_unchained

MODES = ["stream", "staged", "auto"]


class Builder:
    """Collects nodes and initializers of an NCHW float32 model."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p: str) -> str:
        self.n += 1
        return f"{p}{self.n}"

    def const(self, a: np.ndarray) -> str:
        nm = self.name("c")
        self.inits.append(numpy_helper.from_array(a.astype(np.float32), nm))
        return nm

    def conv(self, x: str, cin: int, cout: int, k: int = 1, stride: int = 1, pad=None, dil: int = 1,
             group: int = 1, bias: bool = True) -> str:
        w = self.rng.standard_normal((cout, cin // group, k, k)) * (2.0 / (cin // group * k * k)) ** 0.5
        ins = [x, self.const(w)] + ([self.const(self.rng.standard_normal(cout) * 0.1)] if bias else [])
        p = (k // 2) * dil if pad is None else pad
        pads = list(p) if isinstance(p, tuple) else [p] * 4
        y = self.name("conv")
        self.nodes.append(helper.make_node("Conv", ins, [y], kernel_shape=[k, k], strides=[stride] * 2, pads=pads,
                                           dilations=[dil] * 2, group=group))
        return y

    def op(self, op: str, ins: list[str], **attrs) -> str:
        y = self.name(op.lower())
        self.nodes.append(helper.make_node(op, ins, [y], **attrs))
        return y

    def act(self, x: str, kind: str) -> str:
        if kind == "relu6":
            return self.op("Clip", [x, self.const(np.array(0.0)), self.const(np.array(6.0))])
        if kind == "hardswish":
            return self.op("HardSwish", [x])
        return x

    def block(self, x: str, cin: int, ce: int, cout: int, k: int = 3, stride: int = 1, dil: int = 1, pad=None,
              expand: bool = True, project: bool = True, residual: bool = False, act: str = "relu6") -> str:
        e = self.act(self.conv(x, cin, ce), act) if expand else x
        d = self.act(self.conv(e, ce, ce, k, stride, pad, dil, group=ce), act)
        if not project:
            return d
        y = self.conv(d, ce, cout, bias=cout % 2 == 1)
        return self.op("Add", [y, x]) if residual else y

    def model(self, x_shape, outs: list[str]):
        g = helper.make_graph(self.nodes, "blocks", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def stem_then(b: Builder, c: int, build) -> list[str]:
    """A 3x3 conv stem (so the region is channels-last) into c channels, then build(b, x) -> outputs."""
    x = b.act(b.conv("x", 3, c, 3, 1), "relu6")
    return build(b, x)


# name -> (input NCHW shape without batch, builder of the outputs)
CASES = {
    "mbv2_stride1_residual": ((3, 12, 13), lambda b: stem_then(b, 8, lambda b, x: [
        b.block(b.block(x, 8, 48, 8, residual=True), 8, 40, 8, residual=True)])),
    "mbv2_stride2_tails": ((3, 15, 17), lambda b: stem_then(b, 5, lambda b, x: [
        b.block(x, 5, 37, 11, stride=2)])),
    "no_expand_t1": ((3, 16, 16), lambda b: stem_then(b, 33, lambda b, x: [
        b.block(x, 33, 33, 17, expand=False)])),
    "no_project_5x5_s2": ((3, 19, 14), lambda b: stem_then(b, 6, lambda b, x: [
        b.op("MaxPool", [b.block(x, 6, 24, 0, k=5, stride=2, project=False)], kernel_shape=[2, 2])])),
    "dilated_asym_pads": ((3, 11, 21), lambda b: stem_then(b, 7, lambda b, x: [
        b.block(x, 7, 21, 9, k=3, dil=2, pad=(2, 1, 2, 3))])),
    "hardswish_5x5": ((3, 10, 30), lambda b: stem_then(b, 16, lambda b, x: [
        b.block(x, 16, 72, 16, k=5, act="hardswish", residual=True)])),
    # 64 rows of 64 x 96 channels: the expanded window holds a few rows at a time, so the stream
    # mode shifts it (rows kept from the step before) many times per image.
    "tall_window": ((3, 64, 64), lambda b: stem_then(b, 16, lambda b, x: [
        b.block(b.block(x, 16, 96, 24, stride=2), 24, 144, 24, residual=True)])),
    "one_row_image": ((3, 1, 40), lambda b: stem_then(b, 4, lambda b, x: [b.block(x, 4, 20, 4, residual=True)])),
}


def build(case: str) -> tuple:
    shape, fn = CASES[case]
    b = Builder(abs(hash(case)) % 1000)
    outs = fn(b)
    return b.model(["N", *shape], outs), shape


def check_case(case: str, batch: int, threads: int, mode: str) -> None:
    model, shape = build(case)
    x = np.random.default_rng(3).standard_normal((batch, *shape)).astype(np.float32)
    want = run_ort(model, {"x": x})
    s = fastinfer.Session(model, threads=threads, config={"conv.dw_block": mode})
    got = s.run(None, {"x": x})
    for g, w in zip(got, want):
        err = np.linalg.norm(g.astype(np.float64) - w) / max(np.linalg.norm(w), 1e-30)
        assert err < 1e-5, f"{case} batch {batch} threads {threads} {mode}: relative L2 error {err}"
    assert "NhwcDwBlock" in {n["op_type"] for n in s._describe_nodes()}, case


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("mode", MODES)
def test_block_matches_ort(case, mode):
    for batch, threads in [(1, 1), (1, 2), (3, 3), (3, 2)]:
        check_case(case, batch, threads, mode)


def run_all() -> None:
    """Every case at batch 2 on 1 and 2 threads in both modes (the child processes' job)."""
    for case in sorted(CASES):
        for mode in ("stream", "staged"):
            check_case(case, 2, 1, mode)
            check_case(case, 1, 2, mode)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("mode", ["stream", "staged"])
def test_blocks_in_a_chained_job(mode, batch, threads):
    """Consecutive blocks (and the 1x1 conv after them) as the phases of one pool job: the same bits
    as block by block, and ORT's numbers. A stride-2 block, 15 rows split 8 + 7, a residual, 5x5;
    each block large enough to split in both modes."""
    b = Builder(11)

    def blocks(b, x):
        y = b.block(x, 16, 96, 32, stride=2)
        y = b.block(y, 32, 192, 32, residual=True)
        y = b.block(y, 32, 128, 24, k=5)
        return [b.conv(y, 24, 40)]

    model = b.model(["N", 3, 30, 30], stem_then(b, 16, blocks)).SerializeToString()
    x = np.random.default_rng(5).standard_normal((batch, 3, 30, 30)).astype(np.float32)
    got, want = chained_vs_unchained(model, {"x": x}, threads, config={"conv.dw_block": mode})
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)


@pytest.mark.parametrize("isa", ["ref", "avx2"])
def test_every_isa_tier(isa):
    assert_runs_at_isa(isa, "import test_dw_block as t; t.run_all(); print('ok')",
                       os.path.dirname(os.path.abspath(__file__)), timeout=300)


def _ops(model) -> list[str]:
    return [n["op_type"] for n in fastinfer.Session(model)._describe_nodes()]


def test_block_fuses_three_convs_into_one():
    model, _ = build("mbv2_stride1_residual")
    ops = _ops(model)
    # stem conv + two blocks of three convs each: one NhwcConv and two blocks remain.
    assert ops.count("NhwcDwBlock") == 2 and ops.count("NhwcConv") == 1, ops


def test_chain_read_elsewhere_is_not_fused():
    """The expanded value is also a graph output: the expansion must stay a conv of its own."""
    b = Builder(1)
    x = b.act(b.conv("x", 3, 8, 3), "relu6")
    e = b.act(b.conv(x, 8, 32), "relu6")
    d = b.act(b.conv(e, 32, 32, 3, group=32), "relu6")
    y = b.conv(d, 32, 8)
    model = b.model([1, 3, 9, 9], [y, e])
    ops = _ops(model)
    assert ops.count("NhwcDwBlock") == 1 and ops.count("NhwcConv") == 2, ops  # stem, expansion; dw + projection fused
    xin = np.random.default_rng(0).standard_normal((1, 3, 9, 9)).astype(np.float32)
    for g, w in zip(fastinfer.Session(model).run(None, {"x": xin}), run_ort(model, {"x": xin})):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def _direct_block(ce: int = 8, cin: int = 4, with_expand: bool = True, const_wd: bool = True, ce_expand=None):
    """A one-node NhwcDwBlock model (X NHWC), for the error paths."""
    r = np.random.default_rng(2)
    inits = [numpy_helper.from_array(r.standard_normal((ce_expand or ce, cin, 1, 1)).astype(np.float32), "we")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)]
    if const_wd:
        inits.append(numpy_helper.from_array(r.standard_normal((ce, 1, 3, 3)).astype(np.float32), "wd"))
    else:
        inputs.append(helper.make_tensor_value_info("wd", TensorProto.FLOAT, [ce, 1, 3, 3]))
    ins = ["x", "we" if with_expand else "", "", "wd"]
    node = helper.make_node("NhwcDwBlock", ins, ["y"], domain="ai.fastinfer", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                            group=ce, name="blk")
    g = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.fastinfer", 1)],
                             ir_version=8)


def test_errors_name_the_node():
    s = fastinfer.Session(_direct_block())
    with pytest.raises(fastinfer.InvalidArgument, match=r"blk.*NhwcDwBlock.*4 channels"):
        s.run(None, {"x": np.zeros((1, 5, 5, 3), np.float32)})
    with pytest.raises(fastinfer.InvalidArgument, match="NhwcDwBlock.*float32 NHWC"):
        s.run(None, {"x": np.zeros((1, 5, 4), np.float32)})
    with pytest.raises(fastinfer.InvalidModel, match="blk.*Wd must be a constant"):
        fastinfer.Session(_direct_block(const_wd=False))
    with pytest.raises(fastinfer.InvalidModel, match="blk.*expansion makes 6 channels"):
        fastinfer.Session(_direct_block(ce=8, ce_expand=6))
    with pytest.raises(fastinfer.InvalidArgument, match="conv.dw_block"):
        fastinfer.Session(_direct_block(), config={"conv.dw_block": "fast"})
    # without an expansion the depthwise conv reads X's channels directly
    y = fastinfer.Session(_direct_block(with_expand=False)).run(None, {"x": np.ones((1, 4, 4, 8), np.float32)})[0]
    assert y.shape == (1, 4, 4, 8) and np.isfinite(y).all()
