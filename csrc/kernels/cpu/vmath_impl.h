// The vectorised fp32 math of kernels/vmath.h, written once over an ISA traits struct I and made
// into a VmathTable per ISA in kernels/cpu/<isa>/vmath_<isa>.cc (the ref tier uses a one-lane
// traits struct, so every tier runs the same algorithm). No intrinsics here. The traits supply:
//   V (vector), M (lane mask), L (lanes), set1, loadu, storeu,
//   load_n(p, n, fill)  the first n < L floats of p, the other lanes = fill (reads nothing past p[n-1]),
//   store_n(p, v, n)    the first n < L lanes,
//   add sub mul div, fmadd(a, b, c) = a*b + c, fnmadd(a, b, c) = c - a*b,
//   min(a, b) / max(a, b) with x86 semantics (b when either is NaN), abs, neg_abs (-|a|),
//   round (to nearest even), lt(a, b), gt(a, b), eq(a, b), unord(a, b) -> M, select(m, a, b) = m ? a : b,
//   frexp1(x, k) = m in [1, 2) with x = m 2^k for finite x > 0 (denormals included),
//   clamp_abs(x, b) = x clamped to [-b, b] (NaN stays NaN), copysign(mag, s) (mag >= 0), scale2(p, n) = p * 2^n for integral n in [-150, 128] with one
//   rounding (denormal results included), hsum, hmax.
// Coefficients: tools/fit_vmath.py (near-minimax fits); ulp errors are measured by
// tests/kernels/test_vmath.py.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/cpu/vmath_table.h"

namespace fi::kernels::vm {

constexpr float kLog2e = 1.44269504088896341f;
// ln 2 split so that n * kLn2Hi is exact for |n| <= 2^9 (Cody-Waite).
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kErfSplit = 0.921875f, kErfMax = 3.925f;

template <class I>
struct Math {
  using V = typename I::V;
  static V c(float v) { return I::set1(v); }

  // exp(r) - 1 for |r| <= ln2/2 + a little: r + r^2 P(r).
  static V expm1_reduced(V r) {
    V p = c(0.00139013526f);
    p = I::fmadd(p, r, c(0.00836331304f));
    p = I::fmadd(p, r, c(0.0416668542f));
    p = I::fmadd(p, r, c(0.166665763f));
    p = I::fmadd(p, r, c(0.5f));
    return I::fmadd(I::mul(r, r), p, r);
  }
  // n = round(x / ln2), r = x - n ln2.
  static V reduce(V x, V& n) {
    n = I::round(I::mul(x, c(kLog2e)));
    V r = I::fnmadd(n, c(kLn2Hi), x);
    return I::fnmadd(n, c(kLn2Lo), r);
  }
  // 2^n exp(r) for |r| <= ln2/2 + a little: 1 + r P(r).
  static V exp_reduced(V r, V n) {
    V p = c(0.00139013526f);
    p = I::fmadd(p, r, c(0.00836331304f));
    p = I::fmadd(p, r, c(0.0416668542f));
    p = I::fmadd(p, r, c(0.166665763f));
    p = I::fmadd(p, r, c(0.5f));
    p = I::fmadd(p, r, c(1.f));
    return I::scale2(I::fmadd(p, r, c(1.f)), n);
  }
  // exp(x) for -104 <= x <= 104 (or NaN): the callers below clamp as far as their range needs.
  // n up to 150 makes 2^n overflow to inf by itself; from -104 down the result is 0.
  static V exp_in_range(V x) {
    V n;
    V r = reduce(x, n);
    return exp_reduced(r, n);
  }
  // exp(x) for a softmax's x - max (x <= 0; -inf gives the smallest normal): n from one rounded ln 2,
  // which puts r off by |n| * 1.9e-9 (at most 2.4e-7 relative, on terms below e^-80), then the fit
  // above. 12 operations a vector with scalef: the attention kernels' softmax is bound by them.
  static V exp_softmax(V x) {
    x = I::max(c(-87.33654f), x);
    V n = I::round(I::mul(x, c(kLog2e)));
    return exp_reduced(I::fnmadd(n, c(0.693147182f), x), n);
  }
  // exp(x): inf above ln(FLT_MAX), 0 below the smallest denormal, NaN stays NaN.
  static V exp(V x) { return exp_in_range(I::clamp_abs(x, 104.f)); }
  // exp(x) for x <= 0 (or NaN; -inf gives 0): one clamp.
  static V exp_nonpos(V x) { return exp_in_range(I::max(c(-104.f), x)); }
  // exp(t) - 1 for t <= 0 (t >= -20 after clamping; below that the result is -1 in float).
  static V expm1_neg(V t) {
    t = I::max(c(-20.f), t);
    V n;
    V q = expm1_reduced(reduce(t, n));
    V s = I::scale2(c(1.f), n);
    return I::fmadd(s, q, I::sub(s, c(1.f)));
  }
  // exp(x) - 1, accurate near 0.
  static V expm1(V x) {
    x = I::min(c(88.8f), x);
    x = I::max(c(-20.f), x);
    V n;
    V q = expm1_reduced(reduce(x, n));
    // 2^n (1 + q) - 1 = 2^n q + (2^n - 1); 2^n - 1 is exact for the n that matter, and for n >= 25
    // the -1 is below the result's ulp. scale2 on s splits 2^128 so large x overflows to inf.
    V s = I::scale2(c(1.f), I::min(c(127.f), n));
    V big = I::scale2(I::add(q, c(1.f)), n);
    return I::select(I::gt(n, c(24.f)), big, I::fmadd(s, q, I::sub(s, c(1.f))));
  }
  // 1 / (1 + exp(-x)) as e / (1 + e) or 1 / (1 + e) with e = exp(-|x|) (never overflows).
  static V sigmoid(V x) {
    V e = exp_nonpos(I::neg_abs(x));
    V num = I::select(I::lt(x, c(0.f)), e, c(1.f));
    return I::div(num, I::add(c(1.f), e));
  }
  // tanh(x) = sign(x) * m / (-2 - m), m = expm1(-2|x|): no cancellation near 0.
  static V tanh(V x) {
    V m = expm1_neg(I::mul(c(2.f), I::neg_abs(x)));
    return I::copysign(I::div(m, I::sub(c(-2.f), m)), x);
  }
  // erf(|x|) < 0.921875: x S(x^2).
  static V erf_small(V x) {
    V t = I::mul(x, x);
    V s = c(8.3700972e-05f);
    s = I::fmadd(s, t, c(-0.000814270345f));
    s = I::fmadd(s, t, c(0.00520103239f));
    s = I::fmadd(s, t, c(-0.0268593989f));
    s = I::fmadd(s, t, c(0.112836957f));
    s = I::fmadd(s, t, c(-0.376126349f));
    s = I::fmadd(s, t, c(1.12837923f));
    return I::mul(x, s);
  }
  // erfc(a) for 0.921875 <= a <= 3.925: exp(B(a)).
  static V erfc_big(V a) {
    V b = c(-1.15964358e-08f);
    b = I::fmadd(b, a, c(1.88941647e-06f));
    b = I::fmadd(b, a, c(-4.84039556e-05f));
    b = I::fmadd(b, a, c(0.000608985662f));
    b = I::fmadd(b, a, c(-0.00479825726f));
    b = I::fmadd(b, a, c(0.0264982581f));
    b = I::fmadd(b, a, c(-0.110175528f));
    b = I::fmadd(b, a, c(-0.631756902f));
    b = I::fmadd(b, a, c(-1.13025892f));
    b = I::fmadd(b, a, c(0.000323398446f));
    return exp_in_range(b);  // B is within [-18, 0.01] for 0 <= a <= 3.925
  }
  static V erf(V x) {
    V a = I::abs(x);
    V big = I::sub(c(1.f), erfc_big(I::min(c(kErfMax), a)));  // NaN a stays NaN
    return I::select(I::lt(a, c(kErfSplit)), erf_small(x), I::copysign(big, x));
  }
  // x Phi(x), Phi(x) = 0.5 (1 + erf(x / sqrt2)), with erf's fits rescaled to x and the 0.5 folded
  // in (tools/fit_vmath.py): Phi = 0.5 + x S'(x^2) for |x| < 0.921875 sqrt2, else exp(B'(|x|)) =
  // 0.5 erfc(|x| / sqrt2) taken directly for x < 0 (no cancellation) and 1 - that for x > 0;
  // 0 below x = -3.925 sqrt2 (|result| < 8e-8 there).
  static V gelu_erf(V x) {
    V a = I::abs(x);
    V b = c(-5.124949e-10f);
    V am = I::min(c(5.55078823f), a);
    b = I::fmadd(b, am, c(1.18088529e-07f));
    b = I::fmadd(b, am, c(-4.27834565e-06f));
    b = I::fmadd(b, am, c(7.61232077e-05f));
    b = I::fmadd(b, am, c(-0.000848220061f));
    b = I::fmadd(b, am, c(0.00662456453f));
    b = I::fmadd(b, am, c(-0.0389529314f));
    b = I::fmadd(b, am, c(-0.315878451f));
    b = I::fmadd(b, am, c(-0.799213745f));
    b = I::fmadd(b, am, c(-0.692823782f));
    V e = exp_in_range(b);  // B' is within [-18, 0] for 0 <= am <= 5.55
    V t = I::mul(x, x);
    V s = c(4.62386913e-07f);
    s = I::fmadd(s, t, c(-8.99650129e-06f));
    s = I::fmadd(s, t, c(0.000114927665f));
    s = I::fmadd(s, t, c(-0.00118702895f));
    s = I::fmadd(s, t, c(0.00997347218f));
    s = I::fmadd(s, t, c(-0.066490373f));
    s = I::fmadd(s, t, c(0.398942301f));
    V phi = I::select(I::lt(x, c(0.f)), I::select(I::gt(a, c(5.55078823f)), c(0.f), e), I::sub(c(1.f), e));
    phi = I::select(I::lt(a, c(1.30372813f)), I::fmadd(x, s, c(0.5f)), phi);
    return I::mul(x, phi);
  }
  // 0.5 x (1 + tanh(w)) = x sigmoid(2w), w = sqrt(2/pi) (x + 0.044715 x^3).
  static V gelu_tanh(V x) {
    V x2 = I::mul(x, x);
    V w2 = I::mul(I::mul(c(2.f * 0.7978845608028654f), x), I::fmadd(c(0.044715f), x2, c(1.f)));
    return I::mul(x, sigmoid(w2));
  }
  // log(x): x = m 2^k with m in [0.75, 1.5), log(m) = f - f^2/2 + f^3 P(f), f = m - 1 (exact).
  static V log(V x) {
    V k;
    V m = I::frexp1(x, k);
    const auto low = I::lt(m, c(1.5f));
    m = I::select(low, m, I::mul(m, c(0.5f)));
    k = I::select(low, k, I::add(k, c(1.f)));
    V f = I::sub(m, c(1.f));
    V p = c(-0.0519258566f);
    p = I::fmadd(p, f, c(0.109377228f));
    p = I::fmadd(p, f, c(-0.13066709f));
    p = I::fmadd(p, f, c(0.143785685f));
    p = I::fmadd(p, f, c(-0.166487455f));
    p = I::fmadd(p, f, c(0.199969649f));
    p = I::fmadd(p, f, c(-0.25000158f));
    p = I::fmadd(p, f, c(0.333333462f));
    p = I::fmadd(p, f, c(-0.5f));
    V r = I::fmadd(I::mul(f, f), p, f);
    V y = I::fmadd(k, c(kLn2Hi), I::fmadd(k, c(kLn2Lo), r));
    y = I::select(I::eq(x, c(INFINITY)), x, y);
    y = I::select(I::eq(x, c(0.f)), c(-INFINITY), y);
    y = I::select(I::lt(x, c(0.f)), c(NAN), y);
    return I::select(I::unord(x, x), x, y);
  }
  // log(1 + u) for u >= 0 (or NaN): log(v) + (u - (v - 1)) / v, v = 1 + u, recovers u's low bits.
  static V log1p_pos(V u) {
    V v = I::add(c(1.f), u);
    V corr = I::div(I::sub(u, I::sub(v, c(1.f))), v);
    return I::select(I::eq(v, c(INFINITY)), v, I::add(log(v), corr));
  }
  // softplus(x) = max(x, 0) + log(1 + exp(-|x|)).
  static V softplus(V x) {
    V l = log1p_pos(exp_nonpos(I::neg_abs(x)));
    return I::add(I::max(c(0.f), x), l);
  }
  static V silu(V x) { return I::mul(x, sigmoid(x)); }
  // x * clamp((x + 3) / 6, 0, 1): x + 3 is exact near -3, so the result keeps its relative accuracy.
  static V hard_swish(V x) {
    V h = I::mul(I::add(x, c(3.f)), c(1.f / 6.f));
    return I::mul(x, I::min(c(1.f), I::max(c(0.f), h)));
  }
};

// y[i] = F(x[i]); two vectors per step for instruction-level parallelism; y may equal x.
template <class I, class F>
inline void map(const float* x, float* y, int64_t n, F f) {
  constexpr int L = I::L;
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    auto a = f(I::loadu(x + i)), b = f(I::loadu(x + i + L));
    I::storeu(y + i, a);
    I::storeu(y + i + L, b);
  }
  for (; i + L <= n; i += L) I::storeu(y + i, f(I::loadu(x + i)));
  if (i < n) I::store_n(y + i, f(I::load_n(x + i, n - i, 0.f)), n - i);
}

template <class I> void exp_(const float* x, float* y, int64_t n) { map<I>(x, y, n, Math<I>::exp); }
template <class I> void expm1_(const float* x, float* y, int64_t n) { map<I>(x, y, n, Math<I>::expm1); }
template <class I> void sigmoid_(const float* x, float* y, int64_t n) { map<I>(x, y, n, Math<I>::sigmoid); }
template <class I> void tanh_(const float* x, float* y, int64_t n) { map<I>(x, y, n, Math<I>::tanh); }
template <class I> void erf_(const float* x, float* y, int64_t n) { map<I>(x, y, n, Math<I>::erf); }
template <class I> void log_(const float* x, float* y, int64_t n) { map<I>(x, y, n, Math<I>::log); }
template <class I> void softplus_(const float* x, float* y, int64_t n) { map<I>(x, y, n, Math<I>::softplus); }

// gamma * (x > 0 ? x : alpha * expm1(beta * x)): Elu, Selu, Celu (beta = 1 / alpha).
template <class I>
void elu_(const float* x, float* y, int64_t n, float alpha, float gamma, float beta) {
  using V = typename I::V;
  const V va = I::set1(alpha), vg = I::set1(gamma), vb = I::set1(beta), zero = I::set1(0.f);
  map<I>(x, y, n, [=](V v) {
    V neg = I::mul(va, Math<I>::expm1(I::mul(vb, v)));
    return I::mul(vg, I::select(I::gt(v, zero), v, neg));
  });
}

template <class I>
void activation_(Activation act, const float* x, float* y, int64_t n) {
  using K = Math<I>;
  switch (act) {
    case Activation::None:
      if (x != y) map<I>(x, y, n, [](typename I::V v) { return v; });
      return;
    case Activation::Sigmoid: return map<I>(x, y, n, K::sigmoid);
    case Activation::Tanh: return map<I>(x, y, n, K::tanh);
    case Activation::Silu: return map<I>(x, y, n, K::silu);
    case Activation::GeluErf: return map<I>(x, y, n, K::gelu_erf);
    case Activation::GeluTanh: return map<I>(x, y, n, K::gelu_tanh);
    case Activation::HardSwish: return map<I>(x, y, n, K::hard_swish);
  }
}

// Largest of x[0..n) (n > 0); a NaN may or may not win, callers propagate NaN through exp/sum.
template <class I>
float reduce_max_(const float* x, int64_t n) {
  constexpr int L = I::L;
  const float ninf = -INFINITY;
  typename I::V m0 = I::set1(ninf), m1 = m0;
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    m0 = I::max(m0, I::loadu(x + i));
    m1 = I::max(m1, I::loadu(x + i + L));
  }
  for (; i + L <= n; i += L) m0 = I::max(m0, I::loadu(x + i));
  if (i < n) m1 = I::max(m1, I::load_n(x + i, n - i, ninf));
  return I::hmax(I::max(m0, m1));
}

template <class I>
float reduce_sum_(const float* x, int64_t n) {
  constexpr int L = I::L;
  typename I::V s0 = I::set1(0.f), s1 = s0;
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    s0 = I::add(s0, I::loadu(x + i));
    s1 = I::add(s1, I::loadu(x + i + L));
  }
  for (; i + L <= n; i += L) s0 = I::add(s0, I::loadu(x + i));
  if (i < n) s1 = I::add(s1, I::load_n(x + i, n - i, 0.f));
  return I::hsum(I::add(s0, s1));
}

// sum of exp(x[i] - m); when y is not null also y[i] = exp(x[i] - m). Tail lanes load -inf so their
// exp is 0.
template <class I>
float sum_exp_(const float* x, float* y, int64_t n, float m) {
  using K = Math<I>;
  constexpr int L = I::L;
  const typename I::V vm = I::set1(m);
  typename I::V s0 = I::set1(0.f), s1 = s0;
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    auto a = K::exp_nonpos(I::sub(I::loadu(x + i), vm)), b = K::exp_nonpos(I::sub(I::loadu(x + i + L), vm));
    if (y) {
      I::storeu(y + i, a);
      I::storeu(y + i + L, b);
    }
    s0 = I::add(s0, a);
    s1 = I::add(s1, b);
  }
  for (; i + L <= n; i += L) {
    auto a = K::exp_nonpos(I::sub(I::loadu(x + i), vm));
    if (y) I::storeu(y + i, a);
    s0 = I::add(s0, a);
  }
  if (i < n) {
    auto a = K::exp_nonpos(I::sub(I::load_n(x + i, n - i, -INFINITY), vm));
    if (y) I::store_n(y + i, a, n - i);
    s1 = I::add(s1, a);
  }
  return I::hsum(I::add(s0, s1));
}

// y[i] = x[i] * a + b.
template <class I>
void scale_shift_(const float* x, float* y, int64_t n, float a, float b) {
  const typename I::V va = I::set1(a), vb = I::set1(b);
  map<I>(x, y, n, [va, vb](typename I::V v) { return I::fmadd(v, va, vb); });
}

template <class I>
void softmax_row_(const float* x, float* y, int64_t n) {
  if (n <= 0) return;
  const float m = reduce_max_<I>(x, n);
  const float s = sum_exp_<I>(x, y, n, m);
  scale_shift_<I>(y, y, n, 1.f / s, 0.f);
}

// softmax(scale * x + mask) (mask may be null): t goes to y first, then y is normalised in place.
template <class I>
void softmax_row_masked_(const float* x, const float* mask, float scale, float* y, int64_t n) {
  using V = typename I::V;
  constexpr int L = I::L;
  if (n <= 0) return;
  const V vs = I::set1(scale);
  if (!mask) {
    map<I>(x, y, n, [vs](V v) { return I::mul(v, vs); });
  } else {
    int64_t i = 0;
    for (; i + L <= n; i += L) I::storeu(y + i, I::fmadd(I::loadu(x + i), vs, I::loadu(mask + i)));
    if (i < n) I::store_n(y + i, I::fmadd(I::load_n(x + i, n - i, 0.f), vs, I::load_n(mask + i, n - i, 0.f)), n - i);
  }
  softmax_row_<I>(y, y, n);
}

template <class I>
void log_softmax_row_(const float* x, float* y, int64_t n) {
  if (n <= 0) return;
  const float m = reduce_max_<I>(x, n);
  const float s = sum_exp_<I>(x, nullptr, n, m);
  // (x - m) - log s: x - (m + log s) would lose the low bits of log s when |m| is large.
  const typename I::V vm = I::set1(m), vl = I::set1(std::log(s));
  map<I>(x, y, n, [vm, vl](typename I::V v) { return I::sub(I::sub(v, vm), vl); });
}

// Two-pass mean and variance in float (vector lanes), then y = (x - mean) * inv * gamma + beta.
template <class I>
void norm_row_(const float* x, const float* gamma, const float* beta, float* y, int64_t n, float eps, bool rms,
               float* mean_out, float* inv_out) {
  using V = typename I::V;
  constexpr int L = I::L;
  if (n <= 0) {
    if (mean_out) *mean_out = 0.f;
    if (inv_out) *inv_out = 1.f / std::sqrt(eps);
    return;
  }
  const float mean = rms ? 0.f : reduce_sum_<I>(x, n) / float(n);
  const V vm = I::set1(mean);
  V s0 = I::set1(0.f), s1 = s0;
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    V a = I::sub(I::loadu(x + i), vm), b = I::sub(I::loadu(x + i + L), vm);
    s0 = I::fmadd(a, a, s0);
    s1 = I::fmadd(b, b, s1);
  }
  for (; i + L <= n; i += L) {
    V a = I::sub(I::loadu(x + i), vm);
    s0 = I::fmadd(a, a, s0);
  }
  if (i < n) {
    V a = I::sub(I::load_n(x + i, n - i, mean), vm);
    s1 = I::fmadd(a, a, s1);
  }
  const float var = I::hsum(I::add(s0, s1)) / float(n);
  const float inv = 1.f / std::sqrt(var + eps);
  if (mean_out) *mean_out = mean;
  if (inv_out) *inv_out = inv;
  const V vi = I::set1(inv);
  for (i = 0; i + L <= n; i += L) {
    V t = I::mul(I::sub(I::loadu(x + i), vm), vi);
    V g = I::loadu(gamma + i);
    I::storeu(y + i, beta ? I::fmadd(t, g, I::loadu(beta + i)) : I::mul(t, g));
  }
  if (i < n) {
    const int64_t r = n - i;
    V t = I::mul(I::sub(I::load_n(x + i, r, 0.f), vm), vi);
    V g = I::load_n(gamma + i, r, 0.f);
    I::store_n(y + i, beta ? I::fmadd(t, g, I::load_n(beta + i, r, 0.f)) : I::mul(t, g), r);
  }
}

template <class I>
VmathTable make_table() {
  VmathTable t;
  t.exp = exp_<I>;
  t.expm1 = expm1_<I>;
  t.sigmoid = sigmoid_<I>;
  t.tanh = tanh_<I>;
  t.erf = erf_<I>;
  t.log = log_<I>;
  t.softplus = softplus_<I>;
  t.activation = activation_<I>;
  t.elu = elu_<I>;
  t.softmax_row = softmax_row_<I>;
  t.log_softmax_row = log_softmax_row_<I>;
  t.softmax_row_masked = softmax_row_masked_<I>;
  t.norm_row = norm_row_<I>;
  t.reduce_max = reduce_max_<I>;
  t.reduce_sum = reduce_sum_<I>;
  return t;
}

}  // namespace fi::kernels::vm
