"""NhwcConv's Winograd F(4,3) and F(2,3) paths (3x3, stride 1, group 1): forced on ("4", "2") against forced off ("0")
and onnxruntime's Conv on odd spatial sizes, pads 0/1/2 and asymmetric, odd channel counts, batch
1/2, bias, residual and clamp, 1 and 2 threads, every FASTINFER_ISA tier in a child process; and the
relative L2 error against a float64 direct conv on realistic layers (He weights, post-ReLU inputs)."""

from __future__ import annotations

import os
import sys

import fastinfer
from fastinfer import _core
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from child_env import assert_runs_at_isa
from op_helpers import run_ort

DOM = "ai.fastinfer"
OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid(DOM, 1)]

# (N, C, H, W, M, pads (t, l, b, r), bias, clamp, residual)
CASES = [
    (1, 1, 1, 1, 1, (1, 1, 1, 1), True, None, False),
    (1, 3, 3, 3, 16, (0, 0, 0, 0), True, None, False),
    (2, 16, 5, 7, 17, (1, 1, 1, 1), True, (0.0, np.inf), True),
    (1, 17, 17, 13, 3, (2, 2, 2, 2), False, None, False),
    (2, 64, 30, 29, 64, (1, 1, 1, 1), True, (0.0, 6.0), True),
    (1, 17, 30, 29, 16, (0, 2, 1, 0), True, None, True),
    (1, 3, 17, 13, 1, (2, 0, 0, 1), False, (-0.5, 0.5), False),
    (2, 1, 5, 7, 64, (0, 0, 0, 0), True, None, False),
]


def _nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _model(x_shape, w, b, pads, clamp, res, compact=False, planned=None):
    """A one-node NhwcConv model (X NHWC) with constant W (and B); compact: marked as the memory
    budget marks the layers it leaves out (fi.winograd = 0), which then run the compact form;
    planned: fi.winograd as the graph pass plan_winograd would set it (2: F(2,3) stored)."""
    inits = [numpy_helper.from_array(w, "w")]
    ins = ["x", "w", ""]
    if b is not None:
        inits.append(numpy_helper.from_array(b, "b"))
        ins[2] = "b"
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))]
    if res:
        ins.append("r")
        inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, None))
    attrs = {"kernel_shape": [3, 3], "pads": list(pads)}
    if compact or planned is not None:
        attrs["fi.winograd"] = 0 if compact else planned
    if clamp is not None:
        attrs["fi.clamp_min"], attrs["fi.clamp_max"] = float(clamp[0]), float(clamp[1])
    g = helper.make_graph([helper.make_node("NhwcConv", ins, ["y"], domain=DOM, **attrs)], "c", inputs,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=OPSETS, ir_version=8)


def _ort_conv(x, w, b, pads):
    """onnxruntime's NCHW Conv (float64 result)."""
    inits = [numpy_helper.from_array(w, "w")] + ([numpy_helper.from_array(b, "b")] if b is not None else [])
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if b is not None else []), ["y"], pads=list(pads))
    m = helper.make_model(helper.make_graph(
        [node], "c", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits),
        opset_imports=OPSETS[:1], ir_version=8)
    return run_ort(m, {"x": x})[0].astype(np.float64)


def case_check(case, threads):
    """Winograd forced on vs off vs onnxruntime for one case."""
    n, c, h, w_, m, pads, with_b, clamp, res = case
    r = np.random.default_rng(abs(hash(case)) % 1000)
    x = r.standard_normal((n, c, h, w_)).astype(np.float32)
    w = r.standard_normal((m, c, 3, 3)).astype(np.float32)
    b = r.standard_normal(m).astype(np.float32) if with_b else None
    ref = _ort_conv(x, w, b, pads)
    feeds = {"x": _nhwc(x)}
    if res:
        rr = r.standard_normal(ref.shape).astype(np.float32)
        ref = ref + rr
        feeds["r"] = _nhwc(rr)
    if clamp is not None:
        ref = np.clip(ref, clamp[0], clamp[1])
    outs = {}
    for mode in ("4", "4c", "2", "0"):  # F(4,3) stored and compact (taps), F(2,3) stored, im2row
        model = _model(feeds["x"].shape, w, b, pads, clamp, res, compact=mode == "4c")
        # optimize=False: the graph pass plan_winograd would set fi.winograd itself.
        s = fastinfer.Session(model, threads=threads, config={"conv.winograd": mode[0]}, optimize=False)
        outs[mode] = _nchw(s.run(None, feeds)[0])
        np.testing.assert_allclose(outs[mode], ref, rtol=1e-4, atol=1e-4 * np.sqrt(9 * c), err_msg=f"{case} {mode}")
    for mode in ("4", "4c", "2"):
        np.testing.assert_allclose(outs[mode], outs["0"], rtol=1e-4, atol=1e-4 * np.sqrt(9 * c), err_msg=str(case))
        if c >= 16:  # the paths round differently: each really ran
            assert not np.array_equal(outs[mode], outs["0"]), (case, mode)


def _direct64(x, w, pads):
    """float64 direct 3x3 conv, NCHW."""
    n = x.shape[0]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh, ow = xp.shape[2] - 2, xp.shape[3] - 2
    y = np.zeros((n, w.shape[0], oh, ow))
    for ky in range(3):
        for kx in range(3):
            y += np.einsum("nchw,mc->nmhw", xp[:, :, ky:ky + oh, kx:kx + ow], w[:, :, ky, kx].astype(np.float64))
    return y


def accuracy(c, m, hw, threads=1, compact=False, tile="4"):
    """Relative L2 error of the Winograd path (F(4,3) stored or compact, F(2,3)) against float64 on a
    realistic layer."""
    r = np.random.default_rng(c + m + hw)
    x = np.maximum(r.standard_normal((1, c, hw, hw)), 0).astype(np.float32)
    w = (r.standard_normal((m, c, 3, 3)) * np.sqrt(2.0 / (9 * c))).astype(np.float32)
    ref = _direct64(x, w, (1, 1, 1, 1))
    s = fastinfer.Session(_model((1, hw, hw, c), w, None, (1, 1, 1, 1), None, False, compact), threads=threads,
                          config={"conv.winograd": tile}, optimize=False)
    got = _nchw(s.run(None, {"x": _nhwc(x)})[0]).astype(np.float64)
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


ACCURACY = [(64, 64, 28), (128, 128, 14), (256, 256, 14)]


def run_all(threads: int) -> None:
    """Every case once (used in the child processes)."""
    for case in CASES:
        case_check(case, threads)
    for compact, tile in ((False, "4"), (True, "4"), (False, "2")):
        err = accuracy(64, 64, 28, threads, compact, tile)
        assert err < 1e-5, (err, compact, tile)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_nhwc(case, threads):
    case_check(case, threads)


@pytest.mark.parametrize(("compact", "tile"), [(False, "4"), (True, "4"), (False, "2")])
@pytest.mark.parametrize("cm", ACCURACY + [(512, 512, 7)], ids=str)
def test_accuracy(cm, compact, tile):
    err = accuracy(*cm, compact=compact, tile=tile)
    assert err < 1e-5, err


@pytest.mark.parametrize("isa", ["ref", "avx2"])
def test_every_isa_tier(isa):
    """All cases in a child process whose kernels are capped at the tier (the default tier runs above)."""
    assert_runs_at_isa(isa, "import test_winograd_nhwc as t; t.run_all(1); t.run_all(2); print('ok')",
                       os.path.dirname(os.path.abspath(__file__)))


def test_non_finite_input_and_bad_switch():
    """A NaN input takes the direct path (it reaches only its 3x3 neighbourhood); a bad switch raises."""
    r = np.random.default_rng(3)
    x = r.standard_normal((1, 16, 16, 8)).astype(np.float32)
    x[0, 5, 6, 2] = np.nan
    w = r.standard_normal((8, 8, 3, 3)).astype(np.float32)
    model = _model(x.shape, w, None, (1, 1, 1, 1), None, False)
    on, off = (fastinfer.Session(model, config={"conv.winograd": m}).run(None, {"x": x})[0] for m in "40")
    np.testing.assert_array_equal(np.isnan(on), np.isnan(off))
    assert np.isnan(on).sum() == 9 * 8
    with pytest.raises(fastinfer.InvalidArgument):
        fastinfer.Session(model, config={"conv.winograd": "5"})
    with pytest.raises(fastinfer.InvalidModel, match="fi.winograd must be 0, 1 or 2"):
        fastinfer.Session(_model(x.shape, w, None, (1, 1, 1, 1), None, False, planned=3), optimize=False)


@pytest.mark.parametrize("form", ["F4", "compact", "F2"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, 3e30])
@pytest.mark.parametrize("threads", [1, 2])
def test_bad_value_falls_back(bad, threads, form):
    """Inf, NaN or huge values anywhere in X (here in the last tile block): the result is im2row's,
    residual and clamp included: its W rebuilt from the stored F(4,3) or F(2,3) transformed weights
    (within a few ulp) or unpacked from the compact plan's taps (bit for bit)."""
    r = np.random.default_rng(5)
    x = r.standard_normal((2, 30, 29, 17)).astype(np.float32)
    x[1, 29, 28, 16] = bad
    rr = r.standard_normal((2, 30, 29, 16)).astype(np.float32)
    w = r.standard_normal((16, 17, 3, 3)).astype(np.float32)
    compact = form == "compact"
    on, off = (fastinfer.Session(_model(x.shape, w, None, (1, 1, 1, 1), (-1.0, 5.0), True, compact and m == "4",
                                        2 if form == "F2" and m == "4" else None),
                                 threads=threads, config={"conv.winograd": m}, optimize=False).run(
                                     None, {"x": x, "r": rr})[0]
               for m in "40")
    if compact:
        np.testing.assert_array_equal(on, off)
    else:
        np.testing.assert_allclose(on, off, rtol=1e-5, atol=1e-5)  # NaN and Inf where off has them


@pytest.mark.parametrize(("hw", "threads", "wino"), [(8, 1, True), (4, 1, False), (8, 2, False), (16, 2, True)])
def test_size_rule(hw, threads, wino):
    """The default switch takes Winograd from 4 output tiles per thread, else im2row (bit-exact to "0")."""
    r = np.random.default_rng(hw)
    x = r.standard_normal((1, hw, hw, 16)).astype(np.float32)
    model = _model(x.shape, r.standard_normal((16, 16, 3, 3)).astype(np.float32), None, (1, 1, 1, 1), None, False)
    out = {m: fastinfer.Session(model, threads=threads, config={"conv.winograd": m}).run(None, {"x": x})[0]
           for m in "140"}
    assert not np.array_equal(out["4"], out["0"])
    np.testing.assert_array_equal(out["1"], out["4" if wino else "0"])


@pytest.mark.parametrize(("hw", "threads", "wino"), [(6, 1, True), (4, 1, False), (6, 2, False), (8, 2, True)])
def test_size_rule_f23(hw, threads, wino):
    """A layer the budget gave F(2,3) (fi.winograd = 2) takes it from 8 of its 2x2 tiles per thread."""
    r = np.random.default_rng(hw + 1)
    x = r.standard_normal((1, hw, hw, 16)).astype(np.float32)
    w = r.standard_normal((16, 16, 3, 3)).astype(np.float32)
    out = {m: fastinfer.Session(_model(x.shape, w, None, (1, 1, 1, 1), None, False, planned=2), threads=threads,
                                config={"conv.winograd": m}, optimize=False).run(None, {"x": x})[0]
           for m in "120"}
    assert not np.array_equal(out["2"], out["0"])
    np.testing.assert_array_equal(out["1"], out["2" if wino else "0"])


def test_through_layout_pass():
    """Conv -> Relu -> Conv (+ residual Add): the layout pass makes NhwcConvs, whose Winograd path (the
    default switch) matches onnxruntime and differs in rounding from the switch off."""
    r = np.random.default_rng(11)
    c = 32
    w1 = (r.standard_normal((c, c, 3, 3)) * 0.08).astype(np.float32)
    w2 = (r.standard_normal((c, c, 3, 3)) * 0.08).astype(np.float32)
    b1 = r.standard_normal(c).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Conv", ["hr", "w2"], ["h2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["h2", "x"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, c, 21, 19])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (w2, "w2"), (b1, "b1"))])
    model = helper.make_model(g, opset_imports=OPSETS[:1], ir_version=8)
    x = r.standard_normal((2, c, 21, 19)).astype(np.float32)
    ref = run_ort(model, {"x": x})[0]
    s = fastinfer.Session(model, threads=1)
    assert sum(n["op_type"] == "NhwcConv" for n in s._describe_nodes()) == 2
    on = s.run(None, {"x": x})[0]
    off = fastinfer.Session(model, threads=1, config={"conv.winograd": "0"}).run(None, {"x": x})[0]
    np.testing.assert_allclose(on, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(off, ref, rtol=1e-4, atol=1e-4)
    assert not np.array_equal(on, off)


ACTS = {"Sigmoid": lambda v: 1 / (1 + np.exp(-v)), "Tanh": np.tanh, "Silu": lambda v: v / (1 + np.exp(-v)),
        "HardSwish": lambda v: v * np.clip(v / 6 + 0.5, 0, 1)}


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("n,c,hw,m", [(1, 32, 7, 64), (2, 5, 9, 17), (1, 16, 16, 96)])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_activation_on_the_winograd_tiles(act, n, c, hw, m, threads):
    # fi.activation is applied to each tile's outputs as they are stored, also when the output
    # channels are split over threads (few tiles): forced Winograd, im2row and ORT + numpy agree.
    r = np.random.default_rng(c * m + hw)
    x = r.standard_normal((n, c, hw, hw)).astype(np.float32)
    w = (r.standard_normal((m, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = r.standard_normal(m).astype(np.float32)
    ref = ACTS[act](_ort_conv(x, w, b, (1, 1, 1, 1)))
    model = _model((n, hw, hw, c), w, b, (1, 1, 1, 1), None, False)
    model.graph.node[0].attribute.append(helper.make_attribute("fi.activation", act))
    for mode in ("4", "0"):
        s = fastinfer.Session(model, threads=threads, config={"conv.winograd": mode})
        got = _nchw(s.run(None, {"x": _nhwc(x)})[0])
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4, err_msg=f"{act} mode {mode}")


@pytest.mark.parametrize("form", ["F4", "compact", "F2"])
@pytest.mark.parametrize("small_first", [False, True])
def test_second_form_from_the_first(form, small_first):
    """A layer keeps W only until its first call makes a form (the Winograd plan or the im2row
    packing); a call that needs the other form makes it from W rebuilt out of the first. Small
    calls (below the size rule: 1 image) run im2row, large ones (8 images) Winograd, in either
    order; the im2row results equal those of a session with Winograd off, bit for bit, except
    when rebuilt from a stored plan (a few ulp)."""
    r = np.random.default_rng(31)
    compact = form == "compact"
    # Tiles per image under the rule at 1 image, over it at 8: compact 4 (rule 32), F(4,3) 1 (rule
    # 4), F(2,3) 4 (rule 8).
    hw = 8 if compact else 4
    w = r.standard_normal((24, 16, 3, 3)).astype(np.float32)
    model = _model(("N", hw, hw, 16), w, None, (1, 1, 1, 1), None, False, compact, 2 if form == "F2" else None)
    small = r.standard_normal((1, hw, hw, 16)).astype(np.float32)
    large = r.standard_normal((8, hw, hw, 16)).astype(np.float32)
    on = fastinfer.Session(model, threads=1, config={"conv.winograd": "1"}, optimize=False)
    off = fastinfer.Session(model, threads=1, config={"conv.winograd": "0"}, optimize=False)
    for x in ([small, large, small] if small_first else [large, small, large]):
        got, want = (s.run(None, {"x": x})[0] for s in (on, off))
        if x is large:
            assert not np.array_equal(got, want)  # Winograd ran
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(9 * 16))
        elif compact or small_first:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("c,hw", [(48, 20), (64, 12), (64, 28), (16, 7)])
@pytest.mark.parametrize("threads", [2, 3, 8])
def test_every_slot_has_its_scratch(c, hw, threads):
    # A job may hold more threads than the conv has tasks (the shared input transforms, or a chained
    # job with other nodes' tasks), and any of them may run a task: each slot below the thread count
    # needs its own part of the scratch (sized for the tasks alone, a 20x20 layer on 3 threads wrote
    # past it).
    for slot in range(threads):
        same, canary = _core.testing.winograd_nhwc_slot_check(c, hw, threads, slot)
        assert same and canary, (slot, same, canary)
