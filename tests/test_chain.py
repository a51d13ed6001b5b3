"""Chained jobs: at 2+ threads the executor runs consecutive nodes that defer their work (1x1
convs channels-last, ...) as the phases of one pool job. Results must not depend on it: the same
bits with session.fastinfer.chain_nodes on and off, ORT's numbers, clean errors after a chain."""

from __future__ import annotations

import threading

import fastinfer
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
CHAIN = "session.fastinfer.chain_nodes"


def residual_cnn(c: int = 48, hw: int = 56, seed: int = 0) -> bytes:
    """A stem conv and a 3x3 stride-2 max pool, then 1x1 -> Relu -> 1x1 -> Add(skip) -> Relu blocks
    (chained 1x1 convs with a residual written in place), a 3x3 conv in between, a concat of two
    1x1 branches, a Reshape to an input-given shape at the end."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def conv(x, cin, cout, k, name, pad=0):
        w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, name + "_w"), numpy_helper.from_array(b, name + "_b")])
        nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name], name=name, pads=[pad] * 4))
        return name

    conv("x", 3, c, 3, "stem", pad=1)
    nodes.append(helper.make_node("Relu", ["stem"], ["stem_relu"], name="stem_relu"))
    x = "pool"
    nodes.append(helper.make_node("MaxPool", ["stem_relu"], [x], name=x, kernel_shape=[3, 3], strides=[2, 2],
                                  pads=[1, 1, 1, 1]))
    for i in range(3):
        h = conv(x, c, 2 * c, 1, f"b{i}_expand")
        nodes.append(helper.make_node("Relu", [h], [h + "_r"], name=h + "_relu"))
        p = conv(h + "_r", 2 * c, c, 1, f"b{i}_project")
        nodes.append(helper.make_node("Add", [p, x], [p + "_add"], name=p + "_add"))
        nodes.append(helper.make_node("Relu", [p + "_add"], [f"b{i}_out"], name=f"b{i}_out"))
        x = f"b{i}_out"
        if i == 1:
            x = conv(x, c, c, 3, "mid3x3", pad=1)
    left = conv(x, c, c // 2, 1, "left")
    right = conv(x, c, c // 2, 1, "right")
    nodes.append(helper.make_node("Concat", [left, right], ["cat"], name="cat", axis=1))
    nodes.append(helper.make_node("Reshape", ["cat", "shape"], ["y"], name="final_reshape"))
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", F, ["N", 3, hw, hw]),
                                           helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                          [helper.make_tensor_value_info("y", F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def feeds(batch: int, hw: int = 56, seed: int = 1):
    x = np.random.default_rng(seed).standard_normal((batch, 3, hw, hw)).astype(np.float32)
    return {"x": x, "shape": np.array([batch, -1], np.int64)}


def chained_vs_unchained(model: bytes, feed: dict, threads: int, config: dict | None = None):
    """Runs model with chained jobs on and off (and `config`): the traced first call and three
    planned ones give the same bits (NaNs in the same places). Returns the chained output and ORT's."""
    on = fastinfer.Session(model, threads=threads, config={**(config or {}), CHAIN: "1"})
    off = fastinfer.Session(model, threads=threads, config={**(config or {}), CHAIN: "0"})
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feed)[0]
    first = on.run(None, feed)[0]  # the first call traces (never chained), later ones run the plan
    for _ in range(3):
        got = on.run(None, feed)[0]
        np.testing.assert_array_equal(got, off.run(None, feed)[0])
        np.testing.assert_array_equal(got, first)
    return got, want


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("batch", [1, 2])
def test_chained_run_matches_unchained_and_ort(threads, batch):
    got, want = chained_vs_unchained(residual_cnn(), feeds(batch), threads)
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)


def test_chained_runs_from_many_threads():
    model = residual_cnn(c=32, hw=16)
    sess = fastinfer.Session(model, threads=2)
    inputs = [feeds(1 + i % 2, hw=16, seed=i) for i in range(4)]
    want = [sess.run(None, f)[0] for f in inputs]
    for f in inputs:
        sess.run(None, f)
    errors, results = [], {}

    def worker(k):
        try:
            for r in range(6):
                i = (k + r) % len(inputs)
                results[(k, r)] = (i, sess.run(None, inputs[i])[0])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    for i, got in results.values():
        np.testing.assert_array_equal(got, want[i])


def test_error_after_a_chain_names_the_node_and_the_session_recovers():
    model = residual_cnn()
    sess = fastinfer.Session(model, threads=2)
    good = feeds(1)
    want = sess.run(None, good)[0]
    sess.run(None, good)
    bad = dict(good, shape=np.array([5, -1], np.int64))  # 5 does not divide the element count
    with pytest.raises(fastinfer.Error, match="final_reshape"):
        sess.run(None, bad)
    np.testing.assert_array_equal(sess.run(None, good)[0], want)


def test_bad_shape_in_a_chained_node_names_it():
    sess = fastinfer.Session(residual_cnn(), threads=2)
    sess.run(None, feeds(1))
    with pytest.raises(fastinfer.Error):
        sess.run(None, {"x": np.zeros((1, 4, 56, 56), np.float32), "shape": np.array([1, -1], np.int64)})
    assert sess.run(None, feeds(1))[0].shape == (1, 48 * 28 * 28)


def test_chain_config_value_is_checked():
    with pytest.raises(fastinfer.InvalidArgument, match="chain_nodes"):
        fastinfer.Session(residual_cnn(), threads=2, config={CHAIN: "yes"})


def pointwise_then_3x3(c: int, hw: int, seed: int = 0) -> bytes:
    """Four Conv 1x1 -> Relu, then a Conv 3x3 (Winograd): by the time the 3x3's tasks come up in
    the chained job, every thread has joined it."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "x"
    for i in range(4):
        w1 = (rng.standard_normal((c, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
        inits.append(numpy_helper.from_array(w1, f"w{i}"))
        nodes += [helper.make_node("Conv", [x, f"w{i}"], [f"h{i}"]), helper.make_node("Relu", [f"h{i}"], [f"r{i}"])]
        x = f"r{i}"
    w3 = (rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    inits.append(numpy_helper.from_array(w3, "w3x3"))
    nodes.append(helper.make_node("Conv", [x, "w3x3"], ["y"], pads=[1, 1, 1, 1]))
    g = helper.make_graph(nodes, "p3", [helper.make_tensor_value_info("x", F, [1, c, hw, hw])],
                          [helper.make_tensor_value_info("y", F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("threads", [3, 8])
@pytest.mark.parametrize("hw", [20])
def test_winograd_with_more_threads_than_tasks(hw, threads):
    # The 3x3's (block, slice) tasks are fewer than the threads: any thread of the job may run one,
    # each in its own slot of the scratch (slots sized for the tasks let a 20x20 layer on 3 threads
    # write past the scratch; which thread takes a task varies from run to run).
    model = pointwise_then_3x3(64, hw)
    x = np.random.default_rng(hw).standard_normal((1, 64, hw, hw)).astype(np.float32)
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    sess = fastinfer.Session(model, threads=threads)
    for _ in range(300):
        got = sess.run(None, {"x": x})[0]
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)


@pytest.mark.parametrize("threads", [2, 3])
def test_nan_in_a_chained_winograd_conv_falls_back(threads):
    # A NaN reaching the 3x3 conv: Winograd would spread it over whole tiles, so the conv computes
    # its output again with the GEMM once the chained job is done: the NaNs stay where ORT has them.
    x = np.random.default_rng(3).standard_normal((1, 64, 20, 20)).astype(np.float32)
    x[0, :, 7, 9] = np.nan
    got, want = chained_vs_unchained(pointwise_then_3x3(64, 20), {"x": x}, threads)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert 0 < np.isnan(got).sum() < got.size // 4
    ok = ~np.isnan(want)
    assert np.linalg.norm(got[ok] - want[ok]) <= 1e-5 * np.linalg.norm(want[ok])


def feed_forward_stack(d: int = 96, layers: int = 3, seed: int = 0) -> bytes:
    """Transformer-style blocks from plain ops: MatMul + Add (bias) -> Relu -> MatMul + Add ->
    Add(skip) -> LayerNormalization, which the fusions turn into MatMulBias and
    SkipLayerNormalization nodes (both chained at 2+ threads)."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "x"
    for i in range(layers):
        for name, shape in ((f"w1_{i}", (d, 4 * d)), (f"w2_{i}", (4 * d, d))):
            w = (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)
            inits.append(numpy_helper.from_array(w, name))
        for name, n in ((f"b1_{i}", 4 * d), (f"b2_{i}", d), (f"g_{i}", d), (f"be_{i}", d)):
            inits.append(numpy_helper.from_array((1 + 0.1 * rng.standard_normal(n)).astype(np.float32), name))
        nodes += [helper.make_node("MatMul", [x, f"w1_{i}"], [f"m1_{i}"]),
                  helper.make_node("Add", [f"m1_{i}", f"b1_{i}"], [f"a1_{i}"]),
                  helper.make_node("Relu", [f"a1_{i}"], [f"r_{i}"]),
                  helper.make_node("MatMul", [f"r_{i}", f"w2_{i}"], [f"m2_{i}"]),
                  helper.make_node("Add", [f"m2_{i}", f"b2_{i}"], [f"a2_{i}"]),
                  helper.make_node("Add", [f"a2_{i}", x], [f"s_{i}"]),
                  helper.make_node("LayerNormalization", [f"s_{i}", f"g_{i}", f"be_{i}"], [f"y_{i}"], axis=-1)]
        x = f"y_{i}"
    g = helper.make_graph(nodes, "ffn", [helper.make_tensor_value_info("x", F, [2, 64, d])],
                          [helper.make_tensor_value_info(x, F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("threads", [2, 3])
def test_chained_transformer_blocks(threads):
    model = feed_forward_stack()
    ops = [n["op_type"] for n in fastinfer.Session(model, threads=threads)._describe_nodes()]
    assert ops.count("MatMulBias") == 6 and ops.count("SkipLayerNormalization") == 3, ops
    x = np.random.default_rng(5).standard_normal((2, 64, 96)).astype(np.float32)
    got, want = chained_vs_unchained(model, {"x": x}, threads)
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)


def attention_stack(layers: int = 2, d: int = 32, heads: int = 4, padding_mask: bool = False) -> bytes:
    """Self-attention layers: Q/K/V projections -> com.microsoft MultiHeadAttention (with an
    additive attention bias, or a key padding mask) -> output projection -> Add(x) -> LayerNorm.
    The attention defers (between the chained projections) unless it has the padding mask."""
    rng = np.random.default_rng(7)
    inits, nodes, x = [], [], "x"

    def const(name, shape, scale):
        inits.append(numpy_helper.from_array((scale * rng.standard_normal(shape)).astype(np.float32), name))
        return name

    def linear(src, name):
        const(name + "_w", (d, d), d ** -0.5)
        const(name + "_b", (d,), 0.1)
        nodes.extend([helper.make_node("MatMul", [src, name + "_w"], [name + "_m"]),
                      helper.make_node("Add", [name + "_m", name + "_b"], [name])])
        return name

    for i in range(layers):
        q, k, v = (linear(x, f"{p}{i}") for p in "qkv")
        extra = ["", "kpm"] if padding_mask else ["", "", "bias"]
        nodes.append(helper.make_node("MultiHeadAttention", [q, k, v, *extra], [f"att{i}"], domain="com.microsoft",
                                      num_heads=heads))
        o = linear(f"att{i}", f"o{i}")
        nodes.append(helper.make_node("Add", [o, x], [f"s{i}"]))
        const(f"g{i}", (d,), 1.0)
        const(f"be{i}", (d,), 0.1)
        nodes.append(helper.make_node("LayerNormalization", [f"s{i}", f"g{i}", f"be{i}"], [f"y{i}"], axis=-1))
        x = f"y{i}"
    extra_in = ([helper.make_tensor_value_info("kpm", TensorProto.INT32, ["B", "S"])] if padding_mask else
                [helper.make_tensor_value_info("bias", F, ["B", 1, "S", "S"])])
    g = helper.make_graph(nodes, "attn", [helper.make_tensor_value_info("x", F, ["B", "S", d]), *extra_in],
                          [helper.make_tensor_value_info(x, F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                               helper.make_opsetid("com.microsoft", 1)]).SerializeToString()


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("padding_mask", [False, True])
def test_chained_attention(threads, padding_mask):
    model = attention_stack(padding_mask=padding_mask)
    ops = [n["op_type"] for n in fastinfer.Session(model, threads=threads)._describe_nodes()]
    assert ops.count("MultiHeadAttention") == 2 and ops.count("SkipLayerNormalization") == 2, ops
    r = np.random.default_rng(8)
    feed = {"x": r.standard_normal((2, 24, 32)).astype(np.float32)}
    if padding_mask:
        feed["kpm"] = (r.random((2, 24)) > 0.3).astype(np.int32)
        feed["kpm"][:, 0] = 1
    else:
        feed["bias"] = np.where(r.random((2, 1, 24, 24)) > 0.3, 0.0, -10000.0).astype(np.float32)
    got, want = chained_vs_unchained(model, feed, threads)
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)
