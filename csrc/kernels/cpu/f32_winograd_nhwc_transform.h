// The channels-last Winograd F(4,3) and F(2,3) tile transforms (kernels/winograd_nhwc.h), written once over an
// ISA traits struct and instantiated per ISA in kernels/cpu/<isa>/f32_winograd_nhwc_<isa>.cc. SIMD
// runs over channels (L per vector, a masked tail); the 1-D transforms are those of
// f32_winograd_transform.h. Traits: V, L, load/store (unaligned), load_n/store_n (first n lanes;
// load_n zero-fills), zero, set1, add, sub, mul, fmadd, clamp(v, lo, hi) (NaN passes through),
// and for the value check VI, izero, absmax(acc, v) (lane-wise unsigned max of acc and the bits of
// |v|: NaN > Inf > finite) and hmax(acc) (the largest lane).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/f32_winograd_transform.h"
#include "kernels/winograd_nhwc.h"

namespace fi::kernels::wino_nhwc {

// Tile size M (4 or 2): alpha = M + 2 patch pixels a side, alpha^2 transform points.
template <class I, int M>
bool input(const float* x, int64_t h, int64_t w, int64_t c, int64_t iy0, int64_t ix0, float* v, int64_t xs) {
  using T = wino::Transform<I, M>;
  using V = typename I::V;
  constexpr int A = T::kAlpha;
  const float* at[A][A];  // each patch pixel's C-vector, or null outside the image
  for (int r = 0; r < A; ++r)
    for (int s = 0; s < A; ++s) {
      const int64_t iy = iy0 + r, ix = ix0 + s;
      at[r][s] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x + (iy * w + ix) * c : nullptr;
    }
  typename I::VI seen = I::izero();
  for (int64_t c0 = 0; c0 < c; c0 += I::L) {
    const int n = int(std::min<int64_t>(I::L, c - c0));
    V tmp[A][A];  // tmp[i][s] = (B^T d)[i][s]
    for (int s = 0; s < A; ++s) {
      V col[A], o[A];
      for (int r = 0; r < A; ++r) {
        const float* p = at[r][s];
        col[r] = !p ? I::zero() : n == I::L ? I::load(p + c0) : I::load_n(p + c0, n);
        seen = I::absmax(seen, col[r]);
      }
      T::input_1d(col, o);
      for (int i = 0; i < A; ++i) tmp[i][s] = o[i];
    }
    for (int i = 0; i < A; ++i) {
      V o[A];
      T::input_1d(tmp[i], o);
      for (int k = 0; k < A; ++k) {
        float* p = v + (i * A + k) * xs + c0;
        if (n == I::L) I::store(p, o[k]);
        else I::store_n(p, o[k], n);
      }
    }
  }
  return I::hmax(seen) < 0x71800000u;  // the bits of 2^100
}

template <class I, int M>
void output(const float* mt, int64_t xs, const WinogradNhwcOut& st, float* y, const float* res, int rows, int cols) {
  using T = wino::Transform<I, M>;
  using V = typename I::V;
  constexpr int A = T::kAlpha;
  const int64_t channels = st.m;
  const V lo = I::set1(st.lo), hi = I::set1(st.hi);
  for (int64_t m0 = 0; m0 < channels; m0 += I::L) {
    const int n = int(std::min<int64_t>(I::L, channels - m0));
    const bool full = n == I::L;
    auto ld = [&](const float* p) { return full ? I::load(p) : I::load_n(p, n); };
    V tmp[M][A];  // tmp[u][k] = (A^T Mt)[u][k]
    for (int k = 0; k < A; ++k) {
      V col[A], o[M];
      for (int i = 0; i < A; ++i) col[i] = ld(mt + (i * A + k) * xs + m0);
      T::output_1d(col, o);
      for (int u = 0; u < M; ++u) tmp[u][k] = o[u];
    }
    const V vb = st.bias ? ld(st.bias + m0) : I::zero();
    for (int u = 0; u < rows; ++u) {
      V o[M];
      T::output_1d(tmp[u], o);
      for (int wc = 0; wc < cols; ++wc) {
        const int64_t off = (u * st.out_w + wc) * st.ldy + m0;
        V val = I::add(o[wc], vb);
        if (res) val = I::add(val, ld(res + (u * st.out_w + wc) * st.ldr + m0));
        val = I::clamp(val, lo, hi);
        if (full) I::store(y + off, val);
        else I::store_n(y + off, val, n);
      }
    }
  }
}

// A compact plan's U_xi, rebuilt per task: out[k] = sum_t coef[t] * src[t][k] for k < n (n a
// multiple of the GEMM's nr, so of I::L but for a masked tail).
template <class I>
void weights(const float* const* src, const float* coef, int taps, int64_t n, float* out) {
  using V = typename I::V;
  int64_t k = 0;
  for (; k + 2 * I::L <= n; k += 2 * I::L) {  // two vectors per step: two FMA chains
    V a = I::mul(I::set1(coef[0]), I::load(src[0] + k));
    V b = I::mul(I::set1(coef[0]), I::load(src[0] + k + I::L));
    for (int t = 1; t < taps; ++t) {
      const V c = I::set1(coef[t]);
      a = I::fmadd(c, I::load(src[t] + k), a);
      b = I::fmadd(c, I::load(src[t] + k + I::L), b);
    }
    I::store(out + k, a);
    I::store(out + k + I::L, b);
  }
  for (; k < n; k += I::L) {
    const int m = int(std::min<int64_t>(I::L, n - k));
    V a = I::mul(I::set1(coef[0]), I::load_n(src[0] + k, m));
    for (int t = 1; t < taps; ++t) a = I::fmadd(I::set1(coef[t]), I::load_n(src[t] + k, m), a);
    I::store_n(out + k, a, m);
  }
}

}  // namespace fi::kernels::wino_nhwc

// Defines f32_winograd_nhwc_<m>x3__<isa>_input / _output (m = 4, 2) and f32_winograd_nhwc__<isa>_weights
// over traits I (in namespace fi::kernels).
#define FI_WINOGRAD_NHWC_DEFINE_TILE(I, isa, m)                                                                \
  bool f32_winograd_nhwc_##m##x3__##isa##_input(const float* x, int64_t h, int64_t w, int64_t c, int64_t iy0,  \
                                                int64_t ix0, float* v, int64_t xs) {                            \
    return wino_nhwc::input<I, m>(x, h, w, c, iy0, ix0, v, xs);                                                 \
  }                                                                                                              \
  void f32_winograd_nhwc_##m##x3__##isa##_output(const float* mt, int64_t xs, const WinogradNhwcOut& st,       \
                                                 float* y, const float* res, int rows, int cols) {              \
    wino_nhwc::output<I, m>(mt, xs, st, y, res, rows, cols);                                                    \
  }
#define FI_WINOGRAD_NHWC_DEFINE(I, isa)                                                                          \
  FI_WINOGRAD_NHWC_DEFINE_TILE(I, isa, 4)                                                                        \
  FI_WINOGRAD_NHWC_DEFINE_TILE(I, isa, 2)                                                                        \
  void f32_winograd_nhwc__##isa##_weights(const float* const* src, const float* coef, int taps, int64_t n,      \
                                          float* out) {                                                         \
    wino_nhwc::weights<I>(src, coef, taps, n, out);                                                              \
  }
