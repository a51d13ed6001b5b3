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
    # its output again with the GEMM in a last phase of its own: the NaNs stay where ORT has them.
    x = np.random.default_rng(3).standard_normal((1, 64, 20, 20)).astype(np.float32)
    x[0, :, 7, 9] = np.nan
    got, want = chained_vs_unchained(pointwise_then_3x3(64, 20), {"x": x}, threads)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert 0 < np.isnan(got).sum() < got.size // 4
    ok = ~np.isnan(want)
    assert np.linalg.norm(got[ok] - want[ok]) <= 1e-5 * np.linalg.norm(want[ok])


def winograd_mid_chain(c: int = 32, hw: int = 20, seed: int = 0) -> bytes:
    """1x1 -> 3x3 (Winograd) -> Relu -> 1x1 -> 3x3 (Winograd) -> 1x1: the nodes after each 3x3 run
    in the same chained job as its tasks and read what it wrote."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "x"
    for i, (k, relu) in enumerate([(1, False), (3, True), (1, False), (3, False), (1, False)]):
        w = (rng.standard_normal((c, c, k, k)) / np.sqrt(k * k * c)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], pads=[k // 2] * 4))
        x = f"c{i}"
        if relu:
            nodes.append(helper.make_node("Relu", [x], [x + "_r"]))
            x += "_r"
    g = helper.make_graph(nodes, "wmid", [helper.make_tensor_value_info("x", F, [1, c, hw, hw])],
                          [helper.make_tensor_value_info(x, F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf, 3e37])
def test_bad_value_in_a_winograd_conv_mid_chain(threads, bad):
    # The fallback runs inside the job, before the nodes after the conv read its output: every
    # result the same as unchained and where ORT has NaN, Inf or a number.
    x = np.random.default_rng(4).standard_normal((1, 32, 20, 20)).astype(np.float32)
    x[0, 3, 7, 9] = bad
    model = winograd_mid_chain()
    got, want = chained_vs_unchained(model, {"x": x}, threads)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    ok = np.isfinite(want)
    assert ok.sum() > got.size // 2
    g, w = got[ok].astype(np.float64), want[ok].astype(np.float64)
    assert np.linalg.norm(g - w) <= 1e-5 * np.linalg.norm(w)
    x[0, 3, 7, 9] = 0.5  # and a clean input on the same session pair
    got, want = chained_vs_unchained(model, {"x": x}, threads)
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)


def densenet_block(c0: int = 32, growth: int = 16, layers: int = 3, hw: int = 16, seed: int = 0) -> bytes:
    """DenseNet layers: Concat(all features so far) -> BatchNormalization -> Relu -> 1x1 conv ->
    BatchNormalization -> Relu -> 3x3 conv (growth channels), then a transition (BN -> Relu -> 1x1
    -> AveragePool). The pre-activation BNs stay (ai.fastinfer NhwcBatchNormalization) and the
    Concats go into their buffers in place (ConcatInto for the rest): all chained at 2+ threads."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def bn_relu(x, ch, name):
        for p, v in (("s", 1 + 0.2 * rng.standard_normal(ch)), ("b", 0.1 * rng.standard_normal(ch)),
                     ("m", 0.1 * rng.standard_normal(ch)), ("v", 0.5 + rng.random(ch))):
            inits.append(numpy_helper.from_array(v.astype(np.float32), f"{name}_{p}"))
        nodes.append(helper.make_node("BatchNormalization", [x] + [f"{name}_{p}" for p in "sbmv"], [name]))
        nodes.append(helper.make_node("Relu", [name], [name + "_r"]))
        return name + "_r"

    def conv(x, cin, cout, k, name):
        w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(k * k * cin)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, name + "_w"))
        nodes.append(helper.make_node("Conv", [x, name + "_w"], [name], pads=[k // 2] * 4))
        return name

    conv("x", 3, c0, 3, "stem")
    feats, ch = ["stem"], c0
    for i in range(layers):
        cat = feats[0]
        if len(feats) > 1:
            cat = f"cat{i}"
            nodes.append(helper.make_node("Concat", feats, [cat], axis=1))
        h = conv(bn_relu(cat, ch, f"bn{i}a"), ch, 4 * growth, 1, f"l{i}_1x1")
        feats.append(conv(bn_relu(h, 4 * growth, f"bn{i}b"), 4 * growth, growth, 3, f"l{i}_3x3"))
        ch += growth
    nodes.append(helper.make_node("Concat", feats, ["cat_all"], axis=1))
    t = conv(bn_relu("cat_all", ch, "bnt"), ch, ch // 2, 1, "trans")
    nodes.append(helper.make_node("AveragePool", [t], ["y"], kernel_shape=[2, 2], strides=[2, 2]))
    g = helper.make_graph(nodes, "dense", [helper.make_tensor_value_info("x", F, ["N", 3, hw, hw])],
                          [helper.make_tensor_value_info("y", F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("hw", [8, 32])
def test_chained_densenet_layers(threads, batch, hw):
    model = densenet_block(hw=hw)
    ops = [n["op_type"] for n in fastinfer.Session(model, threads=threads)._describe_nodes()]
    assert "NhwcBatchNormalization" in ops and ("ConcatInto" in ops or "Concat" in ops), ops
    x = np.random.default_rng(batch).standard_normal((batch, 3, hw, hw)).astype(np.float32)
    got, want = chained_vs_unchained(model, {"x": x}, threads)
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)


def c2f_block(c: int = 32, hw: int = 40, constant_split: bool = True, seed: int = 0) -> bytes:
    """YOLOv8's C2f: 1x1 conv -> Split in two -> a bottleneck (3x3 -> SiLU -> 3x3 -> SiLU -> Add of
    its input) on the second half -> Concat of the halves and the bottleneck -> 1x1 conv. The
    split sizes are a constant, or a graph input (then Split is not chained)."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def conv_silu(x, cin, cout, k, name):
        w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(k * k * cin)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, name + "_w"))
        nodes.append(helper.make_node("Conv", [x, name + "_w"], [name], pads=[k // 2] * 4))
        nodes.append(helper.make_node("Sigmoid", [name], [name + "_s"]))
        nodes.append(helper.make_node("Mul", [name, name + "_s"], [name + "_silu"]))
        return name + "_silu"

    h = conv_silu("x", 3, c, 1, "cv1")
    inputs = [helper.make_tensor_value_info("x", F, [1, 3, hw, hw])]
    if constant_split:
        inits.append(numpy_helper.from_array(np.array([c // 2, c // 2], np.int64), "sizes"))
    else:
        inputs.append(helper.make_tensor_value_info("sizes", TensorProto.INT64, [2]))
    nodes.append(helper.make_node("Split", [h, "sizes"], ["a", "b"], axis=1))
    m = conv_silu(conv_silu("b", c // 2, c // 2, 3, "m1"), c // 2, c // 2, 3, "m2")
    nodes.append(helper.make_node("Add", ["b", m], ["res"]))
    nodes.append(helper.make_node("Concat", ["a", "b", "res"], ["cat"], axis=1))
    y = conv_silu("cat", 3 * c // 2, c, 1, "cv2")
    g = helper.make_graph(nodes, "c2f", inputs, [helper.make_tensor_value_info(y, F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("constant_split", [True, False])
@pytest.mark.parametrize("hw", [6, 40])
def test_chained_split_add_concat(threads, constant_split, hw):
    model = c2f_block(hw=hw, constant_split=constant_split)
    ops = [n["op_type"] for n in fastinfer.Session(model, threads=threads)._describe_nodes()]
    assert "Split" in ops and "Add" in ops, ops
    feed = {"x": np.random.default_rng(hw).standard_normal((1, 3, hw, hw)).astype(np.float32)}
    if not constant_split:
        feed["sizes"] = np.array([16, 16], np.int64)
    got, want = chained_vs_unchained(model, feed, threads)
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)


def strided_convs(c: int = 32, hw: int = 80, seed: int = 0) -> bytes:
    """3x3 stride-2 convs (implicit GEMM: padding taps point at zeros in the scratch), each
    smaller than the one before, so each node's scratch lies over the one before it (chained)."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "x"
    for i in range(3):
        w = (rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
        b = (rng.standard_normal(c) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"s{i}"], pads=[1] * 4, strides=[2, 2]))
        x = f"s{i}"
    g = helper.make_graph(nodes, "s2", [helper.make_tensor_value_info("x", F, [1, c, hw, hw])],
                          [helper.make_tensor_value_info(x, F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("threads", [2, 3])
def test_chained_convs_share_their_scratch(threads):
    # Each queued node's scratch starts where the one before it started: a node may write it only
    # in its tasks (the implicit GEMM's zeros for the padding taps included).
    x = (np.random.default_rng(9).standard_normal((1, 32, 80, 80)) + 3).astype(np.float32)
    got, want = chained_vs_unchained(strided_convs(), {"x": x}, threads)
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)


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


def concat_into_model(hw: int) -> bytes:
    """An ai.fastinfer ConcatInto over a buffer the graph also returns (so its output cannot take
    the buffer's memory and copies it first), between two 1x1 convs channels-last."""
    rng = np.random.default_rng(hw)
    w = (rng.standard_normal((16, 16, 1, 1)) / 4).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Transpose", ["c"], ["c_nhwc"], perm=[0, 2, 3, 1]),
             helper.make_node("Transpose", ["b"], ["b_copy"], perm=[0, 1, 2, 3]),
             helper.make_node("ConcatInto", ["b_copy", "c_nhwc"], ["y"], domain="ai.fastinfer", axis=3,
                              offsets=[8])]
    g = helper.make_graph(nodes, "ci", [helper.make_tensor_value_info("x", F, [1, 16, hw, hw]),
                                        helper.make_tensor_value_info("b", F, [1, hw, hw, 32])],
                          [helper.make_tensor_value_info("y", F, None), helper.make_tensor_value_info("b_copy", F, None)],
                          [numpy_helper.from_array(w, "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.fastinfer", 1)],
                             ir_version=8).SerializeToString()


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("hw", [4, 64])
def test_chained_concat_into_copies_its_buffer_first(threads, hw):
    model = concat_into_model(hw)
    rng = np.random.default_rng(1)
    feed = {"x": rng.standard_normal((1, 16, hw, hw)).astype(np.float32),
            "b": rng.standard_normal((1, hw, hw, 32)).astype(np.float32)}
    on = fastinfer.Session(model, threads=threads, config={CHAIN: "1"})
    off = fastinfer.Session(model, threads=threads, config={CHAIN: "0"})
    c = np.einsum("nchw,mc->nhwm", feed["x"], _concat_into_weights(hw))
    want = feed["b"].copy()
    want[..., 8:24] = c
    for _ in range(3):
        y, b_copy = on.run(None, feed)
        np.testing.assert_array_equal(b_copy, feed["b"])
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(y, off.run(None, feed)[0])


def _concat_into_weights(hw: int) -> np.ndarray:
    rng = np.random.default_rng(hw)
    return ((rng.standard_normal((16, 16, 1, 1)) / 4).astype(np.float32))[:, :, 0, 0]
