// The channels-last stem row kernel (kernels/conv_stem.h), written once over a vector traits type
// T (ScalarFma, Avx2Fma, Avx512Fma from <isa>/lanes.h) and instantiated in each ISA directory.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/conv_stem.h"

namespace fi::kernels::stem {

// Accumulators a register block holds: 24 of 32 AVX-512 registers, 12 of 16 AVX2 ones.
template <class T>
constexpr int kAcc = T::L >= 16 ? 24 : T::L >= 8 ? 12 : 8;
// Channel vectors per block at most.
template <class T>
constexpr int kMaxMV = T::L >= 16 ? 4 : 2;

// Output pixels [ox, ox + np) (np <= P) of row oy over channels [cb, cb + MV*L) (those below M).
// Checked: bounds-check every tap's column (the blocks at the image's edges). KW, SW > 0: the
// kernel width and stride as constants (the 3x3 and 7x7 stride-2 stems), so the taps unroll.
template <class T, int MV, bool Checked, int KW, int SW>
inline void block(const ConvStemGeom& g, int64_t ky0, int64_t ky1, int64_t iy0, int64_t ox, int np, int64_t cb,
                  const float* x, const float* w, const float* bias, float lo, float hi, float* yrow) {
  using V = typename T::V;
  constexpr int P = kAcc<T> / MV;
  const int64_t Mp = f32_conv_stem_padded_m(g.M), kw = KW > 0 ? KW : g.kw, sw = SW > 0 ? SW : g.sw;
  V acc[P][MV];
  for (int v = 0; v < MV; ++v) {
    const int64_t c0 = cb + v * T::L, n = g.M - c0;
    const V b = bias && n > 0 ? (n >= T::L ? T::load(bias + c0) : T::loadn(bias + c0, n)) : T::set1(0.f);
    for (int p = 0; p < P; ++p) acc[p][v] = b;
  }
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t ky = ky0; ky < ky1; ++ky) {
      const float* xr = x + (c * g.H + iy0 + ky * g.dh) * g.W;
      const float* wr = w + ((c * g.kh + ky) * kw) * Mp + cb;
      for (int64_t kx = 0; kx < kw; ++kx) {
        V wv[MV];
        for (int v = 0; v < MV; ++v) wv[v] = T::load(wr + kx * Mp + v * T::L);
        const int64_t ix0 = ox * sw - g.pl + kx * g.dw;
        for (int p = 0; p < P; ++p) {
          const int64_t ix = ix0 + p * sw;
          if (Checked && (p >= np || ix < 0 || ix >= g.W)) continue;
          const V xb = T::set1(xr[ix]);
          for (int v = 0; v < MV; ++v) acc[p][v] = T::fmadd(xb, wv[v], acc[p][v]);
        }
      }
    }
  }
  const V vlo = T::set1(lo), vhi = T::set1(hi);
  for (int p = 0; p < P; ++p) {
    if (Checked && p >= np) break;
    float* dst = yrow + (ox + p) * g.M + cb;
    for (int v = 0; v < MV; ++v) {
      const int64_t n = g.M - cb - v * T::L;
      if (n <= 0) break;
      const V r = T::min(T::max(acc[p][v], vlo), vhi);
      if (n >= T::L) T::store(dst + v * T::L, r);
      else T::storen(dst + v * T::L, r, n);
    }
  }
}

template <class T, int MV, int KW, int SW>
inline void pixels(const ConvStemGeom& g, int64_t ky0, int64_t ky1, int64_t iy0, int64_t cb, const float* x,
                   const float* w, const float* bias, float lo, float hi, float* yrow) {
  constexpr int P = kAcc<T> / MV;
  // The first pixel whose taps all lie right of the left edge: the checked block at the left edge
  // stops there, so the interior blocks (no per-tap bounds checks) start as early as they can
  // (MobileNetV2's 3x3 stem: 1 checked pixel of 112 at the left, not 12).
  const int64_t first_inside = (g.pl + g.sw - 1) / g.sw;
  for (int64_t ox = 0; ox < g.OW;) {
    const bool interior = ox + P <= g.OW && ox * g.sw - g.pl >= 0 &&
                          (ox + P - 1) * g.sw - g.pl + (g.kw - 1) * g.dw < g.W;
    if (interior) {
      block<T, MV, false, KW, SW>(g, ky0, ky1, iy0, ox, P, cb, x, w, bias, lo, hi, yrow);
      ox += P;
    } else {
      int64_t np = std::min<int64_t>(P, g.OW - ox);
      if (ox < first_inside) np = std::min(np, first_inside - ox);
      block<T, MV, true, KW, SW>(g, ky0, ky1, iy0, ox, int(np), cb, x, w, bias, lo, hi, yrow);
      ox += np;
    }
  }
}

// The common stems (3x3 and 7x7, stride 2, dilation 1) with constant taps; others at run time.
template <class T, int MV>
inline void by_shape(const ConvStemGeom& g, int64_t ky0, int64_t ky1, int64_t iy0, int64_t cb, const float* x,
                     const float* w, const float* bias, float lo, float hi, float* yrow) {
  if (g.sw == 2 && g.dw == 1 && g.kw == 3) return pixels<T, MV, 3, 2>(g, ky0, ky1, iy0, cb, x, w, bias, lo, hi, yrow);
  if (g.sw == 2 && g.dw == 1 && g.kw == 7) return pixels<T, MV, 7, 2>(g, ky0, ky1, iy0, cb, x, w, bias, lo, hi, yrow);
  pixels<T, MV, 0, 0>(g, ky0, ky1, iy0, cb, x, w, bias, lo, hi, yrow);
}

template <class T>
void row(const ConvStemGeom& g, int64_t oy, const float* x, const float* w, const float* bias, float lo, float hi,
         float* y) {
  // Kernel rows whose input row is inside the image.
  const int64_t iy0 = oy * g.sh - g.pt;
  int64_t ky0 = 0, ky1 = g.kh;
  while (ky0 < ky1 && iy0 + ky0 * g.dh < 0) ++ky0;
  while (ky1 > ky0 && iy0 + (ky1 - 1) * g.dh >= g.H) --ky1;
  float* yrow = y + oy * g.OW * g.M;
  for (int64_t cb = 0; cb < g.M; cb += kMaxMV<T> * T::L) {
    const int64_t mv = std::min<int64_t>(kMaxMV<T>, (g.M - cb + T::L - 1) / T::L);
    switch (mv) {
      case 1: by_shape<T, 1>(g, ky0, ky1, iy0, cb, x, w, bias, lo, hi, yrow); break;
      case 2: by_shape<T, 2>(g, ky0, ky1, iy0, cb, x, w, bias, lo, hi, yrow); break;
      case 3: by_shape<T, (kMaxMV<T> >= 3 ? 3 : 1)>(g, ky0, ky1, iy0, cb, x, w, bias, lo, hi, yrow); break;
      default: by_shape<T, kMaxMV<T>>(g, ky0, ky1, iy0, cb, x, w, bias, lo, hi, yrow); break;
    }
  }
}

}  // namespace fi::kernels::stem
