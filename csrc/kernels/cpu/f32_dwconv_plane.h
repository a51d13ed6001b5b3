// The depthwise conv plane kernel, written once over an ISA traits struct (kernels/cpu/<isa>/
// supply V, L, set1, fmadd, min, max, load<S>(p, n) = p[0], p[S], ..., p[(n-1)S] for n <= L, zero
// lanes past n, and store(p, v, n)) and explicitly instantiated per ISA and specialisation. No
// intrinsics here. Layout and epilogue as in kernels/dwconv.h.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/dwconv.h"

namespace fi::kernels::dw {

// [ky0, ky1): the kernel rows whose input row is inside the plane for output row oy.
inline void tap_rows(const DwConvGeom& g, int64_t oy, int64_t& ky0, int64_t& ky1) {
  const int64_t iy0 = oy * g.stride_h - g.pad_top;
  ky0 = iy0 >= 0 ? 0 : (-iy0 + g.dil_h - 1) / g.dil_h;
  ky1 = iy0 > g.in_h - 1 ? 0 : std::min<int64_t>(g.kh, (g.in_h - 1 - iy0) / g.dil_h + 1);
  if (ky1 < ky0) ky1 = ky0;
}

// [lo, hi): the output columns whose taps all lie inside the row (the vectorised interior).
inline void interior_cols(const DwConvGeom& g, int64_t& lo, int64_t& hi) {
  lo = g.pad_left > 0 ? (g.pad_left + g.stride_w - 1) / g.stride_w : 0;
  const int64_t last = g.in_w - 1 + g.pad_left - (g.kw - 1) * g.dil_w;
  hi = last < 0 ? 0 : last / g.stride_w + 1;
  lo = std::min(lo, g.out_w);
  hi = std::min(std::max(hi, lo), g.out_w);
}

inline float clampf(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;  // NaN passes through
}

// One output element with every tap bounds-checked (edges, and the whole of the ref kernel).
inline float point(const DwConvGeom& g, const float* x, const float* w, int64_t oy, int64_t ky0, int64_t ky1,
                   int64_t ox, float acc) {
  const int64_t iy0 = oy * g.stride_h - g.pad_top, ix0 = ox * g.stride_w - g.pad_left;
  for (int64_t ky = ky0; ky < ky1; ++ky) {
    const float* row = x + (iy0 + ky * g.dil_h) * g.in_w;
    const float* wr = w + ky * g.kw;
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t ix = ix0 + kx * g.dil_w;
      if (ix >= 0 && ix < g.in_w) acc += wr[kx] * row[ix];
    }
  }
  return acc;
}

// KH, KW: fixed kernel size (0: g.kh, g.kw); SW: width stride (the op guarantees g.stride_w == SW);
// U: vectors per block of output columns (independent accumulators).
template <class Isa, int KH, int KW, int SW, int U>
void plane(const DwConvGeom& g, const float* x, const float* w, float* y, const Epilogue& ep) {
  using V = typename Isa::V;
  constexpr int L = Isa::L;
  constexpr bool kFixed = KH > 0 && KW > 0;
  const int64_t kw = kFixed ? KW : g.kw, dw = g.dil_w, dh = g.dil_h;
  const float bias = ep.bias ? *ep.bias : 0.f;
  const float lo = ep.clamp_min, hi = ep.clamp_max;
  const V vb = Isa::set1(bias), vlo = Isa::set1(lo), vhi = Isa::set1(hi);
  V wreg[kFixed ? KH * KW : 1];
  if (kFixed)
    for (int i = 0; i < KH * KW; ++i) wreg[i] = Isa::set1(w[i]);
  int64_t c0, c1;
  interior_cols(g, c0, c1);

  // n output columns from yo on, with kernel rows ky0..ky1; r is the input of tap (ky0, 0) of the
  // first column. Full: n == U * L.
  auto block = [&](auto full_tag, const float* r, int64_t ky0, int64_t ky1, int64_t n, float* yo) {
    constexpr bool Full = decltype(full_tag)::value;
    V acc[U];
    for (int u = 0; u < U; ++u) acc[u] = vb;
    for (int64_t ky = ky0; ky < ky1; ++ky) {
      const float* rr = r + (ky - ky0) * dh * g.in_w;
      for (int64_t kx = 0; kx < kw; ++kx) {
        const V wv = kFixed ? wreg[ky * KW + kx] : Isa::set1(w[ky * kw + kx]);
        const float* p = rr + kx * dw;
        for (int u = 0; u < U; ++u) {
          const int64_t nu = Full ? L : n - int64_t(u) * L;
          if (!Full && nu <= 0) break;
          acc[u] = Isa::fmadd(wv, Isa::template load<SW>(p + u * L * SW, Full ? L : std::min<int64_t>(nu, L)),
                              acc[u]);
        }
      }
    }
    for (int u = 0; u < U; ++u) {
      const int64_t nu = Full ? L : n - int64_t(u) * L;
      if (!Full && nu <= 0) break;
      Isa::store(yo + u * L, Isa::min(vhi, Isa::max(vlo, acc[u])), Full ? L : std::min<int64_t>(nu, L));
    }
  };

  for (int64_t oy = 0; oy < g.out_h; ++oy) {
    int64_t ky0, ky1;
    tap_rows(g, oy, ky0, ky1);
    float* yr = y + oy * g.out_w;
    for (int64_t ox = 0; ox < c0; ++ox) yr[ox] = clampf(point(g, x, w, oy, ky0, ky1, ox, bias), lo, hi);
    if (c1 > c0) {
      // Input row of kernel row ky0 (inside the plane when ky1 > ky0; unused otherwise).
      const float* xr = x + (ky1 > ky0 ? (oy * g.stride_h - g.pad_top + ky0 * dh) * g.in_w : 0);
      int64_t ox = c0;
      for (; ox + U * L <= c1; ox += U * L)
        block(std::true_type{}, xr + ox * SW - g.pad_left, ky0, ky1, U * L, yr + ox);
      if (ox < c1) block(std::false_type{}, xr + ox * SW - g.pad_left, ky0, ky1, c1 - ox, yr + ox);
    }
    for (int64_t ox = c1; ox < g.out_w; ++ox) yr[ox] = clampf(point(g, x, w, oy, ky0, ky1, ox, bias), lo, hi);
  }
}

}  // namespace fi::kernels::dw
