"""Conv's Winograd path through the model: against onnxruntime (plain, grouped, batched, with the
fused residual Add and Relu/Clip), the switch (session config entry "conv.winograd" and the
FASTINFER_WINOGRAD environment variable) and its validation."""

from __future__ import annotations

import os
import subprocess
import sys

import fastinfer
import numpy as np
import onnx
import pytest
from child_env import child_env
from onnx import helper, numpy_helper
from op_helpers import make_model, run_ort

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def conv_inputs(n, c, m, h, w, groups=1, seed=0):
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((n, c, h, w)), 0).astype(np.float32)
    wt = (rng.standard_normal((m, c // groups, 3, 3)) * np.sqrt(2.0 / (9 * c // groups))).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    return x, wt, b


def run(model, feeds, config=None, threads=1):
    return fastinfer.Session(model.SerializeToString(), threads=threads, config=config).run(None, feeds)[0]


def close(ours, ref, what=""):
    ref = np.asarray(ref, np.float64)
    err = np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30)
    assert ours.shape == ref.shape and err <= 1e-5, f"{what}: relative L2 error {err}"
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(ref).max()), err_msg=what)


# (N, C, M, H, W, pads, groups)
CASES = [
    (1, 32, 32, 28, 28, [1, 1, 1, 1], 1),
    (2, 16, 24, 17, 13, [1, 1, 1, 1], 1),
    (1, 48, 32, 9, 7, [0, 1, 2, 0], 2),
    (3, 8, 8, 5, 7, [2, 2, 2, 2], 1),
    (1, 6, 9, 1, 1, [1, 1, 1, 1], 3),
    (1, 4, 4, 3, 3, [0, 0, 0, 0], 1),
]


@pytest.mark.parametrize("mode", ["1", "2", "4", "6"])  # "2": F(2,3) channels-last, F(4,3) for NCHW Convs
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"p{c[5]}g{c[6]}")
def test_conv_vs_ort(case, threads, mode):
    n, c, m, h, w, pads, groups = case
    x, wt, b = conv_inputs(n, c, m, h, w, groups, seed=c + h)
    model = make_model("Conv", {"X": x}, {"pads": pads, "group": groups, "kernel_shape": [3, 3]},
                       initializers={"W": wt, "B": b})
    close(run(model, {"X": x}, {"conv.winograd": mode}, threads), run_ort(model, {"X": x})[0], f"mode {mode}")


def residual_relu_model(x, wt, b, clip=False):
    """Conv -> Add(skip) -> Relu (or Clip 0..6): the passes fuse the Add and the activation into Conv."""
    nodes = [helper.make_node("Conv", ["X", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "S"], ["a"])]
    inits = [numpy_helper.from_array(wt, "W"), numpy_helper.from_array(b, "B")]
    if clip:
        inits += [numpy_helper.from_array(np.float32(0), "lo"), numpy_helper.from_array(np.float32(6), "hi")]
        nodes.append(helper.make_node("Clip", ["a", "lo", "hi"], ["Y"]))
    else:
        nodes.append(helper.make_node("Relu", ["a"], ["Y"]))
    m = wt.shape[0]
    ys = [x.shape[0], m, x.shape[2], x.shape[3]]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, x.shape),
                                           helper.make_tensor_value_info("S", onnx.TensorProto.FLOAT, ys)],
                              [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, ys)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("mode", ["4", "6"])
def test_fused_residual_and_clamp_vs_ort(clip, mode):
    x, wt, b = conv_inputs(2, 16, 16, 13, 11, seed=3)
    s = np.random.default_rng(4).standard_normal((2, 16, 13, 11)).astype(np.float32) * 3
    model = residual_relu_model(x, wt, b, clip)
    feeds = {"X": x, "S": s}
    ours = run(model, feeds, {"conv.winograd": mode}, threads=2)
    close(ours, run_ort(model, feeds)[0], f"clip={clip} mode {mode}")
    assert ours.min() >= 0 and (not clip or ours.max() <= 6)


def direct_result(model_w_input, x, wt):
    """The im2col path's output: W fed at run time never takes the Winograd path."""
    return run(model_w_input, {"X": x, "W": wt})


def test_config_off_gives_direct_result():
    x, wt, _ = conv_inputs(1, 32, 32, 20, 20, seed=7)
    attrs = {"pads": [1, 1, 1, 1]}
    const_model = make_model("Conv", {"X": x}, attrs, initializers={"W": wt})
    input_model = make_model("Conv", {"X": x, "W": wt}, attrs)
    direct = direct_result(input_model, x, wt)
    off = run(const_model, {"X": x}, {"conv.winograd": "0"})
    on = run(const_model, {"X": x}, {"conv.winograd": "4"})
    np.testing.assert_array_equal(off, direct)
    assert not np.array_equal(on, direct)  # Winograd rounds differently: the switch did something
    close(on, direct.astype(np.float64))
    so = fastinfer.SessionOptions()
    so.add_session_config_entry("conv.winograd", "0")
    sess = fastinfer.InferenceSession(const_model.SerializeToString(), so)
    np.testing.assert_array_equal(sess.run(None, {"X": x})[0], direct)


CHILD = """
import sys
import numpy as np
import fastinfer
from test_conv_winograd import conv_inputs, direct_result, run
from op_helpers import make_model
x, wt, b = conv_inputs(1, 32, 32, 20, 20, seed=7)
const_model = make_model("Conv", {"X": x}, {"pads": [1, 1, 1, 1]}, initializers={"W": wt})
direct = direct_result(make_model("Conv", {"X": x, "W": wt}, {"pads": [1, 1, 1, 1]}), x, wt)
print(int(np.array_equal(run(const_model, {"X": x}), direct)),
      int(np.array_equal(run(const_model, {"X": x}, {"conv.winograd": "4"}), direct)))
"""


@pytest.mark.parametrize("env,want", [("0", "1 0"), ("4", "0 0")])
def test_env_switch(env, want):
    """FASTINFER_WINOGRAD=0 gives the direct result; a session config entry overrides the variable."""
    e = child_env(os.path.dirname(os.path.abspath(__file__)), TESTS)
    e["FASTINFER_WINOGRAD"] = env
    r = subprocess.run([sys.executable, "-c", CHILD], env=e, capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split()[-2:] == want.split()


def test_bad_switch_value():
    x, wt, _ = conv_inputs(1, 4, 4, 5, 5)
    model = make_model("Conv", {"X": x}, {"pads": [1, 1, 1, 1]}, initializers={"W": wt})
    with pytest.raises(fastinfer.InvalidArgument):
        fastinfer.Session(model.SerializeToString(), config={"conv.winograd": "yes"})
    with pytest.raises(fastinfer.InvalidArgument):
        fastinfer.Session(model.SerializeToString(), config={"conv.winograd": 0})


def test_not_taken_for_other_convs():
    """Stride 2, dilation 2, 5x5 and depthwise convs keep their paths (forced mode, same result as ORT)."""
    x, _, _ = conv_inputs(1, 8, 8, 15, 15)
    rng = np.random.default_rng(1)
    for attrs, wshape in [({"strides": [2, 2], "pads": [1, 1, 1, 1]}, (8, 8, 3, 3)),
                          ({"dilations": [2, 2], "pads": [2, 2, 2, 2]}, (8, 8, 3, 3)),
                          ({"pads": [2, 2, 2, 2]}, (8, 8, 5, 5)),
                          ({"group": 8, "pads": [1, 1, 1, 1]}, (8, 1, 3, 3))]:
        wt = rng.standard_normal(wshape).astype(np.float32)
        model = make_model("Conv", {"X": x}, attrs, initializers={"W": wt})
        close(run(model, {"X": x}, {"conv.winograd": "6"}), run_ort(model, {"X": x})[0], str(attrs))


@pytest.mark.parametrize("threads", [1, 2])
def test_auto_rule(threads):
    """Default mode: Winograd from 16 tiles per thread (same bits as forced F(4,3)), the im2col
    path below (same bits as off)."""
    for hw, n, want in [(28, 1, "4"), (7, 1, "0"), (14, 1, "4" if threads == 1 else "0"), (7, 8, "4")]:
        x, wt, b = conv_inputs(n, 32, 32, hw, hw, seed=hw)
        model = make_model("Conv", {"X": x}, {"pads": [1, 1, 1, 1]}, initializers={"W": wt, "B": b})
        auto = run(model, {"X": x}, {"conv.winograd": "1"}, threads)
        np.testing.assert_array_equal(auto, run(model, {"X": x}, {"conv.winograd": want}, threads),
                                      err_msg=f"{hw}x{hw} batch {n}")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 3e38])
def test_non_finite_input_keeps_direct_semantics(bad):
    """A NaN/Inf/huge input value reaches only its 3x3 neighbourhood, as in direct convolution:
    such inputs take the direct path (the transforms would spread it over whole tiles)."""
    x, wt, b = conv_inputs(1, 16, 16, 20, 20, seed=5)
    x[0, 3, 9, 9] = bad
    model = make_model("Conv", {"X": x}, {"pads": [1, 1, 1, 1]}, initializers={"W": wt, "B": b})
    ours = run(model, {"X": x}, {"conv.winograd": "4"})
    ref = run_ort(model, {"X": x})[0]
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=1e-4, atol=1e-3)


def test_non_finite_weights_keep_direct_path():
    x, wt, _ = conv_inputs(1, 16, 16, 20, 20, seed=6)
    wt[2, 1, 1, 1] = np.inf
    model = make_model("Conv", {"X": x}, {"pads": [1, 1, 1, 1]}, initializers={"W": wt})
    ours = run(model, {"X": x}, {"conv.winograd": "4"})
    np.testing.assert_array_equal(ours, run(model, {"X": x}, {"conv.winograd": "0"}))
