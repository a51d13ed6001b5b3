"""Transformer fusion passes (csrc/graph/passes/fuse_*.cc): each pattern, in its operand orders
and as the torch exporters write it, must become its fused op (seen through the profile's op
types), and every model must match ONNX Runtime and fastinfer without passes. Near-misses (a
wrong constant, an extra reader, a non-constant parameter) must stay unfused and correct."""

from __future__ import annotations

import math

import fastinfer
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import assert_close, rng

try:
    import onnxruntime as ort
except ImportError:  # pragma: no cover
    ort = None

SHAPE = (2, 5, 16)
SQRT2 = math.sqrt(2)
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class G:
    """A tiny graph builder: x [SHAPE] in, named outputs out."""

    def __init__(self, shape=SHAPE):
        self.shape = shape
        self.nodes, self.inits, self.extra_inputs, self.feeds = [], [], [], {}
        self.feeds["x"] = (2.0 * rng(1).standard_normal(shape)).astype(np.float32)
        self.k = 0

    def const(self, value, dtype=np.float32):
        self.k += 1
        name = f"c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def input(self, name, value):
        self.extra_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
        self.feeds[name] = value.astype(np.float32)
        return name

    def op(self, op_type, *inputs, swap=False, **attrs):
        self.k += 1
        out = f"t{self.k}"
        ins = list(inputs)
        if swap:
            ins.reverse()
        self.nodes.append(helper.make_node(op_type, ins, [out], **attrs))
        return out

    def model(self, outputs, opset=17):
        g = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)]
                              + self.extra_inputs, [onnx.ValueInfoProto(name=o) for o in outputs], self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def fused_ops(model_bytes, feeds):
    """(op types fastinfer runs after its passes, outputs)."""
    s = fastinfer.Session(model_bytes, profile=True)
    out = s.run(None, feeds)
    return {t.op_type for t in s.profile_summary()}, out


def check(model, feeds, present=(), absent=(), tol=1e-5):
    """Runs model with and without passes and with ORT; asserts outputs agree and op types."""
    b = model.SerializeToString()
    ops, ours = fused_ops(b, feeds)
    plain = fastinfer.Session(b, optimize=False).run(None, feeds)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    ref = ort.InferenceSession(b, so, providers=["CPUExecutionProvider"]).run(None, feeds)
    for a, p, r in zip(ours, plain, ref):
        assert_close(a, r, rtol=tol, atol=tol, what="fused vs ORT")
        assert_close(p, r, rtol=tol, atol=tol, what="unfused vs ORT")
    for op in present:
        assert op in ops, f"{op} missing from {sorted(ops)}"
    for op in absent:
        assert op not in ops, f"{op} still in {sorted(ops)}"
    return ops


# ---------------------------------------------------------------- LayerNorm
def layernorm(g, x, square="pow", eps=1e-5, gamma=True, beta=True, swap=False, opset=17, axis=-1,
              gamma_value=None, recip=False):
    n = g.shape[-1]
    kw = {"axes": [axis]} if opset < 18 else {}
    ax = [] if opset < 18 else [g.const([axis], np.int64)]
    u = g.op("ReduceMean", x, *ax, **kw)
    d = g.op("Sub", x, u)
    sq = g.op("Pow", d, g.const(2.0)) if square == "pow" else g.op("Mul", d, d)
    v = g.op("ReduceMean", sq, *([g.const([axis], np.int64)] if opset >= 18 else []), **kw)
    if eps is not None:
        v = g.op("Add", v, g.const(eps), swap=swap)
    y = g.op("Mul", g.op("Reciprocal", g.op("Sqrt", v)), d, swap=swap) if recip else g.op("Div", d, g.op("Sqrt", v))
    if gamma:
        gv = gamma_value if gamma_value is not None else g.const(1 + 0.1 * rng(2).standard_normal(n))
        y = g.op("Mul", y, gv, swap=swap)
    if beta:
        y = g.op("Add", y, g.const(0.1 * rng(3).standard_normal(n)), swap=not swap)
    return y


@pytest.mark.parametrize("opset", [13, 17, 18])
@pytest.mark.parametrize("square,swap", [("pow", False), ("mul", True), ("pow", True)])
def test_layernorm_fuses(opset, square, swap):
    g = G()
    y = layernorm(g, "x", square=square, swap=swap, opset=opset)
    check(g.model([y], opset), g.feeds, present=["LayerNormalization"], absent=["ReduceMean", "Sqrt", "Pow"])


@pytest.mark.parametrize("gamma,beta,eps", [(False, False, 1e-12), (True, False, None), (False, True, 1e-5)])
def test_layernorm_optional_parts(gamma, beta, eps):
    g = G()
    y = layernorm(g, "x", gamma=gamma, beta=beta, eps=eps, opset=18)
    check(g.model([y], 18), g.feeds, present=["LayerNormalization"], absent=["ReduceMean", "Sqrt", "Div"])


@pytest.mark.parametrize("swap", [False, True])
def test_layernorm_reciprocal_form(swap):
    g = G()
    y = layernorm(g, "x", opset=18, recip=True, swap=swap)
    check(g.model([y], 18), g.feeds, present=["LayerNormalization"], absent=["ReduceMean", "Reciprocal", "Mul"])


def test_layernorm_positive_axis():
    g = G()
    y = layernorm(g, "x", axis=2, opset=18)
    check(g.model([y], 18), g.feeds, present=["LayerNormalization"], absent=["ReduceMean"])


def test_layernorm_near_misses_stay():
    g = G()
    y = layernorm(g, "x", axis=1, opset=18)  # not the last axis
    check(g.model([y], 18), g.feeds, absent=["LayerNormalization"])
    g = G()
    x = "x"
    u = g.op("ReduceMean", x, g.const([-1], np.int64))
    d = g.op("Sub", x, u)
    v = g.op("ReduceMean", g.op("Pow", d, g.const(3.0)), g.const([-1], np.int64))  # wrong exponent
    y = g.op("Div", d, g.op("Sqrt", g.op("Add", v, g.const(1e-5))))
    check(g.model([y], 18), g.feeds, absent=["LayerNormalization"])


def test_layernorm_extra_reader_stays():
    g = G()
    y = layernorm(g, "x", opset=18)
    sub = next(n for n in g.nodes if n.op_type == "Sub").output[0]
    check(g.model([y, sub], 18), g.feeds, absent=["LayerNormalization"])


def test_layernorm_runtime_gamma_keeps_mul():
    g = G()
    gamma = g.input("gamma", 1 + 0.1 * rng(4).standard_normal(SHAPE[-1]))
    y = layernorm(g, "x", gamma_value=gamma, opset=18)
    ops = check(g.model([y], 18), g.feeds, present=["LayerNormalization", "Mul"])
    assert "ReduceMean" not in ops


# ---------------------------------------------------------------- GELU
def erf_gelu(g, x, form, swap=False, half=0.5, sqrt2=SQRT2, one=1.0, mul_inv=False):
    u = g.op("Mul", x, g.const(1 / sqrt2), swap=swap) if mul_inv else g.op("Div", x, g.const(sqrt2))
    t = g.op("Add", g.op("Erf", u), g.const(one), swap=swap)
    if form == "xt_half":
        return g.op("Mul", g.op("Mul", x, t, swap=swap), g.const(half), swap=swap)
    if form == "xhalf_t":
        return g.op("Mul", g.op("Mul", x, g.const(half), swap=swap), t, swap=not swap)
    if form == "halft_x":
        return g.op("Mul", g.op("Mul", g.const(half), t, swap=swap), x, swap=swap)
    return g.op("Div", g.op("Mul", x, t, swap=swap), g.const(1 / half))


def tanh_gelu(g, x, cube="pow", swap=False, kappa=0.044715, beta=SQRT_2_OVER_PI, form="xt_half"):
    if cube == "pow":
        c = g.op("Pow", x, g.const(3.0))
    elif cube == "x_xx":
        c = g.op("Mul", x, g.op("Mul", x, x), swap=swap)
    else:
        c = g.op("Mul", g.op("Mul", x, x), x)
    inner = g.op("Add", x, g.op("Mul", c, g.const(kappa), swap=swap), swap=swap)
    t = g.op("Add", g.op("Tanh", g.op("Mul", g.const(beta), inner, swap=swap)), g.const(1.0), swap=swap)
    if form == "xt_half":
        return g.op("Mul", g.op("Mul", x, t, swap=swap), g.const(0.5), swap=swap)
    return g.op("Mul", g.op("Mul", g.const(0.5), x, swap=swap), t, swap=swap)


@pytest.mark.parametrize("form", ["xt_half", "xhalf_t", "halft_x", "xt_div2"])
@pytest.mark.parametrize("swap,mul_inv", [(False, False), (True, False), (False, True), (True, True)])
def test_erf_gelu_fuses(form, swap, mul_inv):
    g = G()
    y = erf_gelu(g, "x", form, swap=swap, mul_inv=mul_inv)
    check(g.model([y]), g.feeds, present=["Gelu"], absent=["Erf", "Mul", "Div", "Add"])


@pytest.mark.parametrize("cube", ["pow", "x_xx", "xx_x"])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("form", ["xt_half", "halfx_t"])
def test_tanh_gelu_fuses(cube, swap, form):
    g = G()
    y = tanh_gelu(g, "x", cube=cube, swap=swap, form=form)
    check(g.model([y]), g.feeds, present=["FastGelu"], absent=["Tanh", "Mul", "Pow", "Add"])


@pytest.mark.parametrize("bad", [{"half": 0.6}, {"sqrt2": 1.5}, {"one": 2.0}])
def test_erf_gelu_wrong_constant_stays(bad):
    g = G()
    y = erf_gelu(g, "x", "xt_half", **bad)
    check(g.model([y]), g.feeds, present=["Erf"], absent=["Gelu"])


@pytest.mark.parametrize("bad", [{"kappa": 0.044}, {"beta": 0.8}])
def test_tanh_gelu_wrong_constant_stays(bad):
    g = G()
    y = tanh_gelu(g, "x", **bad)
    check(g.model([y]), g.feeds, present=["Tanh"], absent=["FastGelu"])


def test_gelu_extra_reader_stays():
    g = G()
    y = erf_gelu(g, "x", "xt_half")
    erf_out = next(n for n in g.nodes if n.op_type == "Erf").output[0]
    check(g.model([y, erf_out]), g.feeds, present=["Erf"], absent=["Gelu"])


@pytest.mark.parametrize("kind", ["erf", "tanh", "onnx_none", "onnx_tanh"])
def test_bias_gelu_fuses(kind):
    g = G()
    z = g.op("Add", g.const(rng(5).standard_normal(SHAPE[-1])), "x")
    if kind == "erf":
        y, want = erf_gelu(g, z, "xhalf_t"), "BiasGelu"
    elif kind == "tanh":
        y, want = tanh_gelu(g, z), "FastGelu"
    else:
        y = g.op("Gelu", z, approximate=kind[5:])
        want = "BiasGelu" if kind == "onnx_none" else "FastGelu"
    check(g.model([y], 20), g.feeds, present=[want], absent=["Add", "Erf", "Tanh"])


def test_bias_gelu_broadcast_bias_stays():
    g = G()
    z = g.op("Add", g.const(rng(5).standard_normal((5, 1))), "x")  # not over the last dimension
    y = erf_gelu(g, z, "xt_half")
    check(g.model([y]), g.feeds, present=["Gelu", "Add"], absent=["BiasGelu"])


# ---------------------------------------------------------------- MatMul + bias
@pytest.mark.parametrize("act", [None, "Relu", "Sigmoid", "Tanh", "gelu_erf", "gelu_tanh", "onnx_gelu"])
@pytest.mark.parametrize("swap", [False, True])
def test_matmul_bias_fuses(act, swap):
    g = G()
    n = 24
    y = g.op("Add", g.op("MatMul", "x", g.const(0.3 * rng(6).standard_normal((SHAPE[-1], n)))),
             g.const(rng(7).standard_normal(n)), swap=swap)
    if act == "gelu_erf":
        y = erf_gelu(g, y, "xt_half")
    elif act == "gelu_tanh":
        y = tanh_gelu(g, y)
    elif act == "onnx_gelu":
        y = g.op("Gelu", y, approximate="tanh")
    elif act:
        y = g.op(act, y)
    absent = ["MatMul", "Add", "Relu", "Sigmoid", "Tanh", "Gelu", "FastGelu", "Erf"]
    check(g.model([y], 20), g.feeds, present=["MatMulBias"], absent=absent)


@pytest.mark.parametrize("trans_b,bias_shape,act", [(0, (24,), "Sigmoid"), (1, (1, 24), "Gelu"), (1, None, "Tanh")])
def test_gemm_activation_fuses(trans_b, bias_shape, act):
    g = G(shape=(7, 16))
    w = 0.3 * rng(6).standard_normal((24, 16) if trans_b else (16, 24))
    ins = ["x", g.const(w)] + ([g.const(rng(7).standard_normal(bias_shape))] if bias_shape else [])
    y = g.op(act, g.op("Gemm", *ins, transB=trans_b))
    check(g.model([y], 20), g.feeds, present=["MatMulBias"], absent=["Gemm", act])


def test_gemm_near_misses_stay():
    g = G(shape=(7, 16))  # alpha != 1
    y = g.op("Tanh", g.op("Gemm", "x", g.const(rng(6).standard_normal((16, 24))), alpha=0.5))
    check(g.model([y]), g.feeds, present=["Gemm", "Tanh"], absent=["MatMulBias"])
    g = G(shape=(7, 16))  # full-matrix C
    y = g.op("Tanh", g.op("Gemm", "x", g.const(rng(6).standard_normal((16, 24))),
                          g.const(rng(7).standard_normal((7, 24)))))
    check(g.model([y]), g.feeds, present=["Gemm", "Tanh"], absent=["MatMulBias"])


def test_matmul_bias_row_bias_fuses():
    g = G()
    n = 8
    y = g.op("Add", g.op("MatMul", "x", g.const(rng(6).standard_normal((SHAPE[-1], n)))),
             g.const(rng(7).standard_normal((1, 1, n))))
    check(g.model([y]), g.feeds, present=["MatMulBias"], absent=["MatMul", "Add"])


def test_matmul_bias_near_misses_stay():
    n = 8
    g = G()  # bias [1, 1, 1, N]: broadcasting would raise the rank, left alone
    y = g.op("Add", g.op("MatMul", "x", g.const(rng(6).standard_normal((SHAPE[-1], n)))),
             g.const(rng(7).standard_normal((1, 1, 1, n))))
    check(g.model([y]), g.feeds, present=["MatMul", "Add"], absent=["MatMulBias"])
    g = G()  # B fed at run time
    w = g.input("w", rng(6).standard_normal((SHAPE[-1], n)))
    y = g.op("Add", g.op("MatMul", "x", w), g.const(rng(7).standard_normal(n)))
    check(g.model([y]), g.feeds, present=["MatMul"], absent=["MatMulBias"])
    g = G()  # MatMul output read twice
    mm = g.op("MatMul", "x", g.const(rng(6).standard_normal((SHAPE[-1], n))))
    y = g.op("Add", mm, g.const(rng(7).standard_normal(n)))
    check(g.model([y, mm]), g.feeds, present=["MatMul"], absent=["MatMulBias"])
    g = G()  # activation input read twice: the activation stays separate
    a = g.op("Add", g.op("MatMul", "x", g.const(rng(6).standard_normal((SHAPE[-1], n)))),
             g.const(rng(7).standard_normal(n)))
    y = g.op("Relu", a)
    check(g.model([y, a]), g.feeds, present=["MatMulBias", "Relu"], absent=["MatMul"])


# ---------------------------------------------------------------- Skip + LayerNorm
def skip_ln(g, a, b, opset=17, axis=-1, gamma=None):
    n = g.shape[-1]
    gv = gamma if gamma is not None else g.const(1 + 0.1 * rng(8).standard_normal(n))
    s = g.op("Add", a, b)
    return s, g.op("LayerNormalization", s, gv, g.const(0.1 * rng(9).standard_normal(n)), axis=axis,
                   epsilon=1e-6)


@pytest.mark.parametrize("bias_side", [None, 0, 1])
def test_skip_layernorm_fuses(bias_side):
    g = G()
    skip = g.input("skip", rng(10).standard_normal(SHAPE))
    a, b = "x", skip
    if bias_side is not None:
        biased = g.op("Add", g.op("Relu", "x"), g.const(rng(11).standard_normal(SHAPE[-1])))
        a, b = (biased, skip) if bias_side == 0 else (skip, biased)
    _, y = skip_ln(g, a, b)
    ops = check(g.model([y]), g.feeds, present=["SkipLayerNormalization"], absent=["LayerNormalization", "Add"])
    assert "Relu" in ops or bias_side is None


def test_skip_layernorm_sum_output():
    g = G()
    skip = g.input("skip", rng(10).standard_normal(SHAPE))
    s, y = skip_ln(g, "x", skip)
    z = g.op("Mul", s, g.const(2.0))
    check(g.model([y, z, s]), g.feeds, present=["SkipLayerNormalization"], absent=["LayerNormalization", "Add"])


def test_skip_layernorm_near_misses_stay():
    g = G()  # broadcast skip
    skip = g.input("skip", rng(10).standard_normal(SHAPE[1:]))
    _, y = skip_ln(g, "x", skip)
    check(g.model([y]), g.feeds, present=["LayerNormalization"], absent=["SkipLayerNormalization"])
    g = G()  # not the last axis
    skip = g.input("skip", rng(10).standard_normal(SHAPE))
    _, y = skip_ln(g, "x", skip, axis=1)
    check(g.model([y]), g.feeds, present=["LayerNormalization"], absent=["SkipLayerNormalization"])
    g = G()  # gamma fed at run time
    skip = g.input("skip", rng(10).standard_normal(SHAPE))
    gamma = g.input("gamma", rng(11).standard_normal(SHAPE[-1]))
    _, y = skip_ln(g, "x", skip, gamma=gamma)
    check(g.model([y]), g.feeds, present=["LayerNormalization"], absent=["SkipLayerNormalization"])


@pytest.mark.parametrize("mean_is_output", [False, True])
def test_skip_layernorm_with_declared_stat_outputs(mean_is_output):
    g = G()
    skip = g.input("skip", rng(10).standard_normal(SHAPE))
    s = g.op("Add", "x", skip)
    n = SHAPE[-1]
    g.nodes.append(helper.make_node("LayerNormalization", [s, g.const(np.ones(n)), g.const(np.zeros(n))],
                                    ["y", "mean", "inv"], epsilon=1e-6))
    outs = ["y", "mean"] if mean_is_output else ["y"]
    want, gone = ("LayerNormalization", "SkipLayerNormalization") if mean_is_output else \
        ("SkipLayerNormalization", "LayerNormalization")
    check(g.model(outs), g.feeds, present=[want], absent=[gone])


def test_fused_layernorm_then_skip_at_old_opset():
    g = G()
    skip = g.input("skip", rng(10).standard_normal(SHAPE))
    y = layernorm(g, g.op("Add", "x", skip), opset=13)
    check(g.model([y], 13), g.feeds, present=["SkipLayerNormalization"], absent=["ReduceMean", "Add"])
