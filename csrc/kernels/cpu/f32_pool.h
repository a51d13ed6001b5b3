// The fp32 pooling primitives of kernels/pool.h, written once over a vector traits type T (ref: one
// float; AVX2: 8 floats; AVX-512: 16 floats) and instantiated in each ISA directory. T provides V, L,
// set1, load, loadn (first n lanes, rest zero), store, storen (first n lanes), add, mul, max (max(x, acc)
// returns acc when x is NaN), bor/band (bitwise or / and), and for L > 1 even/odd (the even / odd lanes of
// two consecutive vectors).
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/pool.h"

namespace fi::kernels {

#define FI_POOL_DECLARE(isa)                                                                                     \
  void f32_pool_fold__##isa(bool max, const float* const* rows, int64_t n, int64_t len, float* dst);             \
  void f32_pool_fold_rows__##isa(bool max, const float* x, int64_t tap_step, int64_t kh, int64_t row_step,     \
                                 int64_t n_out, int64_t len, float* dst, int64_t dst_step);                      \
  void f32_pool_hwin_nhwc__##isa(bool max, const float* buf, int64_t C, int64_t ow, int64_t kw, int64_t sw,      \
                                 int64_t dw, const float* scale, float* y);                                      \
  void f32_pool_hwin_flat__##isa(bool max, const float* buf, int64_t n, int64_t kw, int64_t sw,                 \
                                 const float* masks, const float* scale, float* y);                              \
  void f32_pool_hwin_plane__##isa(bool max, const float* buf, int64_t buf_step, int64_t rows, int64_t ow,      \
                                  int64_t kw, int64_t sw, const float* scale, float* y);
FI_POOL_DECLARE(ref)
FI_POOL_DECLARE(avx2)
FI_POOL_DECLARE(avx512)
#undef FI_POOL_DECLARE

namespace poolk {

constexpr float kLowest = std::numeric_limits<float>::lowest();

// acc op x; max keeps acc when x is NaN.
template <class T, bool Max>
inline typename T::V op(typename T::V x, typename T::V acc) {
  if constexpr (Max) return T::max(x, acc);
  else return T::add(x, acc);
}

// The accumulator of a window's first element.
template <class T, bool Max>
inline typename T::V first(typename T::V x) {
  if constexpr (Max) return T::max(x, T::set1(kLowest));
  else return x;
}

template <bool Max>
inline float sop(float x, float acc) {
  if constexpr (Max) return x > acc ? x : acc;
  else return x + acc;
}

// dst[i] = op over r < n of row(r)[i], i < len.
template <class T, bool Max, class Row>
inline void fold_core(Row row, int64_t n, int64_t len, float* dst) {
  using V = typename T::V;
  constexpr int64_t L = T::L;
  int64_t i = 0;
  if (n <= 0) {
    const V init = T::set1(Max ? kLowest : 0.f);
    for (; i + L <= len; i += L) T::store(dst + i, init);
    if (i < len) T::storen(dst + i, init, len - i);
    return;
  }
  const float* r0 = row(0);
  for (; i + 4 * L <= len; i += 4 * L) {
    V a0 = first<T, Max>(T::load(r0 + i)), a1 = first<T, Max>(T::load(r0 + i + L));
    V a2 = first<T, Max>(T::load(r0 + i + 2 * L)), a3 = first<T, Max>(T::load(r0 + i + 3 * L));
    for (int64_t r = 1; r < n; ++r) {
      const float* p = row(r) + i;
      a0 = op<T, Max>(T::load(p), a0);
      a1 = op<T, Max>(T::load(p + L), a1);
      a2 = op<T, Max>(T::load(p + 2 * L), a2);
      a3 = op<T, Max>(T::load(p + 3 * L), a3);
    }
    T::store(dst + i, a0);
    T::store(dst + i + L, a1);
    T::store(dst + i + 2 * L, a2);
    T::store(dst + i + 3 * L, a3);
  }
  for (; i + L <= len; i += L) {
    V a = first<T, Max>(T::load(r0 + i));
    for (int64_t r = 1; r < n; ++r) a = op<T, Max>(T::load(row(r) + i), a);
    T::store(dst + i, a);
  }
  if (i < len) {
    const int64_t m = len - i;
    V a = first<T, Max>(T::loadn(r0 + i, m));
    for (int64_t r = 1; r < n; ++r) a = op<T, Max>(T::loadn(row(r) + i, m), a);
    T::storen(dst + i, a, m);
  }
}

template <class T, bool Max>
void fold(const float* const* rows, int64_t n, int64_t len, float* dst) {
  fold_core<T, Max>([rows](int64_t r) { return rows[r]; }, n, len, dst);
}

template <class T, bool Max>
void fold_rows(const float* x, int64_t tap_step, int64_t kh, int64_t row_step, int64_t n_out, int64_t len,
               float* dst, int64_t dst_step) {
  if (row_step == len && dst_step == len) {  // consecutive rows: one flat pass
    fold_core<T, Max>([x, tap_step](int64_t r) { return x + r * tap_step; }, kh, n_out * len, dst);
    return;
  }
  for (int64_t o = 0; o < n_out; ++o) {
    const float* xo = x + o * row_step;
    fold_core<T, Max>([xo, tap_step](int64_t r) { return xo + r * tap_step; }, kh, len, dst + o * dst_step);
  }
}

// Channels [c, c + nb*L) of one output pixel (nb full vectors).
template <class T, bool Max, int NB>
inline void pixel_vectors(const float* b, int64_t kstep, int64_t kw, const typename T::V* sc, float* y) {
  using V = typename T::V;
  V a[NB];
  for (int j = 0; j < NB; ++j) a[j] = first<T, Max>(T::load(b + j * T::L));
  for (int64_t k = 1; k < kw; ++k)
    for (int j = 0; j < NB; ++j) a[j] = op<T, Max>(T::load(b + k * kstep + j * T::L), a[j]);
  for (int j = 0; j < NB; ++j) T::store(y + j * T::L, sc ? T::mul(a[j], *sc) : a[j]);
}

template <class T, bool Max>
void hwin_nhwc(const float* buf, int64_t C, int64_t ow, int64_t kw, int64_t sw, int64_t dw, const float* scale,
               float* y) {
  using V = typename T::V;
  constexpr int64_t L = T::L;
  const int64_t kstep = dw * C;
  for (int64_t ox = 0; ox < ow; ++ox) {
    const float* b = buf + ox * sw * C;
    float* yo = y + ox * C;
    V s;
    const V* sc = nullptr;
    if (scale) {
      s = T::set1(scale[ox]);
      sc = &s;
    }
    int64_t c = 0;
    for (; c + 4 * L <= C; c += 4 * L) pixel_vectors<T, Max, 4>(b + c, kstep, kw, sc, yo + c);
    for (; c + L <= C; c += L) pixel_vectors<T, Max, 1>(b + c, kstep, kw, sc, yo + c);
    if (c < C) {
      const int64_t m = C - c;
      V a = first<T, Max>(T::loadn(b + c, m));
      for (int64_t k = 1; k < kw; ++k) a = op<T, Max>(T::loadn(b + k * kstep + c, m), a);
      T::storen(yo + c, sc ? T::mul(a, s) : a, m);
    }
  }
}

template <class T, bool Max>
void hwin_plane_row(const float* buf, int64_t ow, int64_t kw, int64_t sw, const float* scale, float* y) {
  using V = typename T::V;
  constexpr int64_t L = T::L;
  auto put = [&](int64_t ox, V a) {
    const int64_t m = ow - ox;
    if (m >= L) T::store(y + ox, scale ? T::mul(a, T::load(scale + ox)) : a);
    else T::storen(y + ox, scale ? T::mul(a, T::loadn(scale + ox, m)) : a, m);
  };
  if (sw == 1) {
    for (int64_t ox = 0; ox < ow; ox += L) {
      const float* p = buf + ox;
      V a = first<T, Max>(T::load(p));
      for (int64_t k = 1; k < kw; ++k) a = op<T, Max>(T::load(p + k), a);
      put(ox, a);
    }
    return;
  }
  if constexpr (L > 1) {
    if (sw == 2) {
      for (int64_t ox = 0; ox < ow; ox += L) {
        const float* p = buf + 2 * ox;
        V lo = T::load(p), hi = T::load(p + L);
        V a = first<T, Max>(T::even(lo, hi));
        if (kw > 1) a = op<T, Max>(T::odd(lo, hi), a);
        for (int64_t k = 2; k < kw; k += 2) {
          lo = T::load(p + k);
          hi = T::load(p + k + L);
          a = op<T, Max>(T::even(lo, hi), a);
          if (k + 1 < kw) a = op<T, Max>(T::odd(lo, hi), a);
        }
        put(ox, a);
      }
      return;
    }
  }
  for (int64_t ox = 0; ox < ow; ++ox) {
    const float* p = buf + ox * sw;
    float a = sop<Max>(p[0], Max ? kLowest : 0.f);
    for (int64_t k = 1; k < kw; ++k) a = sop<Max>(p[k], a);
    y[ox] = scale ? a * scale[ox] : a;
  }
}

// Tap k of outputs [j, j + L) of a flat plane: buf[(j + i)*sw + k].
template <class T>
inline typename T::V flat_tap(const float* buf, int64_t j, int64_t sw, int64_t k) {
  if constexpr (T::L > 1) {
    if (sw == 2) {
      const float* p = buf + 2 * j + (k & ~int64_t(1));
      return (k & 1) ? T::odd(T::load(p), T::load(p + T::L)) : T::even(T::load(p), T::load(p + T::L));
    }
  }
  return T::load(buf + j * sw + k);
}

template <class T, bool Max>
void hwin_flat(const float* buf, int64_t n, int64_t kw, int64_t sw, const float* masks, const float* scale,
               float* y) {
  using V = typename T::V;
  constexpr int64_t L = T::L;
  for (int64_t j = 0; j < n; j += L) {
    V a = T::set1(Max ? kLowest : 0.f);
    for (int64_t k = 0; k < kw; ++k) {
      const V x = flat_tap<T>(buf, j, sw, k);
      const V m = T::load(masks + k * n + j);
      // max: an invalid tap becomes NaN (all bits set), which max skips; sum: it becomes +0
      a = Max ? T::max(T::bor(x, m), a) : T::add(T::band(x, m), a);
    }
    const int64_t r = n - j;
    if (r >= L) T::store(y + j, scale ? T::mul(a, T::load(scale + j)) : a);
    else T::storen(y + j, scale ? T::mul(a, T::loadn(scale + j, r)) : a, r);
  }
}

template <class T, bool Max>
void hwin_plane(const float* buf, int64_t buf_step, int64_t rows, int64_t ow, int64_t kw, int64_t sw,
                const float* scale, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    hwin_plane_row<T, Max>(buf + r * buf_step, ow, kw, sw, scale ? scale + r * ow : nullptr, y + r * ow);
}

}  // namespace poolk

// Defines the three entry points of one ISA from its traits type.
#define FI_POOL_DEFINE(isa, T)                                                                                   \
  void f32_pool_fold__##isa(bool max, const float* const* rows, int64_t n, int64_t len, float* dst) {            \
    max ? poolk::fold<T, true>(rows, n, len, dst) : poolk::fold<T, false>(rows, n, len, dst);                     \
  }                                                                                                               \
  void f32_pool_fold_rows__##isa(bool max, const float* x, int64_t tap_step, int64_t kh, int64_t row_step,     \
                                 int64_t n_out, int64_t len, float* dst, int64_t dst_step) {                     \
    max ? poolk::fold_rows<T, true>(x, tap_step, kh, row_step, n_out, len, dst, dst_step)                        \
        : poolk::fold_rows<T, false>(x, tap_step, kh, row_step, n_out, len, dst, dst_step);                      \
  }                                                                                                               \
  void f32_pool_hwin_nhwc__##isa(bool max, const float* buf, int64_t C, int64_t ow, int64_t kw, int64_t sw,      \
                                 int64_t dw, const float* scale, float* y) {                                     \
    max ? poolk::hwin_nhwc<T, true>(buf, C, ow, kw, sw, dw, scale, y)                                            \
        : poolk::hwin_nhwc<T, false>(buf, C, ow, kw, sw, dw, scale, y);                                          \
  }                                                                                                               \
  void f32_pool_hwin_flat__##isa(bool max, const float* buf, int64_t n, int64_t kw, int64_t sw,                 \
                                 const float* masks, const float* scale, float* y) {                             \
    max ? poolk::hwin_flat<T, true>(buf, n, kw, sw, masks, scale, y)                                             \
        : poolk::hwin_flat<T, false>(buf, n, kw, sw, masks, scale, y);                                           \
  }                                                                                                               \
  void f32_pool_hwin_plane__##isa(bool max, const float* buf, int64_t buf_step, int64_t rows, int64_t ow,      \
                                  int64_t kw, int64_t sw, const float* scale, float* y) {                        \
    max ? poolk::hwin_plane<T, true>(buf, buf_step, rows, ow, kw, sw, scale, y)                                  \
        : poolk::hwin_plane<T, false>(buf, buf_step, rows, ow, kw, sw, scale, y);                                \
  }

}  // namespace fi::kernels
