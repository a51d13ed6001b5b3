// The Winograd F(2,3), F(4,3) and F(6,3) input and output transforms, written once over an ISA traits
// struct and instantiated per ISA in kernels/cpu/<isa>/f32_winograd_<isa>.cc (only the SSE
// 4-float row store below uses intrinsics; it is instantiated by the SIMD traits alone). The traits
// supply V (vector), VI (int32 vector), Mask, L (lanes), kStore4, load/store (unaligned), set1, add,
// sub, mul, fmadd (a * b + c), loadi, in_range(v, k, n) (0 <= v + k < n per lane), mask_and,
// gather(base, offsets, mask) (masked lanes read nothing and give zero) and, with kStore4,
// store4. Each transform works on L tiles at once, one tile per lane; layouts as in
// kernels/winograd.h (F(2,3) only channels-last, kernels/winograd_nhwc.h). The 1-D transforms are
// the usual factored forms of B^T and A^T for the interpolation points 0, +-1 (F(2,3)), 0, +-1,
// +-2 (F(4,3)) and 0, +-1, +-2, +-1/2 (F(6,3)), plus infinity.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "kernels/winograd.h"

namespace fi::kernels::wino {

template <class I, int M>
struct Transform;

template <class I>
struct Transform<I, 2> {
  using V = typename I::V;
  static constexpr int kAlpha = 4;
  // o = B^T d for one column of 4.
  static void input_1d(const V* d, V* o) {
    o[0] = I::sub(d[0], d[2]);
    o[1] = I::add(d[1], d[2]);
    o[2] = I::sub(d[2], d[1]);
    o[3] = I::sub(d[1], d[3]);
  }
  // y = A^T m for one column of 4 -> 2.
  static void output_1d(const V* m, V* y) {
    y[0] = I::add(I::add(m[0], m[1]), m[2]);
    y[1] = I::sub(I::sub(m[1], m[2]), m[3]);
  }
};

template <class I>
struct Transform<I, 4> {
  using V = typename I::V;
  static constexpr int kAlpha = 6;
  // o = B^T d for one column of 6.
  static void input_1d(const V* d, V* o) {
    const V t0 = I::fmadd(I::set1(-4.f), d[2], d[4]);
    const V t1 = I::fmadd(I::set1(-4.f), d[1], d[3]);
    const V t2 = I::sub(d[4], d[2]);
    const V t3 = I::add(I::sub(d[3], d[1]), I::sub(d[3], d[1]));
    o[0] = I::fmadd(I::set1(4.f), d[0], I::fmadd(I::set1(-5.f), d[2], d[4]));
    o[1] = I::add(t0, t1);
    o[2] = I::sub(t0, t1);
    o[3] = I::add(t2, t3);
    o[4] = I::sub(t2, t3);
    o[5] = I::fmadd(I::set1(4.f), d[1], I::fmadd(I::set1(-5.f), d[3], d[5]));
  }
  // y = A^T m for one column of 6 -> 4.
  static void output_1d(const V* m, V* y) {
    const V a = I::add(m[1], m[2]), b = I::sub(m[1], m[2]);
    const V c = I::add(m[3], m[4]), d = I::sub(m[3], m[4]);
    y[0] = I::add(I::add(m[0], a), c);
    y[1] = I::fmadd(I::set1(2.f), d, b);
    y[2] = I::fmadd(I::set1(4.f), c, a);
    y[3] = I::add(I::fmadd(I::set1(8.f), d, b), m[5]);
  }
};

template <class I>
struct Transform<I, 6> {
  using V = typename I::V;
  static constexpr int kAlpha = 8;
  static void input_1d(const V* d, V* o) {
    o[0] = I::fmadd(I::set1(5.25f), I::sub(d[4], d[2]), I::sub(d[0], d[6]));
    o[7] = I::fmadd(I::set1(5.25f), I::sub(d[3], d[5]), I::sub(d[7], d[1]));
    V a = I::fmadd(I::set1(-4.25f), d[4], I::add(d[2], d[6]));
    V b = I::fmadd(I::set1(-4.25f), d[3], I::add(d[1], d[5]));
    o[1] = I::add(a, b);
    o[2] = I::sub(a, b);
    a = I::fmadd(I::set1(0.25f), d[2], I::fmadd(I::set1(-1.25f), d[4], d[6]));
    b = I::fmadd(I::set1(0.5f), d[1], I::fmadd(I::set1(-2.5f), d[3], I::add(d[5], d[5])));
    o[3] = I::add(a, b);
    o[4] = I::sub(a, b);
    a = I::fmadd(I::set1(4.f), I::fmadd(I::set1(-1.25f), d[4], d[2]), d[6]);
    b = I::fmadd(I::set1(2.f), d[1], I::fmadd(I::set1(-2.5f), d[3], I::mul(I::set1(0.5f), d[5])));
    o[5] = I::add(a, b);
    o[6] = I::sub(a, b);
  }
  static void output_1d(const V* m, V* y) {
    const V a1 = I::add(m[1], m[2]), b1 = I::sub(m[1], m[2]);
    const V a2 = I::add(m[3], m[4]), b2 = I::sub(m[3], m[4]);
    const V a3 = I::add(m[5], m[6]), b3 = I::sub(m[5], m[6]);
    y[0] = I::add(I::add(m[0], a1), I::add(a2, a3));
    y[1] = I::fmadd(I::set1(0.5f), b3, I::fmadd(I::set1(2.f), b2, b1));
    y[2] = I::fmadd(I::set1(0.25f), a3, I::fmadd(I::set1(4.f), a2, a1));
    y[3] = I::fmadd(I::set1(0.125f), b3, I::fmadd(I::set1(8.f), b2, b1));
    y[4] = I::fmadd(I::set1(0.0625f), a3, I::fmadd(I::set1(16.f), a2, a1));
    y[5] = I::add(I::fmadd(I::set1(0.03125f), b3, I::fmadd(I::set1(32.f), b2, b1)), m[7]);
  }
};

// V_xi = B^T d B for nr tiles (nr a multiple of L), d gathered from the patches.
template <class I, int M>
void input(const WinogradPatches& d, int64_t nr, float* v, int64_t v_stride) {
  using T = Transform<I, M>;
  using V = typename I::V;
  using Mask = typename I::Mask;
  constexpr int A = T::kAlpha;
  for (int64_t t = 0; t < nr; t += I::L) {
    const auto off = I::loadi(d.off + t), y0 = I::loadi(d.iy0 + t), x0 = I::loadi(d.ix0 + t);
    Mask rows[A], cols[A];
    for (int r = 0; r < A; ++r) {
      rows[r] = I::in_range(y0, r, d.in_h);
      cols[r] = I::in_range(x0, r, d.in_w);
    }
    V tmp[A][A];  // tmp[i][s] = (B^T d)[i][s]
    for (int s = 0; s < A; ++s) {
      V col[A], o[A];
      for (int r = 0; r < A; ++r) col[r] = I::gather(d.x + r * d.in_w + s, off, I::mask_and(rows[r], cols[s]));
      T::input_1d(col, o);
      for (int i = 0; i < A; ++i) tmp[i][s] = o[i];
    }
    for (int i = 0; i < A; ++i) {
      V o[A];
      T::input_1d(tmp[i], o);
      for (int k = 0; k < A; ++k) I::store(v + (i * A + k) * v_stride + t, o[k]);
    }
  }
}

// One output element of tile `t` (row u, column w) with residual and clamp (NaN passes through).
// Templates on I, like everything here, so that each ISA's file keeps its own copy.
template <class I>
void store_one(const WinogradStore& st, int64_t t, int u, int w, float v) {
  const int64_t at = st.off[t] + u * st.out_w + w;
  if (st.residual) v += st.residual[at];
  v = v < st.lo ? st.lo : v;
  st.y[at] = v > st.hi ? st.hi : v;
}

// Row u of L tiles from tr[k][4q + w] = tile 4q + k's element w (the 4x4 lane transpose of the
// SIMD traits' store4): full rows as one 4-float SSE operation, partial ones element by element.
template <class I>
void store_rows4(const float* tr, const WinogradStore& st, int64_t t, int u) {
  const __m128 lo = _mm_set1_ps(st.lo), hi = _mm_set1_ps(st.hi);
  for (int j = 0; j < I::L; ++j) {
    const int64_t tile = t + j;
    if (u >= st.rows[tile]) continue;
    const float* src = tr + (j % 4) * I::L + (j / 4) * 4;
    const int64_t at = st.off[tile] + u * st.out_w;
    if (st.cols[tile] == 4) {
      __m128 v = _mm_loadu_ps(src);
      if (st.residual) v = _mm_add_ps(v, _mm_loadu_ps(st.residual + at));
      v = _mm_min_ps(hi, _mm_max_ps(lo, v));  // NaN passes through: max/min return the second operand
      _mm_storeu_ps(st.y + at, v);
    } else {
      for (int w = 0; w < st.cols[tile]; ++w) store_one<I>(st, tile, u, w, src[w]);
    }
  }
}

// Y = clamp(A^T Mt A + bias + residual) for nr tiles (nr a multiple of L). With I::kStore4 (m = 4),
// the traits' store4(o[4], st, t, u) writes row u of L tiles as 4-float runs; otherwise the
// lanes go through a buffer, one element at a time.
template <class I, int M>
void output(const float* mt, int64_t mt_stride, int64_t nr, const WinogradStore& st) {
  using T = Transform<I, M>;
  using V = typename I::V;
  constexpr int A = T::kAlpha;
  const V vb = I::set1(st.bias);
  for (int64_t t = 0; t < nr; t += I::L) {
    V tmp[M][A];  // tmp[u][k] = (A^T Mt)[u][k]
    for (int k = 0; k < A; ++k) {
      V col[A], o[M];
      for (int i = 0; i < A; ++i) col[i] = I::load(mt + (i * A + k) * mt_stride + t);
      T::output_1d(col, o);
      for (int u = 0; u < M; ++u) tmp[u][k] = o[u];
    }
    alignas(64) float buf[M][M][I::L];
    for (int u = 0; u < M; ++u) {
      V o[M];
      T::output_1d(tmp[u], o);
      for (int w = 0; w < M; ++w) o[w] = I::add(o[w], vb);
      if constexpr (M == 4 && I::kStore4) {
        I::store4(o, st, t, u);
      } else {
        for (int w = 0; w < M; ++w) I::store(buf[u][w], o[w]);
      }
    }
    if constexpr (!(M == 4 && I::kStore4)) {
      for (int j = 0; j < I::L; ++j) {
        const int rows = st.rows[t + j], cols = st.cols[t + j];
        for (int u = 0; u < rows; ++u)
          for (int w = 0; w < cols; ++w) store_one<I>(st, t + j, u, w, buf[u][w][j]);
      }
    }
  }
}

}  // namespace fi::kernels::wino

// Defines name_input / name_output for tile size m over traits I (in namespace fi::kernels).
#define FI_WINOGRAD_DEFINE(I, name, m)                                                          \
  void name##_input(const WinogradPatches& d, int64_t nr, float* v, int64_t vs) {               \
    wino::input<I, m>(d, nr, v, vs);                                                            \
  }                                                                                             \
  void name##_output(const float* mt, int64_t ms, int64_t nr, const WinogradStore& st) {       \
    wino::output<I, m>(mt, ms, nr, st);                                                         \
  }
