"""Kernels of the fused ops that the transformer passes emit: com.microsoft Gelu, FastGelu,
BiasGelu and SkipLayerNormalization against ONNX Runtime (which implements them), and
ai.fastinfer MatMulBias / LayerNormalization against numpy."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import ODD_SIZES, assert_close, check_against_ort, make_model, rng, run_fastinfer
from scipy.special import erf

MS = "com.microsoft"
FI = "ai.fastinfer"


def _x(shape, seed=0, scale=3.0):
    return (scale * rng(seed).standard_normal(shape)).astype(np.float32)


@pytest.mark.parametrize("n", ODD_SIZES)
@pytest.mark.parametrize("op", ["Gelu", "FastGelu"])
def test_gelu_against_ort(op, n):
    check_against_ort(op, {"x": _x((2, n))}, domain=MS, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("n", [1, 7, 33, 768])
@pytest.mark.parametrize("op", ["BiasGelu", "FastGelu"])
def test_bias_gelu_against_ort(op, n):
    check_against_ort(op, {"x": _x((3, 5, n), 1)}, initializers={"b": _x((n,), 2, 1.0)}, domain=MS,
                      rtol=1e-5, atol=2e-6)
    check_against_ort(op, {"x": _x((3, 5, n), 1), "b": _x((n,), 2, 1.0)}, domain=MS, rtol=1e-5, atol=2e-6,
                      threads=2)


def test_gelu_empty_and_scalar():
    check_against_ort("Gelu", {"x": np.zeros((0, 4), np.float32)}, domain=MS)
    check_against_ort("FastGelu", {"x": np.array([0.75], np.float32)}, domain=MS)
    x = np.array(0.75, np.float32)  # ORT rejects scalars; fused patterns may produce them
    m = make_model("FastGelu", {"x": x}, domain=MS)
    assert_close(run_fastinfer(m, {"x": x})[0], _ref_act(x.astype(np.float64), "GeluTanh").astype(np.float32))


def test_gelu_bad_inputs():
    m = make_model("BiasGelu", {"x": _x((2, 4)), "b": _x((3,))}, domain=MS)
    # Declared shapes that cannot broadcast: shape inference rejects the model when it is loaded
    # (as for a plain Add), naming the node.
    with pytest.raises(fastinfer.InvalidModel, match="BiasGelu.*cannot be broadcast"):
        run_fastinfer(m, {"x": _x((2, 4)), "b": _x((3,))})
    m = make_model("Gelu", {"x": _x((2, 4)).astype(np.float64)}, domain=MS)
    with pytest.raises((fastinfer.InvalidArgument, fastinfer.NotImplemented, fastinfer.InvalidModel)):
        run_fastinfer(m, {"x": _x((2, 4)).astype(np.float64)})


def _skip_ln_model(shape, skip_shape, beta=True, bias=False, outputs=("y",), eps=1e-12, const=True):
    n = shape[-1]
    params = {"gamma": 1 + 0.1 * _x((n,), 5), "beta": _x((n,), 6, 0.5), "bias": _x((n,), 7, 0.5)}
    names = ["x", "skip", "gamma", "beta" if beta else "", "bias" if bias else ""]
    while not names[-1]:
        names.pop()
    node = helper.make_node("SkipLayerNormalization", names, list(outputs), domain=MS, epsilon=eps)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
              helper.make_tensor_value_info("skip", TensorProto.FLOAT, skip_shape)]
    used = [k for k in names[2:] if k]
    inits = [numpy_helper.from_array(params[k], k) for k in used] if const else []
    if not const:
        inputs += [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n]) for k in used]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs if o]
    g = helper.make_graph([node], "skip_ln", inputs, outs, inits)
    feeds = {"x": _x(shape, 1), "skip": _x(skip_shape, 2)}
    if not const:
        feeds.update({k: params[k] for k in used})
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                             ir_version=8), feeds


def _ort(model, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("n", [1, 3, 17, 768])
@pytest.mark.parametrize("beta,bias", [(True, False), (True, True), (False, True), (False, False)])
def test_skip_layernorm_against_ort(n, beta, bias):
    model, feeds = _skip_ln_model([2, 3, n], [2, 3, n], beta=beta, bias=bias, outputs=("y", "", "", "sum"))
    for threads in (1, 2):
        ours = run_fastinfer(model, feeds, threads)
        ref = _ort(model, feeds)
        for a, b in zip(ours, ref):
            assert_close(a, b, rtol=1e-5, atol=1e-5, what="SkipLayerNormalization")


def test_skip_layernorm_broadcast_skip_and_runtime_params():
    model, feeds = _skip_ln_model([2, 5, 33], [5, 33], bias=True, eps=1e-5, const=False)
    assert_close(run_fastinfer(model, feeds)[0], _ort(model, feeds)[0], rtol=1e-5, atol=1e-5)


def test_skip_layernorm_mean_and_inv_std():
    model, feeds = _skip_ln_model([2, 3, 17], [2, 3, 17], outputs=("y", "mean", "inv", "sum"))
    ours = run_fastinfer(model, feeds)
    s = (feeds["x"] + feeds["skip"]).astype(np.float64)
    assert_close(ours[1], s.mean(-1, keepdims=True).astype(np.float32), rtol=1e-5, atol=1e-5)
    inv = 1 / np.sqrt(s.var(-1, keepdims=True) + 1e-12)
    assert_close(ours[2], inv.astype(np.float32), rtol=1e-4, atol=1e-5)
    assert_close(ours[3], (feeds["x"] + feeds["skip"]), rtol=1e-6, atol=1e-6)


def test_skip_layernorm_bad_inputs():
    model, feeds = _skip_ln_model([2, 3, 8], [2, 4, 8])
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, feeds)
    model, feeds = _skip_ln_model([2, 3, 8], [2, 3, 8], const=False)
    feeds["gamma"] = np.ones(7, np.float32)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, feeds)


def _ref_ln(x, g, b, eps):
    x = x.astype(np.float64)
    y = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * g
    return (y + b if b is not None else y).astype(np.float32)


@pytest.mark.parametrize("n", ODD_SIZES)
def test_fastinfer_layernorm(n):
    x, g, b = _x((4, n), 1), 1 + _x((n,), 2, 0.1), _x((n,), 3, 0.5)
    m = make_model("LayerNormalization", {"x": x}, {"epsilon": 1e-6}, opset=13, domain=FI,
                   initializers={"g": g, "b": b})
    assert_close(run_fastinfer(m, {"x": x}, threads=2)[0], _ref_ln(x, g, b, 1e-6), rtol=1e-5, atol=1e-5)
    m = make_model("LayerNormalization", {"x": x}, {"axis": 0}, opset=13, domain=FI, initializers={"g": g})
    if n > 1:
        with pytest.raises(fastinfer.InvalidArgument):
            run_fastinfer(m, {"x": x})


def _ref_act(y, act):
    if act == "Relu":
        return np.maximum(y, 0)
    if act == "Sigmoid":
        return 1 / (1 + np.exp(-y))
    if act == "Tanh":
        return np.tanh(y)
    if act == "GeluErf":
        return 0.5 * y * (1 + erf(y / np.sqrt(2)))
    if act == "GeluTanh":
        return 0.5 * y * (1 + np.tanh(np.sqrt(2 / np.pi) * (y + 0.044715 * y ** 3)))
    return y


@pytest.mark.parametrize("act", ["None", "Relu", "Sigmoid", "Tanh", "GeluErf", "GeluTanh"])
@pytest.mark.parametrize("shape,k,n", [((1,), 1, 1), ((3, 7), 7, 17), ((2, 5, 33), 33, 65), ((2, 1, 3, 64), 64, 7)])
def test_matmul_bias(act, shape, k, n):
    a = _x(shape[:-1] + (k,), 1, 1.0)
    w, b = _x((k, n), 2, 0.3), _x((n,), 3)
    ref = _ref_act(a.astype(np.float64) @ w + b, act)
    for const in (True, False):
        if const:
            m = make_model("MatMulBias", {"a": a}, {"activation": act}, domain=FI, initializers={"w": w, "b": b})
            feeds = {"a": a}
        else:
            feeds = {"a": a, "w": w, "b": b}
            m = make_model("MatMulBias", feeds, {"activation": act}, domain=FI)
        assert_close(run_fastinfer(m, feeds, threads=2)[0], ref.astype(np.float32), rtol=1e-4, atol=1e-5)


def test_matmul_bias_errors():
    a, w = _x((2, 4)), _x((5, 3))
    m = make_model("MatMulBias", {"a": a}, domain=FI, initializers={"w": w})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"a": a})
    m = make_model("MatMulBias", {"a": a}, {"activation": "Swoosh"}, domain=FI, initializers={"w": _x((4, 3))})
    with pytest.raises(fastinfer.InvalidModel):
        run_fastinfer(m, {"a": a})
    m = make_model("MatMulBias", {"a": a}, domain=FI, initializers={"w": _x((4, 3)), "b": _x((4,))})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"a": a})


def test_matmul_bias_empty_rows():
    a, w, b = np.zeros((0, 4), np.float32), _x((4, 3)), _x((3,))
    m = make_model("MatMulBias", {"a": a}, domain=FI, initializers={"w": w, "b": b})
    assert run_fastinfer(m, {"a": a})[0].shape == (0, 3)


_ISA_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import numpy as np
from test_contrib_ops import _ref_act, _ref_ln, _x
from op_helpers import assert_close, make_model, run_fastinfer

a, w, b = _x((3, 37), 1, 1.0), _x((37, 41), 2, 0.3), _x((41,), 3)
for act in ("None", "Relu", "GeluErf", "GeluTanh", "Sigmoid", "Tanh"):
    m = make_model("MatMulBias", {{"a": a}}, {{"activation": act}}, domain="ai.fastinfer",
                   initializers={{"w": w, "b": b}})
    ref = _ref_act(a.astype(np.float64) @ w + b, act).astype(np.float32)
    assert_close(run_fastinfer(m, {{"a": a}}, threads=2)[0], ref, rtol=1e-4, atol=1e-5)
for op, act in (("Gelu", "GeluErf"), ("FastGelu", "GeluTanh")):
    x = _x((5, 67), 4)
    m = make_model(op, {{"x": x}}, domain="com.microsoft")
    assert_close(run_fastinfer(m, {{"x": x}})[0], _ref_act(x.astype(np.float64), act).astype(np.float32),
                 rtol=1e-5, atol=2e-6)
x, s, g = _x((2, 3, 45), 5), _x((2, 3, 45), 6), 1 + _x((45,), 7, 0.1)
m = make_model("SkipLayerNormalization", {{"x": x, "s": s}}, domain="com.microsoft", initializers={{"g": g}})
assert_close(run_fastinfer(m, {{"x": x, "s": s}})[0], _ref_ln(x + s, g, None, 1e-12), rtol=1e-5, atol=1e-5)
print("ok")
"""


@pytest.mark.parametrize("isa", ["ref", "avx2", "avx512"])
def test_kernels_on_every_isa(isa):
    """The fused kernels (GEMM and vmath underneath) on each ISA tier, in a child process."""
    import os
    import subprocess
    import sys

    from child_env import child_env
    tests = os.path.dirname(os.path.abspath(__file__))
    env = child_env(tests)
    env["FASTINFER_ISA"] = isa
    r = subprocess.run([sys.executable, "-c", _ISA_SCRIPT.format(tests=tests)], check=False,
                       capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_layernorm_kernels_empty():
    model, _ = _skip_ln_model([0, 3, 8], [0, 3, 8], outputs=("y", "", "", "sum"))
    feeds = {"x": np.zeros((0, 3, 8), np.float32), "skip": np.zeros((0, 3, 8), np.float32)}
    y, s = run_fastinfer(model, feeds)
    assert y.shape == (0, 3, 8) and s.shape == (0, 3, 8)
    x = np.zeros((2, 0), np.float32)
    m = make_model("LayerNormalization", {"x": x}, opset=13, domain=FI, initializers={"g": np.ones(0, np.float32)})
    assert run_fastinfer(m, {"x": x})[0].shape == (2, 0)
