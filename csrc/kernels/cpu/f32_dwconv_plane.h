// The depthwise conv plane kernel, written once over an ISA traits struct and explicitly
// instantiated per ISA and specialisation in kernels/cpu/<isa>/. No intrinsics here. The traits
// supply: V (vector), L (lanes), kFlatMaxVectors, Mask, set1, add, fmadd, min, max, mask_bits(bits, n),
//   mask<S>(lo, hi, n) n <= L outputs at input stride S, of whose input elements p[j] only
//                     lo <= j < hi are read (the others count as zero),
//   loadf<S>(p)       p[0], p[S], ..., p[(L-1)S], reading nothing past p[(L-1)S],
//   loadm<S>(p, m)    the same under mask m (masked elements are never touched, so p may point
//                     before the row: that is how the edge blocks read the zero padding),
//   store(p, v, m)    the first n lanes; storef(p, v) all L lanes.
// Layout and epilogue as in kernels/dwconv.h.
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

// What every block of one plane shares.
template <class Isa>
struct PlaneCtx {
  using V = typename Isa::V;
  const V* wreg;   // broadcast weights (fixed kernel sizes), else null
  const float* w;  // kh x kw weights
  int64_t kw, dw, row_step, out_row_in;  // taps per row, dilation (w), input floats per kernel row
                                         // and per output row
  V vb, vlo, vhi;
};

// R output rows x NV vectors of columns, the last one under mask mk[0] (PerKx: mk[kx] for tap
// column kx, the edges): input r is tap (ky0, 0) of the first output; output yo, row stride ys.
template <class Isa, int KW, int SW, int NV, int R, bool PerKx = false>
inline void block(const PlaneCtx<Isa>& c, const float* r, int64_t ky0, int64_t ky1, const typename Isa::Mask* mk,
                  float* yo, int64_t ys) {
  using V = typename Isa::V;
  constexpr int L = Isa::L;
  const int64_t kw = KW ? KW : c.kw;
  // Few output vectors: alternate kernel rows between A accumulator sets, so the FMA chains are
  // shorter than the tap count.
  constexpr int A = NV * R < 4 ? 2 : 1;
  V acc[A][R][NV];
  for (int a = 0; a < A; ++a)
    for (int i = 0; i < R; ++i)
      for (int u = 0; u < NV; ++u) acc[a][i][u] = a == 0 ? c.vb : Isa::set1(0.f);
  for (int64_t ky = ky0; ky < ky1; ky += A) {
    for (int a = 0; a < A; ++a) {
      if (a > 0 && ky + a >= ky1) break;
      const int64_t kr = ky + a;
      const float* rk = r + (kr - ky0) * c.row_step;
      for (int64_t kx = 0; kx < kw; ++kx) {
        const V wv = c.wreg ? c.wreg[kr * kw + kx] : Isa::set1(c.w[kr * kw + kx]);
        for (int i = 0; i < R; ++i) {
          const float* p = rk + i * c.out_row_in + kx * c.dw;
          for (int u = 0; u < NV - 1; ++u)
            acc[a][i][u] = Isa::fmadd(wv, Isa::template loadf<SW>(p + u * L * SW), acc[a][i][u]);
          acc[a][i][NV - 1] = Isa::fmadd(wv, Isa::template loadm<SW>(p + (NV - 1) * L * SW, mk[PerKx ? kx : 0]),
                                         acc[a][i][NV - 1]);
        }
      }
    }
  }
  for (int i = 0; i < R; ++i) {
    for (int u = 0; u < NV; ++u)
      if (A > 1) acc[0][i][u] = Isa::add(acc[0][i][u], acc[A - 1][i][u]);
    for (int u = 0; u < NV - 1; ++u)
      Isa::storef(yo + i * ys + u * L, Isa::min(c.vhi, Isa::max(c.vlo, acc[0][i][u])));
    Isa::store(yo + i * ys + (NV - 1) * L, Isa::min(c.vhi, Isa::max(c.vlo, acc[0][i][NV - 1])), mk[0]);
  }
}

// Columns [c0, c1) of R output rows: full blocks of U vectors, then one block of the rest.
template <class Isa, int KW, int SW, int U, int R>
inline void row_span(const PlaneCtx<Isa>& c, const float* xr, int64_t ky0, int64_t ky1, int64_t c0, int64_t c1,
                     int64_t pad_left, float* yr, int64_t ys) {
  constexpr int L = Isa::L;
  const typename Isa::Mask full = Isa::template mask<SW>(0, (L - 1) * SW + 1, L);
  int64_t ox = c0;
  for (; ox + U * L <= c1; ox += U * L)
    block<Isa, KW, SW, U, R>(c, xr + ox * SW - pad_left, ky0, ky1, &full, yr + ox, ys);
  const int64_t rem = c1 - ox;
  if (rem <= 0) return;
  const int nv = int((rem + L - 1) / L);
  const int64_t nl = rem - int64_t(nv - 1) * L;
  const typename Isa::Mask mm = Isa::template mask<SW>(0, (nl - 1) * SW + 1, nl);
  const typename Isa::Mask* m = &mm;
  const float* p = xr + ox * SW - pad_left;
  switch (nv) {
    case 1: block<Isa, KW, SW, 1, R>(c, p, ky0, ky1, m, yr + ox, ys); break;
    case 2: block<Isa, KW, SW, 2, R>(c, p, ky0, ky1, m, yr + ox, ys); break;
    case 3: if constexpr (U >= 3) block<Isa, KW, SW, 3, R>(c, p, ky0, ky1, m, yr + ox, ys); break;
    case 4: if constexpr (U >= 4) block<Isa, KW, SW, 4, R>(c, p, ky0, ky1, m, yr + ox, ys); break;
    default: if constexpr (U >= 5) block<Isa, KW, SW, 5, R>(c, p, ky0, ky1, m, yr + ox, ys); break;
  }
}

constexpr int kMaxEdgeKw = 16;  // wider kernels run their edge columns scalar
constexpr int kMaxEdgeBlocks = 4;  // more edge vectors (huge pads) run scalar too

// Vector blocks of edge columns [ox, ox + n), n <= L, with each tap column's loads masked to the
// input row (taps in the padding read nothing), the same for every row of the plane.
template <class Isa>
struct EdgeBlock {
  int64_t ox = 0, n = 0;
  typename Isa::Mask mk[kMaxEdgeKw];
};

template <class Isa, int SW>
inline void make_edge_block(const DwConvGeom& g, int64_t ox, int64_t n, EdgeBlock<Isa>& e) {
  e.ox = ox;
  e.n = n;
  const int64_t span = (n - 1) * SW + 1;
  for (int64_t kx = 0; kx < g.kw; ++kx) {
    const int64_t b = ox * SW - g.pad_left + kx * g.dil_w;  // input column of element 0
    e.mk[kx] = Isa::template mask<SW>(std::clamp<int64_t>(-b, 0, span), std::clamp<int64_t>(g.in_w - b, 0, span), n);
  }
}

constexpr int64_t kFlatMaxTaps = 25;

// The flat path, for stride 1 with in_w == out_w (e.g. 3x3 pad 1): the output plane is one run
// of out_h * out_w values, and tap t reads the input at o + off[t] for output o, under a mask
// (per tap and vector) of the lanes whose tap is inside the plane. The masks depend only on the
// geometry and are made once for all planes of a call; small planes then run as whole vectors.
template <class Isa>
struct FlatPlan {
  int64_t nvec = 0, taps = 0;
  int64_t off[kFlatMaxTaps];
  typename Isa::Mask mk[kFlatMaxTaps * Isa::kFlatMaxVectors];  // [tap][vector]
  typename Isa::Mask store[Isa::kFlatMaxVectors];
};

// Isa::kFlatMaxVectors bounds the plane size (and the plan's size on the stack).
template <class Isa>
inline bool flat_fits(const DwConvGeom& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.in_w == g.out_w && g.kh * g.kw <= kFlatMaxTaps &&
         g.out_h * g.out_w <= Isa::kFlatMaxVectors * Isa::L;
}

template <class Isa>
void make_flat_plan(const DwConvGeom& g, FlatPlan<Isa>& fp) {
  constexpr int L = Isa::L;
  const int64_t n = g.out_h * g.out_w;
  fp.nvec = (n + L - 1) / L;
  fp.taps = g.kh * g.kw;
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t t = ky * g.kw + kx, dy = ky * g.dil_h - g.pad_top, dx = kx * g.dil_w - g.pad_left;
      fp.off[t] = dy * g.in_w + dx;
      for (int64_t v = 0; v < fp.nvec; ++v) {
        uint32_t bits = 0;
        for (int lane = 0; lane < L; ++lane) {
          const int64_t o = v * L + lane, iy = o / g.out_w + dy, ix = o % g.out_w + dx;
          if (o < n && iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w) bits |= 1u << lane;
        }
        fp.mk[t * Isa::kFlatMaxVectors + v] = Isa::mask_bits(bits, std::min<int64_t>(L, n - v * L));
      }
    }
  for (int64_t v = 0; v < fp.nvec; ++v)
    fp.store[v] = Isa::mask_bits((1u << std::min<int64_t>(L, n - v * L)) - 1, std::min<int64_t>(L, n - v * L));
}

// NV vectors from vector v0 of a flat plane.
template <class Isa, int KH, int KW, int NV>
inline void flat_block(const PlaneCtx<Isa>& c, const FlatPlan<Isa>& fp, const float* x, int64_t v0, float* y) {
  using V = typename Isa::V;
  constexpr int L = Isa::L;
  const int64_t taps = KH && KW ? KH * KW : fp.taps;
  V acc[NV];
  for (int u = 0; u < NV; ++u) acc[u] = c.vb;
  for (int64_t t = 0; t < taps; ++t) {
    const V wv = c.wreg ? c.wreg[t] : Isa::set1(c.w[t]);
    const float* p = x + v0 * L + fp.off[t];
    const typename Isa::Mask* m = fp.mk + t * Isa::kFlatMaxVectors + v0;
    for (int u = 0; u < NV; ++u) acc[u] = Isa::fmadd(wv, Isa::template loadm<1>(p + u * L, m[u]), acc[u]);
  }
  for (int u = 0; u < NV; ++u)
    Isa::store(y + (v0 + u) * L, Isa::min(c.vhi, Isa::max(c.vlo, acc[u])), fp.store[v0 + u]);
}

// KH, KW: fixed kernel size (0: g.kh, g.kw); SW: width stride (callers guarantee g.stride_w == SW);
// U (2..5): vectors per block of output columns. `count` planes: plane i reads x + i * x_step
// (x_step 0: one input plane for all, a channel multiplier), weights w + i * kh * kw, writes
// y + i * out_h * out_w, bias ep.bias[i] when ep.bias. Small stride-1 planes whose width the conv
// keeps run flat (above). Otherwise rows whose taps are all inside the plane run two at a time,
// and the left/right edge columns as vectors with per-tap-column load masks (scalar with bounds
// checks for kernels wider than kMaxEdgeKw); the masks are made once per call.
template <class Isa, int KH, int KW, int SW, int U>
void planes(const DwConvGeom& g, int64_t count, const float* x, int64_t x_step, const float* w, float* y,
            const Epilogue& ep) {
  static_assert(U >= 2 && U <= 5, "U in 2..5");
  using V = typename Isa::V;
  constexpr int L = Isa::L;
  constexpr bool kFixed = KH > 0 && KW > 0;
  const float lo = ep.clamp_min, hi = ep.clamp_max;
  const int64_t taps = g.kh * g.kw, out_plane = g.out_h * g.out_w;
  V wreg[kFixed ? KH * KW : 1];
  PlaneCtx<Isa> c{kFixed ? wreg : nullptr, w, g.kw, g.dil_w, g.dil_h * g.in_w, g.stride_h * g.in_w,
                  Isa::set1(0.f), Isa::set1(lo), Isa::set1(hi)};
  auto start_plane = [&](int64_t i) {
    c.w = w + i * taps;
    if (kFixed)
      for (int k = 0; k < KH * KW; ++k) wreg[k] = Isa::set1(c.w[k]);
    c.vb = Isa::set1(ep.bias ? ep.bias[i] : 0.f);
  };

  if (SW == 1 && flat_fits<Isa>(g)) {
    FlatPlan<Isa> fp;
    make_flat_plan(g, fp);
    for (int64_t i = 0; i < count; ++i) {
      start_plane(i);
      const float* xi = x + i * x_step;
      float* yi = y + i * out_plane;
      int64_t v = 0;
      for (; v + 4 <= fp.nvec; v += 4) flat_block<Isa, KH, KW, 4>(c, fp, xi, v, yi);
      switch (fp.nvec - v) {
        case 1: flat_block<Isa, KH, KW, 1>(c, fp, xi, v, yi); break;
        case 2: flat_block<Isa, KH, KW, 2>(c, fp, xi, v, yi); break;
        case 3: flat_block<Isa, KH, KW, 3>(c, fp, xi, v, yi); break;
        default: break;
      }
    }
    return;
  }

  int64_t c0, c1;
  interior_cols(g, c0, c1);
  // Output columns [0, e0) and [e1, out_w) are edges, [e0, e1) whole interior vectors.
  const int64_t e0 = std::min<int64_t>((c0 + L - 1) / L * L, g.out_w);
  const int64_t e1 = c1 > e0 ? e0 + (c1 - e0) / L * L : e0;
  EdgeBlock<Isa> eb[kMaxEdgeBlocks];
  int n_eb = 0;
  const bool vec_edges = g.kw <= kMaxEdgeKw && e0 / L + (g.out_w - e1 + L - 1) / L <= kMaxEdgeBlocks;
  if (vec_edges) {
    for (int64_t ox = 0; ox < e0; ox += L) make_edge_block<Isa, SW>(g, ox, std::min<int64_t>(L, e0 - ox), eb[n_eb++]);
    for (int64_t ox = e1; ox < g.out_w; ox += L)
      make_edge_block<Isa, SW>(g, ox, std::min<int64_t>(L, g.out_w - ox), eb[n_eb++]);
  }
  const int64_t i0 = vec_edges ? e0 : c0, i1 = vec_edges ? e1 : c1;  // the interior run by row_span
  for (int64_t i = 0; i < count; ++i) {
    start_plane(i);
    const float* xi = x + i * x_step;
    float* yi = y + i * out_plane;
    const float bias = ep.bias ? ep.bias[i] : 0.f;
    auto edges = [&](auto rows_tag, const float* xr, int64_t oy, int64_t ky0, int64_t ky1) {
      constexpr int R = decltype(rows_tag)::value;
      float* yr = yi + oy * g.out_w;
      for (int e = 0; e < n_eb; ++e)
        block<Isa, KW, SW, 1, R, true>(c, xr + eb[e].ox * SW - g.pad_left, ky0, ky1, eb[e].mk, yr + eb[e].ox, g.out_w);
      if (vec_edges) return;
      for (int r = 0; r < R; ++r) {
        float* yo = yr + r * g.out_w;
        for (int64_t ox = 0; ox < c0; ++ox) yo[ox] = clampf(point(g, xi, c.w, oy + r, ky0, ky1, ox, bias), lo, hi);
        for (int64_t ox = c1; ox < g.out_w; ++ox)
          yo[ox] = clampf(point(g, xi, c.w, oy + r, ky0, ky1, ox, bias), lo, hi);
      }
    };
    for (int64_t oy = 0; oy < g.out_h;) {
      int64_t ky0, ky1, ky0b = 0, ky1b = 0;
      tap_rows(g, oy, ky0, ky1);
      const bool pair = oy + 1 < g.out_h && ky0 == 0 && ky1 == g.kh &&
                        (tap_rows(g, oy + 1, ky0b, ky1b), ky0b == 0 && ky1b == g.kh);
      // Input row of kernel row ky0 (inside the plane when ky1 > ky0; not read otherwise).
      const float* xr = xi + (ky1 > ky0 ? (oy * g.stride_h - g.pad_top + ky0 * g.dil_h) * g.in_w : 0);
      float* yr = yi + oy * g.out_w;
      if (pair) {
        row_span<Isa, KW, SW, U, 2>(c, xr, 0, g.kh, i0, i1, g.pad_left, yr, g.out_w);
        edges(std::integral_constant<int, 2>{}, xr, oy, 0, g.kh);
        oy += 2;
      } else {
        row_span<Isa, KW, SW, U, 1>(c, xr, ky0, ky1, i0, i1, g.pad_left, yr, g.out_w);
        edges(std::integral_constant<int, 1>{}, xr, oy, ky0, ky1);
        oy += 1;
      }
    }
  }
}

}  // namespace fi::kernels::dw
