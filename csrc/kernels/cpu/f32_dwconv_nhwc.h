// The NHWC depthwise row kernels, written once over a vector traits type T (ref: one float; AVX2:
// 8 floats; AVX-512: 16 floats) and instantiated in each ISA directory (rows<T, Pairs>). T
// provides V, L, set1, load, loadn (first n lanes, rest zero), store, storen (first n lanes),
// fmadd, min, max.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/dwconv_nhwc.h"

namespace fi::kernels::dwnhwc {

constexpr int kPixels = 4;  // output pixels per pass, sharing each weight vector
constexpr int kPrefetchGroups = 3;

// Output pixels [ox, ox + np) (np <= kPixels) of row oy over channels [c, c + n) (n <= T::L;
// n == T::L uses full vectors). Interior: every tap of every pixel is inside the row.
template <class T, bool Full, bool Interior>
inline void pixels(const DwConvGeom& g, int64_t C, int64_t ky0, int64_t ky1, int64_t iy0, int64_t ox, int np,
                   int64_t c, int64_t n, const float* x, const float* w, const float* bias, float lo, float hi,
                   float* yrow) {
  using V = typename T::V;
  auto ld = [&](const float* p) { return Full ? T::load(p) : T::loadn(p, n); };
  const V b = bias ? ld(bias + c) : T::set1(0.f);
  V acc[kPixels];
  for (int p = 0; p < kPixels; ++p) acc[p] = b;
  for (int64_t ky = ky0; ky < ky1; ++ky) {
    const float* xrow = x + (iy0 + ky * g.dil_h) * g.in_w * C + c;
    const float* wrow = w + ky * g.kw * C + c;
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const V wv = ld(wrow + kx * C);
      const int64_t ix0 = ox * g.stride_w - g.pad_left + kx * g.dil_w;
      // Both loops have a constant trip count so the accumulators stay in registers.
      if (Interior) {
        for (int p = 0; p < kPixels; ++p) acc[p] = T::fmadd(ld(xrow + (ix0 + p * g.stride_w) * C), wv, acc[p]);
      } else {
        for (int p = 0; p < kPixels; ++p) {
          const int64_t ix = ix0 + p * g.stride_w;
          if (p < np && ix >= 0 && ix < g.in_w) acc[p] = T::fmadd(ld(xrow + ix * C), wv, acc[p]);
        }
      }
    }
  }
  const V vlo = T::set1(lo), vhi = T::set1(hi);
  for (int p = 0; p < kPixels; ++p) {
    if (!Interior && p >= np) break;
    const V v = T::min(T::max(acc[p], vlo), vhi);
    float* dst = yrow + (ox + p) * C + c;
    if (Full) T::store(dst, v);
    else T::storen(dst, v, n);
  }
}

// The fast form for a kernel width KW and stride SW known at compile time (dilation 1), for a
// group of kWidePixels output pixels: each input vector of a kernel row is loaded once and feeds
// every pixel whose window covers it (stride 1, 3 taps: 10 loads for 24 FMAs, where pixels<>
// loads 30), with the row's KW weight vectors in registers. Interior (Checked false): every tap
// of the kWidePixels pixels lies inside the row. Checked: the group may reach past either edge
// (taps there are the zero padding: their loads are skipped) and stores its first np pixels, so
// whole rows of 7 or 14 pixels (MobileNetV2's last stages) and the edges of wider rows take this
// form too, in place of 4-pixel groups that load every tap (MobileNetV2 at batch 1, 1 thread:
// its 14x14 and 7x7 blocks 0.93-0.95x the time, the model 0.94-0.95x; Zen 4).
constexpr int kWidePixels = 8;

template <class T, int KW, int SW, bool Full, bool Checked>
inline void pixels_wide(const DwConvGeom& g, int64_t C, int64_t ky0, int64_t ky1, int64_t iy0, int64_t ox, int np,
                        int64_t c, int64_t n, const float* x, const float* w, const float* bias, float lo, float hi,
                        float* yrow) {
  using V = typename T::V;
  constexpr int P = kWidePixels, NIN = (P - 1) * SW + KW;
  auto ld = [&](const float* p) { return Full ? T::load(p) : T::loadn(p, n); };
  const V b = bias ? ld(bias + c) : T::set1(0.f);
  V acc[P];
  for (int p = 0; p < P; ++p) acc[p] = b;
  const int64_t ix0 = ox * SW - g.pad_left;
  for (int64_t ky = ky0; ky < ky1; ++ky) {
    const float* xrow = x + (iy0 + ky * g.dil_h) * g.in_w * C + c;
    const float* wrow = w + ky * KW * C + c;
    V wv[KW];
    for (int kx = 0; kx < KW; ++kx) wv[kx] = ld(wrow + kx * C);
#pragma GCC unroll 64
    for (int i = 0; i < NIN; ++i) {
      if (Checked && (ix0 + i < 0 || ix0 + i >= g.in_w)) continue;
      const V xv = ld(xrow + (ix0 + i) * C);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        const int kx = i - p * SW;  // constant once unrolled
        if (kx >= 0 && kx < KW) acc[p] = T::fmadd(xv, wv[kx], acc[p]);
      }
    }
  }
  const V vlo = T::set1(lo), vhi = T::set1(hi);
  for (int p = 0; p < P; ++p) {
    if (Checked && p >= np) break;
    const V v = T::min(T::max(acc[p], vlo), vhi);
    float* dst = yrow + (ox + p) * C + c;
    if (Full) T::store(dst, v);
    else T::storen(dst, v, n);
  }
}

// Two output rows (oy, oy + 1) of a 3x3 kernel at stride S (both ways) and dilation 1, for a
// group of kWidePixels pixels, all nine weight vectors in registers (26 of AVX-512's 32): each
// input vector of the S + 3 input rows the two rows read is loaded once and feeds both rows'
// accumulators, where two passes of pixels_wide load the rows they share twice (stride 1: 40 loads
// for 144 FMAs against 60; stride 2: 85 against 102). Checked as in pixels_wide. Single layers
// (Zen 4, 1 thread): 112x112x32 stride 1 0.166 -> 0.090 ms, 56x56x144 0.13 -> 0.11, 14x14x576
// 0.031 -> 0.023; MobileNetV2 at batch 1 0.98x the time. Its input loop is pixels_wide's over two
// accumulator sets, written out in both: one helper taking the FMAs as a callback measured 5-10 %
// slower on layers whose output goes to DRAM (112x112x32, 56x56x144), equal elsewhere.
template <class T, int S, bool Full, bool Checked>
inline void pixels_pair(const DwConvGeom& g, int64_t C, int64_t iy0, int64_t ox, int np, int64_t c, int64_t n,
                        const float* x, const float* w, const float* bias, float lo, float hi, float* yrow0,
                        float* yrow1) {
  using V = typename T::V;
  constexpr int P = kWidePixels, K = 3, NIN = (P - 1) * S + K, NR = S + K;
  auto ld = [&](const float* p) { return Full ? T::load(p) : T::loadn(p, n); };
  const V b = bias ? ld(bias + c) : T::set1(0.f);
  V acc0[P], acc1[P], wv[K][K];
  for (int p = 0; p < P; ++p) acc0[p] = acc1[p] = b;
  for (int ky = 0; ky < K; ++ky)
    for (int kx = 0; kx < K; ++kx) wv[ky][kx] = ld(w + (ky * K + kx) * C + c);
  const int64_t ix0 = ox * S - g.pad_left;
#pragma GCC unroll 8
  for (int j = 0; j < NR; ++j) {
    const float* xrow = x + (iy0 + j) * g.in_w * C + c;
#pragma GCC unroll 64
    for (int i = 0; i < NIN; ++i) {
      if (Checked && (ix0 + i < 0 || ix0 + i >= g.in_w)) continue;
      const V xv = ld(xrow + (ix0 + i) * C);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        const int kx = i - p * S;  // constants once unrolled, as are the kernel rows j and j - S
        if (kx < 0 || kx >= K) continue;
        if (j < K) acc0[p] = T::fmadd(xv, wv[j][kx], acc0[p]);
        if (j >= S && j - S < K) acc1[p] = T::fmadd(xv, wv[j - S][kx], acc1[p]);
      }
    }
  }
  const V vlo = T::set1(lo), vhi = T::set1(hi);
  for (int p = 0; p < P; ++p) {
    if (Checked && p >= np) break;
    const V v0 = T::min(T::max(acc0[p], vlo), vhi), v1 = T::min(T::max(acc1[p], vlo), vhi);
    if (Full) {
      T::store(yrow0 + (ox + p) * C + c, v0);
      T::store(yrow1 + (ox + p) * C + c, v1);
    } else {
      T::storen(yrow0 + (ox + p) * C + c, v0, n);
      T::storen(yrow1 + (ox + p) * C + c, v1, n);
    }
  }
}

// Input pixels [p0, p1) of the rows at rows[0..nrows) to prefetch, spread over the channel loop.
struct Prefetch {
  const float* rows[8];
  int nrows = 0;
  int64_t p0 = 0, p1 = 0;
};

// Runs f(full, c, n) over the channel vectors [c, c + n) of a pixel group (full: std::true_type
// for whole vectors, std::false_type for the tail), prefetching pf's pixels a vector at a time.
template <class T, class F>
inline void over_channels(int64_t C, const Prefetch& pf, F&& f) {
  int64_t c = 0;
  for (; c + T::L <= C; c += T::L) {
    for (int r = 0; r < pf.nrows; ++r)
      for (int64_t p = pf.p0; p < pf.p1; ++p) __builtin_prefetch(pf.rows[r] + p * C + c);
    f(std::true_type{}, c, int64_t(T::L));
  }
  if (c < C) f(std::false_type{}, c, C - c);
}

template <class T, bool Interior>
inline void pixel_group(const DwConvGeom& g, int64_t C, int64_t ky0, int64_t ky1, int64_t iy0, int64_t ox, int np,
                        const float* x, const float* w, const float* bias, float lo, float hi, float* yrow,
                        const Prefetch& pf) {
  over_channels<T>(C, pf, [&](auto full, int64_t c, int64_t n) {
    pixels<T, decltype(full)::value, Interior>(g, C, ky0, ky1, iy0, ox, np, c, n, x, w, bias, lo, hi, yrow);
  });
}

template <class T, int KW, int SW, bool Checked>
inline void wide_group(const DwConvGeom& g, int64_t C, int64_t ky0, int64_t ky1, int64_t iy0, int64_t ox, int np,
                       const float* x, const float* w, const float* bias, float lo, float hi, float* yrow,
                       const Prefetch& pf) {
  over_channels<T>(C, pf, [&](auto full, int64_t c, int64_t n) {
    pixels_wide<T, KW, SW, decltype(full)::value, Checked>(g, C, ky0, ky1, iy0, ox, np, c, n, x, w, bias, lo, hi,
                                                           yrow);
  });
}

using wide_group_fn = void (*)(const DwConvGeom&, int64_t, int64_t, int64_t, int64_t, int64_t, int, const float*,
                               const float*, const float*, float, float, float*, const Prefetch&);

// The wide forms for this geometry (interior groups, groups at an edge), or nulls (kernel widths
// 3 and 5, strides 1 and 2, dilation 1).
struct WideForms {
  wide_group_fn interior = nullptr, edge = nullptr;
};

template <class T, int KW, int SW>
WideForms wide_forms() {
  return {&wide_group<T, KW, SW, false>, &wide_group<T, KW, SW, true>};
}

template <class T>
WideForms wide_for(const DwConvGeom& g) {
  if (g.dil_w != 1 || (g.stride_w != 1 && g.stride_w != 2)) return {};
  const bool s1 = g.stride_w == 1;
  if (g.kw == 3) return s1 ? wide_forms<T, 3, 1>() : wide_forms<T, 3, 2>();
  if (g.kw == 5) return s1 ? wide_forms<T, 5, 1>() : wide_forms<T, 5, 2>();
  return {};
}

template <class T>
void row(const DwConvGeom& g, int64_t C, int64_t oy, const float* x, const float* w, const float* bias, float lo,
         float hi, float* y) {
  // Kernel rows whose input row is inside the image.
  const int64_t iy0 = oy * g.stride_h - g.pad_top;
  int64_t ky0 = 0, ky1 = g.kh;
  while (ky0 < ky1 && iy0 + ky0 * g.dil_h < 0) ++ky0;
  while (ky1 > ky0 && iy0 + (ky1 - 1) * g.dil_h >= g.in_h) --ky1;
  float* yrow = y + oy * g.out_w * C;
  // Input rows that the previous output row did not read are cold, and read in an order the
  // hardware prefetchers do not follow: prefetch the pixels a pixel group about kPrefetchGroups
  // ahead adds to each of them, a channel vector at a time.
  Prefetch pf;
  for (int64_t ky = ky0; ky < ky1 && pf.nrows < 8; ++ky)
    if (ky * g.dil_h > (g.kh - 1) * g.dil_h - g.stride_h) pf.rows[pf.nrows++] = x + (iy0 + ky * g.dil_h) * g.in_w * C;
  const WideForms wide = wide_for<T>(g);
  for (int64_t ox = 0; ox < g.out_w;) {
    const int64_t first = ox * g.stride_w - g.pad_left;
    // The wide form: groups of kWidePixels, checked at the edges and for the last few pixels.
    if (wide.interior) {
      const int np = int(std::min<int64_t>(kWidePixels, g.out_w - ox));
      const bool inside = np == kWidePixels && first >= 0 &&
                          (ox + kWidePixels - 1) * g.stride_w - g.pad_left + g.kw - 1 < g.in_w;
      pf.p0 = std::max<int64_t>(0, first + (kPrefetchGroups - 1) * kWidePixels * g.stride_w + g.kw);
      pf.p1 = std::min<int64_t>(g.in_w, pf.p0 + kWidePixels * g.stride_w);
      (inside ? wide.interior : wide.edge)(g, C, ky0, ky1, iy0, ox, np, x, w, bias, lo, hi, yrow, pf);
      ox += np;
      continue;
    }
    const int np = int(std::min<int64_t>(kPixels, g.out_w - ox));
    pf.p0 = std::max<int64_t>(0, (ox + (kPrefetchGroups - 1) * kPixels) * g.stride_w - g.pad_left +
                                     (g.kw - 1) * g.dil_w + 1);
    pf.p1 = std::min<int64_t>(g.in_w, pf.p0 + kPixels * g.stride_w);
    const int64_t last = (ox + kPixels - 1) * g.stride_w - g.pad_left + (g.kw - 1) * g.dil_w;
    if (np == kPixels && first >= 0 && last < g.in_w)
      pixel_group<T, true>(g, C, ky0, ky1, iy0, ox, np, x, w, bias, lo, hi, yrow, pf);
    else
      pixel_group<T, false>(g, C, ky0, ky1, iy0, ox, np, x, w, bias, lo, hi, yrow, pf);
    ox += np;
  }
}

// True when output rows oy and oy + 1 can run as a pair: a 3x3 kernel, dilation 1, the same
// stride 1 or 2 both ways, and every kernel row of both inside the image.
inline bool pair_fits(const DwConvGeom& g, int64_t oy) {
  if (g.kh != 3 || g.kw != 3 || g.dil_h != 1 || g.dil_w != 1 || g.stride_h != g.stride_w ||
      (g.stride_h != 1 && g.stride_h != 2))
    return false;
  const int64_t iy0 = oy * g.stride_h - g.pad_top;
  return iy0 >= 0 && iy0 + g.stride_h + 3 <= g.in_h;
}

template <class T, int S, bool Checked>
void pair_group(const DwConvGeom& g, int64_t C, int64_t iy0, int64_t ox, int np, const float* x, const float* w,
                const float* bias, float lo, float hi, float* yrow0, float* yrow1, const Prefetch& pf) {
  over_channels<T>(C, pf, [&](auto full, int64_t c, int64_t n) {
    pixels_pair<T, S, decltype(full)::value, Checked>(g, C, iy0, ox, np, c, n, x, w, bias, lo, hi, yrow0, yrow1);
  });
}

// Output rows oy and oy + 1 (pair_fits) in groups of kWidePixels.
template <class T, int S>
void row_pair(const DwConvGeom& g, int64_t C, int64_t oy, const float* x, const float* w, const float* bias, float lo,
              float hi, float* y) {
  const int64_t iy0 = oy * S - g.pad_top;
  float* yrow0 = y + oy * g.out_w * C;
  float* yrow1 = yrow0 + g.out_w * C;
  // The input rows the pair before did not read (as in row).
  Prefetch pf;
  for (int j = 3 - S; j < S + 3; ++j) pf.rows[pf.nrows++] = x + (iy0 + j) * g.in_w * C;
  for (int64_t ox = 0; ox < g.out_w;) {
    const int np = int(std::min<int64_t>(kWidePixels, g.out_w - ox));
    const int64_t first = ox * S - g.pad_left;
    const bool inside = np == kWidePixels && first >= 0 && (ox + kWidePixels - 1) * S - g.pad_left + 2 < g.in_w;
    pf.p0 = std::max<int64_t>(0, first + (kPrefetchGroups - 1) * kWidePixels * S + 3);
    pf.p1 = std::min<int64_t>(g.in_w, pf.p0 + kWidePixels * S);
    if (inside) pair_group<T, S, false>(g, C, iy0, ox, np, x, w, bias, lo, hi, yrow0, yrow1, pf);
    else pair_group<T, S, true>(g, C, iy0, ox, np, x, w, bias, lo, hi, yrow0, yrow1, pf);
    ox += np;
  }
}

// Output rows [oy0, oy1): in pairs where pair_fits (Pairs: the ISA has the registers for it),
// else one at a time.
template <class T, bool Pairs>
void rows(const DwConvGeom& g, int64_t C, int64_t oy0, int64_t oy1, const float* x, const float* w, const float* bias,
          float lo, float hi, float* y) {
  for (int64_t oy = oy0; oy < oy1;) {
    if constexpr (Pairs) {
      if (oy + 1 < oy1 && pair_fits(g, oy)) {
        if (g.stride_h == 1) row_pair<T, 1>(g, C, oy, x, w, bias, lo, hi, y);
        else row_pair<T, 2>(g, C, oy, x, w, bias, lo, hi, y);
        oy += 2;
        continue;
      }
    }
    row<T>(g, C, oy, x, w, bias, lo, hi, y);
    ++oy;
  }
}

}  // namespace fi::kernels::dwnhwc
