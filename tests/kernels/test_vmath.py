"""The vectorised fp32 math of kernels/vmath.h on every ISA tier this CPU has: each function
against a float64 reference (numpy / math.erf) with ulp bounds over a dense sweep, denormals,
+-inf, NaN and huge values; every tail length 0..65, misaligned starts and in place; softmax and
norm rows; and one child process per FASTINFER_ISA value."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from child_env import child_env
from fastinfer import _core

K = _core.kernels
TIERS = ["ref", "avx2", "avx512"]
START_TIER = _core.cpu_info()["isa"]  # restored after each tier change


@pytest.fixture(params=TIERS)
def tier(request):
    """Runs the test with the ISA capped at one tier (skipped when the CPU lacks it)."""
    got = _core.set_isa(request.param)
    try:
        if got != request.param:
            pytest.skip(f"CPU has no {request.param}")
        yield request.param
    finally:
        _core.set_isa(START_TIER)


def f32_range(lo: float, hi: float, step: int) -> np.ndarray:
    """Every step-th float32 in [lo, hi] (lo, hi finite, same sign or zero-straddling)."""
    def key(v):  # monotone int ordering of floats
        b = np.array([v], np.float32).view(np.int32)[0]
        return int(b) if b >= 0 else -(int(b) & 0x7FFFFFFF)
    k = np.arange(key(lo), key(hi) + 1, step, dtype=np.int64)
    bits = np.where(k >= 0, k, (-k) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, -1e-40, 1.1754944e-38,
                    3.4028235e38, -3.4028235e38, 1e30, -1e30, 88.72283, 88.72284, 89.0, -87.33654, -103.97,
                    -104.0, -150.0, 1e-8, -1e-8, 0.5, -0.5, 3.925, -3.925, 10.0, -10.0], np.float32)

_erf = np.frompyfunc(math.erf, 1, 1)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def ref_exp(x):
    """exp in float64 (inf above float range, as float32 rounding gives)."""
    with np.errstate(over="ignore"):
        return np.exp(x.astype(np.float64))


def ref_expm1(x):
    """exp(x) - 1 in float64."""
    with np.errstate(over="ignore"):
        return np.expm1(x.astype(np.float64))


def ref_sigmoid(x):
    """1 / (1 + exp(-x)) in float64 without overflow warnings."""
    d = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(d >= 0, 1 / (1 + np.exp(-d)), np.exp(d) / (1 + np.exp(d)))


def ref_tanh(x):
    """tanh in float64."""
    return np.tanh(x.astype(np.float64))


def ref_erf(x):
    """math.erf per element."""
    return _erf(x.astype(np.float64)).astype(np.float64)


def ref_log(x):
    """log in float64 (NaN below 0, -inf at 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x.astype(np.float64))


def ref_softplus(x):
    """log(1 + exp(x)) in float64."""
    d = x.astype(np.float64)
    return np.maximum(d, 0) + np.log1p(np.exp(-np.abs(d)))


# name: (reference, sweep range, max ulp)
FUNCS = {
    "exp": (ref_exp, (-104.0, 89.0), 1.5),
    "expm1": (ref_expm1, (-30.0, 89.0), 2.0),
    "sigmoid": (ref_sigmoid, (-110.0, 30.0), 2.5),
    "tanh": (ref_tanh, (-12.0, 12.0), 3.0),
    "erf": (ref_erf, (-6.0, 6.0), 3.0),
    "log": (ref_log, (0.0, 1e4), 1.5),
    "softplus": (ref_softplus, (-110.0, 100.0), 2.5),
}


def ulp_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in units of the last place of float32(ref) (the smallest denormal near 0); 0 where
    both are equal, both NaN or both the same infinity."""
    with np.errstate(over="ignore", invalid="ignore"):
        r32 = ref.astype(np.float32)
        u = np.maximum(np.spacing(np.abs(r32)).astype(np.float64), 2.0 ** -149)
        e = np.abs(got.astype(np.float64) - ref) / u
    same = (got == r32) | (np.isnan(got) & np.isnan(ref))
    return np.where(same, 0.0, np.where(np.isnan(e), np.inf, e))


_SWEEPS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def sweep(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, float64 reference) for a function: a dense float32 sweep of its range, small values
    down to the denormals, and the special values; computed once."""
    if name not in _SWEEPS:
        f, (lo, hi), _ = FUNCS[name]
        x = np.concatenate([np.linspace(lo, hi, 300001, dtype=np.float64).astype(np.float32),
                            f32_range(-1e-3, 1e-3, 8192), f32_range(1e-38, 1e-30, 4096), SPECIAL])
        if name == "log":  # every 1021st float from the smallest denormal up, and around 1
            x = np.concatenate([x, f32_range(1e-45, 3.4e38, 1021), f32_range(0.99, 1.01, 3)])
        _SWEEPS[name] = (x, f(x))
    return _SWEEPS[name]


@pytest.mark.parametrize("name", list(FUNCS))
def test_function_ulp(tier, name):
    x, ref = sweep(name)
    got = K.vmath(name, x)
    err = ulp_error(got, ref)
    i = int(np.argmax(err))
    assert err[i] <= FUNCS[name][2], f"{name}[{tier}]: {err[i]:.2f} ulp at x={x[i]!r}: {got[i]!r} vs {ref[i]!r}"


def test_special_values(tier):
    inf, nan, tiny = np.inf, np.nan, np.float32(1e-45)
    x = np.array([inf, -inf, nan, 0.0, -0.0, 100.0, -200.0, tiny], np.float32)

    def eq(name, want):
        np.testing.assert_array_equal(K.vmath(name, x), np.array(want, np.float32), err_msg=name)

    eq("exp", [inf, 0, nan, 1, 1, inf, 0, 1])
    eq("expm1", [inf, -1, nan, 0, -0.0, inf, -1, tiny])
    eq("sigmoid", [1, 0, nan, 0.5, 0.5, 1, 0, 0.5])
    eq("tanh", [1, -1, nan, 0, -0.0, 1, -1, tiny])
    eq("erf", [1, -1, nan, 0, -0.0, 1, -1, ref_erf(x[-1:])[0]])
    eq("log", [inf, nan, nan, -inf, -inf, np.log(100.0), nan, np.log(np.float64(tiny))])
    eq("softplus", [inf, 0, nan, np.log(2.0), np.log(2.0), 100, 0, np.log(2.0)])
    assert np.signbit(K.vmath("tanh", x)[4]) and np.signbit(K.vmath("erf", x)[4])
    for act in ("silu", "gelu_erf", "gelu_tanh", "hard_swish"):
        y = K.vmath(act, np.array([inf, nan, 0.0, -200.0], np.float32))
        assert y[0] == inf and np.isnan(y[1]) and y[2] == 0 and y[3] == 0, (act, y)


def ref_act(name: str, x: np.ndarray) -> np.ndarray:
    """The fusable activations in float64."""
    d = x.astype(np.float64)
    if name == "silu":
        return d * ref_sigmoid(x)
    if name == "gelu_erf":  # 1 + erf(z) = erfc(-z), no cancellation
        return 0.5 * d * _erfc(-d / math.sqrt(2)).astype(np.float64)
    if name == "gelu_tanh":  # 1 + tanh(w) = 2 sigmoid(2 w)
        w2 = 2 * math.sqrt(2 / math.pi) * (d + 0.044715 * d ** 3)
        with np.errstate(over="ignore"):
            return d / (1 + np.exp(-w2))
    if name == "hard_swish":
        return d * np.clip(d / 6 + 0.5, 0, 1)
    if name in ("elu", "selu"):
        a, g = (1.0, 1.0) if name == "elu" else (1.67326319217681884765625, 1.05070102214813232421875)
        return g * np.where(d > 0, d, a * np.expm1(d))
    if name == "act_sigmoid":
        return ref_sigmoid(x)
    return np.tanh(d)


@pytest.mark.parametrize("name", ["silu", "gelu_erf", "gelu_tanh", "hard_swish", "act_sigmoid", "act_tanh", "elu",
                                  "selu"])
def test_activation(tier, name):
    x = np.concatenate([np.linspace(-12, 12, 100001, dtype=np.float32), f32_range(-1e-3, 1e-3, 65536)])
    got, ref = K.vmath(name, x), ref_act(name, x)
    # Far left the GELUs and SiLU are ill-conditioned (relative error ~ |x| times that of x's
    # polynomial), and GELU(erf) is 0 below x = -5.55 (|true value| < 8e-8 there).
    np.testing.assert_allclose(got, ref, rtol=4e-6, atol=8e-8)
    # ulp bound where the function is well-conditioned: the GELUs' 1 + erf/tanh cancels up to ~4x
    # near x = -1.3 (measured max 9 ulp there, abs error < 1e-7).
    err = ulp_error(got, ref)[x > -2]
    bound = 10.0 if name.startswith("gelu") else 4.0
    assert err.max() <= bound, f"{name}[{tier}]: {err.max():.2f} ulp"


@pytest.mark.parametrize("name", ["exp", "expm1", "sigmoid", "tanh", "erf", "gelu_erf", "gelu_tanh", "silu",
                                  "hard_swish", "elu", "log", "softplus", "none"])
def test_tails_offsets_inplace(tier, name):
    x = np.random.default_rng(3).uniform(-8, 8, 80).astype(np.float32)
    full = K.vmath(name, x)
    for n in range(66):
        for off in (0, 1, 3):
            if off + n > len(x):
                continue
            xs = np.ascontiguousarray(x[: off + n])
            got = K.vmath(name, xs, offset=off)
            np.testing.assert_array_equal(got[off:], full[off:off + n], err_msg=f"n={n} off={off}")
            np.testing.assert_array_equal(got[:off], xs[:off])  # nothing before the start is written
    np.testing.assert_array_equal(K.vmath(name, x, inplace=True), full)


def ref_softmax(x):
    """softmax and log-softmax of a row in float64."""
    d = x.astype(np.float64)
    e = np.exp(d - d.max())
    return e / e.sum(), d - d.max() - np.log(e.sum())


def test_softmax_rows(tier):
    g = np.random.default_rng(5)
    for n in [*range(1, 66), 127, 768, 3072]:
        x = (g.standard_normal(n) * 4).astype(np.float32)
        sm, lsm = ref_softmax(x)
        np.testing.assert_allclose(K.vmath("softmax_row", x), sm, rtol=3e-6, atol=1e-9, err_msg=f"n={n}")
        np.testing.assert_allclose(K.vmath("log_softmax_row", x), lsm, rtol=1e-5, atol=3e-6, err_msg=f"n={n}")
        np.testing.assert_allclose(K.vmath("softmax_row", x, inplace=True), sm, rtol=3e-6, atol=1e-9)
    assert K.vmath("softmax_row", np.zeros(0, np.float32)).size == 0
    # masked (-inf) entries, a NaN, large offsets
    y = K.vmath("softmax_row", np.array([-np.inf, 0.0, -np.inf, 0.0], np.float32))
    np.testing.assert_array_equal(y, [0, 0.5, 0, 0.5])
    assert np.isnan(K.vmath("softmax_row", np.array([1, np.nan, 2] * 7, np.float32))).all()
    x = np.array([1000.0, 1001.0, 1002.0], np.float32)
    np.testing.assert_allclose(K.vmath("log_softmax_row", x), ref_softmax(x)[1], rtol=1e-6)


def test_softmax_masked_rows(tier):
    g = np.random.default_rng(6)
    for n in [1, 2, 15, 16, 17, 33, 64, 65, 128, 383]:
        x = g.standard_normal(n).astype(np.float32)
        mask = np.where(g.random(n) < 0.3, -np.inf, g.standard_normal(n)).astype(np.float32)
        mask[0] = 0.0
        t = x.astype(np.float64) * 0.125 + mask
        e = np.exp(t - t.max())
        np.testing.assert_allclose(K.vmath_softmax_masked(x, mask, 0.125), e / e.sum(), rtol=3e-6, atol=1e-9)
        e = np.exp(x.astype(np.float64) * 2 - (x.astype(np.float64) * 2).max())
        np.testing.assert_allclose(K.vmath_softmax_masked(x, None, 2.0), e / e.sum(), rtol=3e-6, atol=1e-9)


def test_norm_rows(tier):
    g = np.random.default_rng(7)
    for n in [*range(1, 66), 768, 3072]:
        x = (g.standard_normal(n) * 3 + 5).astype(np.float32)
        gamma, beta = g.standard_normal(n).astype(np.float32), g.standard_normal(n).astype(np.float32)
        d = x.astype(np.float64)
        mean, var = d.mean(), d.var()
        inv = 1 / math.sqrt(var + 1e-5)
        y, m, i = K.vmath_norm(x, gamma, beta, 1e-5)
        np.testing.assert_allclose(y, (d - mean) * inv * gamma + beta, rtol=1e-4, atol=1e-5, err_msg=f"n={n}")
        assert abs(m - mean) <= 1e-5 * abs(mean) + 1e-6 and abs(i - inv) <= 1e-5 * inv
        y, _, _ = K.vmath_norm(x, gamma, None, 1e-5)
        np.testing.assert_allclose(y, (d - mean) * inv * gamma, rtol=1e-4, atol=1e-5)
        y, _, _ = K.vmath_norm(x, gamma, beta, 1e-6, rms=True)
        rms = 1 / math.sqrt((d * d).mean() + 1e-6)
        np.testing.assert_allclose(y, d * rms * gamma + beta, rtol=1e-4, atol=1e-5)


def test_tiers_agree_within_bounds():
    """The three tiers run one algorithm: their results differ by at most an ulp or two."""
    x = np.random.default_rng(9).uniform(-20, 20, 4097).astype(np.float32)
    out = {}
    for t in TIERS:
        if _core.set_isa(t) == t:
            out[t] = {n: K.vmath(n, x) for n in ("exp", "expm1", "sigmoid", "tanh", "erf")}
    _core.set_isa(START_TIER)
    for t, res in out.items():
        for n, y in res.items():
            assert ulp_error(y, out["ref"][n].astype(np.float64)).max() <= 2, (t, n)


CHILD = textwrap.dedent("""
    import numpy as np
    from fastinfer import _core
    assert _core.cpu_info()["isa"] == "{ISA}", _core.cpu_info()["isa"]
    x = np.linspace(-9, 9, 1001, dtype=np.float32)
    for n in ("exp", "sigmoid", "tanh", "erf", "gelu_erf", "softmax_row"):
        np.save(f"{OUT}/{n}.npy", _core.kernels.vmath(n, x))
""")


@pytest.mark.parametrize("isa", TIERS)
def test_child_process_per_isa(isa, tmp_path):
    """FASTINFER_ISA caps the tier at process start: the child's results equal this process's at
    that tier."""
    if _core.set_isa(isa) != isa:
        _core.set_isa(START_TIER)
        pytest.skip(f"CPU has no {isa}")
    x = np.linspace(-9, 9, 1001, dtype=np.float32)
    mine = {n: K.vmath(n, x) for n in ("exp", "sigmoid", "tanh", "erf", "gelu_erf", "softmax_row")}
    _core.set_isa(START_TIER)
    env = child_env()
    env["FASTINFER_ISA"] = isa
    code = CHILD.replace("{OUT}", str(tmp_path)).replace("{ISA}", isa)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    for n, y in mine.items():
        np.testing.assert_array_equal(np.load(os.path.join(tmp_path, f"{n}.npy")), y, err_msg=f"{isa} {n}")
