"""The float32 ops that run the vectorised kernels/vmath.h functions against ONNX Runtime: the
unary activations (odd and empty shapes, extreme values, in place, two threads, every ISA tier),
Softmax/LogSoftmax over every axis and opset (row and strided paths) and LayerNormalization with
its Mean/InvStdDev outputs, plus RMSNormalization against numpy."""

from __future__ import annotations

import fastinfer
import numpy as np
import onnx
import pytest
from fastinfer import _core
from onnx import TensorProto, helper
from op_helpers import assert_close, check_against_ort, make_model, rng, run_fastinfer, run_ort

START_TIER = _core.cpu_info()["isa"]

# op: (attrs, opset, input scale). ORT computes GELU(tanh) as 0.5 x (1 + tanh), which cancels far
# left (absolute error up to ~4e-7); ours is x * sigmoid(2w), hence its wider atol below.
UNARY = {
    "Exp": ({}, 13, 20.0),
    "Log": ({}, 13, 50.0),
    "Softplus": ({}, 13, 20.0),
    "Sigmoid": ({}, 13, 20.0),
    "Tanh": ({}, 13, 10.0),
    "Erf": ({}, 13, 4.0),
    "Gelu": ({}, 20, 6.0),
    "Gelu-tanh": ({"approximate": "tanh"}, 20, 6.0),
    "HardSwish": ({}, 14, 6.0),
    "Elu": ({"alpha": 0.7}, 7, 6.0),
    "Selu": ({}, 7, 6.0),
    "Celu": ({"alpha": 1.3}, 12, 6.0),
    "Mish": ({}, 18, 10.0),
}


def atol(name: str) -> float:
    """Absolute tolerance against ORT."""
    return 1e-6 if name == "Gelu-tanh" else 2e-7


def values(shape, scale, seed=0):
    """Normal values times scale with some exact zeros and extreme entries mixed in."""
    x = (rng(seed).standard_normal(shape) * scale).astype(np.float32)
    flat = x.reshape(-1)
    extremes = np.array([0.0, -0.0, 1e-30, -1e-30, 80.0, -80.0, 1e-40], np.float32)
    flat[: min(flat.size, extremes.size)] = extremes[: flat.size]
    return x


@pytest.fixture(params=["ref", "avx2", "avx512"])
def tier(request):
    """Caps the ISA tier for the test (skipped when the CPU lacks it)."""
    got = _core.set_isa(request.param)
    try:
        if got != request.param:
            pytest.skip(f"CPU has no {request.param}")
        yield request.param
    finally:
        _core.set_isa(START_TIER)


@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 17), (2, 33, 5), (65, 127)])
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_vs_ort(tier, name, shape):
    attrs, opset, scale = UNARY[name]
    op = name.split("-")[0]
    x = values(shape, scale)
    check_against_ort(op, {"x": x}, attrs, opset=opset, rtol=2e-6, atol=atol(name))


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_two_threads_large(name):
    attrs, opset, scale = UNARY[name]
    x = values((3, 40001), scale, seed=2)
    check_against_ort(name.split("-")[0], {"x": x}, attrs, opset=opset, rtol=2e-6, atol=atol(name), threads=2)


def chain_model(op: str, attrs: dict, opset: int, shape, inits=None) -> onnx.ModelProto:
    """y = op(x + x, *inits): the op's input is an intermediate, so the executor may run it in place."""
    inits = inits or {}
    nodes = [helper.make_node("Add", ["x", "x"], ["t"]), helper.make_node(op, ["t", *inits], ["y"], **attrs)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                              [onnx.numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_in_place(name):
    attrs, opset, scale = UNARY[name]
    x = values((5, 37), scale / 2, seed=3)
    model = chain_model(name.split("-")[0], attrs, opset, x.shape)
    assert_close(run_fastinfer(model, {"x": x})[0], run_ort(model, {"x": x})[0], 2e-6, atol(name))


def test_unary_specials():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 100.0, -200.0], np.float32)
    for op, want in [("Exp", [np.inf, 0, np.nan, 1, np.inf, 0]), ("Log", [np.inf, np.nan, np.nan, -np.inf, np.log(100), np.nan]), ("Sigmoid", [1, 0, np.nan, 0.5, 1, 0]),
                     ("Tanh", [1, -1, np.nan, 0, 1, -1]), ("Erf", [1, -1, np.nan, 0, 1, -1])]:
        out = run_fastinfer(make_model(op, {"x": x}, {}, opset=13), {"x": x})[0]
        np.testing.assert_array_equal(out, np.array(want, np.float32), err_msg=op)


def test_gelu_bad_mode():
    x = np.zeros(3, np.float32)
    with pytest.raises(fastinfer.InvalidModel):
        run_fastinfer(make_model("Gelu", {"x": x}, {"approximate": "fast"}, opset=20), {"x": x})


SOFTMAX_CASES = [((7,), -1), ((3, 17), -1), ((3, 17), 0), ((2, 33, 5), 1), ((2, 33, 5), -1), ((4, 3, 2, 9), 2),
                 ((2, 5, 300), 1), ((1, 3, 520), 1), ((6, 1), 0), ((1, 4, 1), -1), ((8, 768), -1)]


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES)
@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_vs_ort(op, shape, axis, opset):
    x = (rng(1).standard_normal(shape) * 5).astype(np.float32)
    check_against_ort(op, {"x": x}, {"axis": axis}, opset=opset, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_tiers_masks_threads(tier, op):
    x = (rng(2).standard_normal((16, 129)) * 8).astype(np.float32)
    x[:, ::3] = -np.inf  # additive-mask style entries
    x[0, 5] = 1e4
    check_against_ort(op, {"x": x}, {}, opset=13, rtol=1e-5, atol=1e-6, threads=2)
    y = (rng(3).standard_normal((3, 40, 70)) * 4).astype(np.float32)
    check_against_ort(op, {"x": y}, {"axis": 1}, opset=13, rtol=1e-5, atol=1e-6, threads=2)


@pytest.mark.parametrize("op,axis", [("Softmax", -1), ("Softmax", 1), ("LogSoftmax", -1), ("LogSoftmax", 0),
                                     ("LayerNormalization", -1), ("LayerNormalization", 1)])
def test_softmax_layernorm_in_place(op, axis):
    x = (rng(12).standard_normal((6, 35, 20)) * 3).astype(np.float32)
    inits = {}
    if op == "LayerNormalization":
        inits = {"s": rng(13).standard_normal(x.shape[axis % 3:]).astype(np.float32)}
    model = chain_model(op, {"axis": axis}, 17, x.shape, inits)
    assert_close(run_fastinfer(model, {"x": x})[0], run_ort(model, {"x": x})[0], 1e-5, 1e-6)


@pytest.mark.parametrize("shape,axis", [((4, 7), -1), ((2, 3, 768), -1), ((2, 5, 6), 1), ((3, 65), 0),
                                        ((2, 3, 4, 17), -2), ((1, 33), -1)])
@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_vs_ort(tier, shape, axis, bias):
    x = (rng(4).standard_normal(shape) * 3 + 2).astype(np.float32)
    ax = axis % len(shape)
    s = rng(5).standard_normal(shape[ax:]).astype(np.float32)
    inits = {"s": s}
    if bias:
        inits["b"] = rng(6).standard_normal(shape[ax:]).astype(np.float32)
    check_against_ort("LayerNormalization", {"x": x}, {"axis": axis, "epsilon": 1e-4}, n_outputs=3, opset=17,
                      initializers=inits, rtol=1e-4, atol=1e-5)


def test_layernorm_broadcast_scale_and_threads():
    x = (rng(7).standard_normal((64, 6, 5)) * 2).astype(np.float32)
    s = rng(8).standard_normal((1, 5)).astype(np.float32)  # broadcast over the normalised [6, 5]
    b = rng(9).standard_normal((5,)).astype(np.float32)
    check_against_ort("LayerNormalization", {"x": x}, {"axis": 1}, n_outputs=3, opset=17,
                      initializers={"s": s, "b": b}, rtol=1e-4, atol=1e-5, threads=2)


def test_rmsnorm_vs_numpy(tier):
    x = (rng(10).standard_normal((5, 3, 77)) * 2).astype(np.float32)
    s = rng(11).standard_normal(77).astype(np.float32)
    model = make_model("RMSNormalization", {"x": x}, {"epsilon": 1e-5}, opset=23, initializers={"s": s})
    out = run_fastinfer(model, {"x": x})[0]
    d = x.astype(np.float64)
    ref = d / np.sqrt((d * d).mean(-1, keepdims=True) + 1e-5) * s
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
