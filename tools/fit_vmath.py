"""Fits the polynomial coefficients of csrc/kernels/cpu/vmath_impl.h (near-minimax, Lawson's
iteratively reweighted least squares in float64) and prints them as float literals.

    python tools/fit_vmath.py
"""

from __future__ import annotations

import math

import numpy as np


def lawson(f, lo, hi, powers, rel=True, iters=60, n=4000):
    """Coefficients c of sum(c_k t^p_k) approximating f on [lo, hi] with near-minimax error."""
    t = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    y = np.array([f(v) for v in t])
    a = np.stack([t ** p for p in powers], axis=1)
    scale = np.abs(y) if rel else np.ones_like(y)
    w = np.ones_like(t) / n
    c = None
    for _ in range(iters):
        sw = np.sqrt(w) / scale
        c, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
        err = np.abs(a @ c - y) / scale
        w = w * err
        w /= w.sum()
    c32 = np.array(c, dtype=np.float32).astype(np.float64)
    err = np.max(np.abs(a @ c32 - y) / scale)
    return c32, err


def show(name, c, err):
    """Prints one coefficient list."""
    print(f"{name}: max {'rel' if True else 'abs'} err {err:.3g}")
    print("  " + ", ".join(f"{float(v):.9g}f" for v in c))


def main():
    """Fits and prints every coefficient set."""
    ln2 = math.log(2)
    # exp(r) = 1 + r + r^2 * P(r), |r| <= ln2/2: fit (exp(r) - 1 - r) / r^2.
    g = lambda r: (math.expm1(r) - r) / (r * r) if abs(r) > 1e-4 else 0.5 + r / 6 + r * r / 24
    c, e = lawson(g, -ln2 / 2 - 1e-3, ln2 / 2 + 1e-3, range(5))
    show("exp P (degree 4, times r^2)", c, e)
    # erf(x) = x * S(x^2), |x| < 0.921875.
    s = lambda t: math.erf(math.sqrt(t)) / math.sqrt(t) if t > 0 else 2 / math.sqrt(math.pi)
    for deg in (5, 6):
        c, e = lawson(s, 0.0, 0.921875 ** 2, range(deg + 1))
        show(f"erf small S (degree {deg} in x^2)", c, e)
    # erfc(x) = exp(B(x)), 0.921875 <= x <= 3.925: absolute error of B is relative error of erfc.
    b = lambda x: math.log(math.erfc(x))
    for deg in (7, 8, 9):
        c, e = lawson(b, 0.921875, 3.925, range(deg + 1), rel=False)
        show(f"erfc big B (degree {deg} in x)", c, e)
    # GELU(x) = x Phi(x): the erf fits above rescaled to x = sqrt2 z with the 0.5 folded in:
    # Phi = 0.5 + x S'(x^2) (small), 0.5 erfc(|x| / sqrt2) = exp(B'(|x|)) (big).
    small, _ = lawson(s, 0.0, 0.921875 ** 2, range(7))
    big, _ = lawson(b, 0.921875, 3.925, range(10), rel=False)
    r2 = math.sqrt(2)
    gs = [float(v) * 0.5 / r2 / 2 ** k for k, v in enumerate(small)]
    gb = [float(v) / r2 ** k for k, v in enumerate(big)]
    gb[0] -= math.log(2)
    print("gelu small S' (x^2):\n  " + ", ".join(f"{v:.9g}f" for v in gs))
    print("gelu big B' (|x|):\n  " + ", ".join(f"{v:.9g}f" for v in gb))


if __name__ == "__main__":
    main()
