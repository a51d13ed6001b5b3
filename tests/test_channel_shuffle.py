"""The channel shuffle: the fuse_channel_shuffle pass (Reshape -> Transpose (0, 2, 1, 3, 4) -> Reshape
becomes ai.fastinfer ChannelShuffle, or NhwcChannelShuffle in a channels-last region) against
onnxruntime on the unfused graph; both kernels as single nodes against numpy on odd group sizes
(transpose tails), several threads and types; patterns that must not fuse; bad inputs."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import run_ort

DOM = "ai.fastinfer"
OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid(DOM, 1)]


def numpy_shuffle(x, groups, axis):
    """Output channel j*G + i is input channel i*(C/G) + j."""
    c = x.shape[axis]
    idx = np.arange(c).reshape(groups, c // groups).T.reshape(-1)
    return np.take(x, idx, axis=axis)


def single(op, shape, groups, dtype=TensorProto.FLOAT):
    g = helper.make_graph([helper.make_node(op, ["x"], ["y"], domain=DOM, group=groups)], "s",
                          [helper.make_tensor_value_info("x", dtype, None)],
                          [helper.make_tensor_value_info("y", dtype, None)])
    return helper.make_model(g, opset_imports=OPSETS, ir_version=8)


@pytest.mark.parametrize("shape,groups", [((1, 12, 5, 7), 4), ((2, 15, 3, 3), 3), ((1, 136, 4, 4), 4),
                                          ((2, 35, 2, 5), 5), ((1, 8, 1, 1), 8), ((0, 6, 2, 2), 2),
                                          ((3, 1088, 1, 2), 4)])
@pytest.mark.parametrize("threads", [1, 3])
def test_kernels_match_numpy(shape, groups, threads):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    got = fastinfer.Session(single("ChannelShuffle", shape, groups), threads=threads).run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, numpy_shuffle(x, groups, 1))
    xn = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = fastinfer.Session(single("NhwcChannelShuffle", shape, groups), threads=threads).run(None, {"x": xn})[0]
    np.testing.assert_array_equal(got, numpy_shuffle(xn, groups, 3))


def test_nchw_kernel_takes_any_type():
    x = np.arange(2 * 6 * 3 * 2, dtype=np.int8).reshape(2, 6, 3, 2)
    got = fastinfer.Session(single("ChannelShuffle", x.shape, 3, TensorProto.INT8)).run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, numpy_shuffle(x, 3, 1))


def shuffle_model(c, groups, perm=(0, 2, 1, 3, 4), view=None, final=None, batch="N", extra_output=False):
    """x -> Relu -> the shuffle subgraph -> Neg (the graph a torch export leaves)."""
    h, w = 5, 6
    view = view or [-1, groups, c // groups, h, w]
    final = final or [-1, c, h, w]
    inits = [numpy_helper.from_array(np.array(view, np.int64), "view"),
             numpy_helper.from_array(np.array(final, np.int64), "final")]
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "view"], ["v"]),
             helper.make_node("Transpose", ["v"], ["t"], perm=list(perm)),
             helper.make_node("Reshape", ["t", "final"], ["s"]), helper.make_node("Neg", ["s"], ["y"])]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if extra_output:
        outs.append(helper.make_tensor_value_info("t", TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, c, h, w])], outs,
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def check(model, c, batch=2):
    x = np.random.default_rng(2).standard_normal((batch, c, 5, 6)).astype(np.float32)
    sess = fastinfer.Session(model)
    for a, b in zip(sess.run(None, {"x": x}), run_ort(model, {"x": x})):
        np.testing.assert_array_equal(a, b)
    return [op for _, op, _ in sess._graph.nodes()]


@pytest.mark.parametrize("batch", ["N", 2])
def test_fused_graph_matches_ort(batch):
    ops = check(shuffle_model(12, 3, batch=batch), 12)
    assert "ChannelShuffle" in ops and "Transpose" not in ops and "Reshape" not in ops, ops


@pytest.mark.parametrize("kw", [
    {"perm": (0, 1, 2, 4, 3)},                     # not a channel shuffle
    {"view": [-1, 3, 4, 6, 5]},                    # H and W regrouped, not the channels
    {"final": [-1, 12, 30, 1]},                    # a different output shape
    {"extra_output": True},                        # the transposed view is also read
])
def test_other_patterns_stay_unfused(kw):
    ops = check(shuffle_model(12, 3, **kw), 12)
    assert "ChannelShuffle" not in ops and "Transpose" in ops, ops


def test_bad_inputs_raise():
    with pytest.raises(fastinfer.InvalidArgument, match="group 5 does not divide"):
        fastinfer.Session(single("ChannelShuffle", None, 5)).run(None, {"x": np.zeros((1, 12, 2, 2), np.float32)})
    with pytest.raises(fastinfer.InvalidArgument, match="rank 4"):
        fastinfer.Session(single("NhwcChannelShuffle", None, 2)).run(None, {"x": np.zeros((4, 4), np.float32)})
    with pytest.raises(fastinfer.NotImplemented, match="4-byte"):
        fastinfer.Session(single("NhwcChannelShuffle", None, 2, TensorProto.INT8)).run(
            None, {"x": np.zeros((1, 2, 2, 4), np.int8)})
    with pytest.raises(fastinfer.InvalidModel, match="group must be at least 1"):
        fastinfer.Session(single("ChannelShuffle", None, 0))
