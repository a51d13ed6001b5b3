// The fp32 GEMM microkernel, written once over an ISA traits struct and instantiated per ISA and
// tile in kernels/cpu/<isa>/f32_gemm_<isa>.cc from the family list. No intrinsics here (but the
// compiler's __builtin_prefetch). The traits
// supply: V (vector), L (lanes), Mask, mask(n) (first n lanes, 0 <= n <= L), zero, set1,
// bcast(p) (*p in every lane), load(p), loadm(p, m), store(p, v), storem(p, v, m), add, mul, fmadd,
// min, max. Layouts as in kernels/gemm.h: A packed k-major (a[k*mr + i]), row-major, or indirect
// (a pointer per row and tap, f32_gemm_indirect); B packed k-major (b[k*NR + j]); C row-major at
// stride ldc.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/gemm.h"

// Every loop over the tile's rows and vectors is unrolled so the accumulators live in registers.
#define FI_UNROLL _Pragma("GCC unroll 16")

namespace fi::kernels::gemm {

// Where a tile reads A.
enum AMode : int {
  kPacked = 0,    // a[k*M + i]
  kDirect = 1,    // row-major: row i at a + i*lda
  kIndirect = 2,  // ntaps taps of kc floats each: row i, tap t at ind[i*lda + t]
};

// M (<= MR) rows x the first NU (<= NV) vectors of an NV-vector panel of C over kc steps of k
// (NU < NV for a narrow last panel; ntaps * kc steps for indirect A, B's rows in tap order). Every
// tile sums k in the same order, so equal rows of A give bit-identical rows of C whatever tile they
// land in. (Splitting k over 2-4 accumulator sets for small tiles was measured slower: 1x768x768
// 40 vs 43, 2x768x768 57 vs 77 GFLOP/s.)
// Packed B is read as one stream, panel after panel: tiles of 4+ rows fetch it 8 KB ahead into L2,
// so the next panel is on its way while this one's tiles run. Where B comes from DRAM for a few
// rows of A (Winograd's per-point GEMMs at batch 1: 16 tiles x 512 x 512 per point) the hardware
// prefetcher falls behind: ResNet-50's 7x7 and 14x14 Winograd layers 0.88-0.92x the time, the
// model 0.97x (Zen 4, batch 1). Implicit-GEMM tiles (indirect A) measured no gain and skip it.
constexpr int64_t kBPrefetchFloats = 2048;

template <class Isa, int MR, int NV, int M, int NU, int AM>
void tile(int64_t nc, int64_t ntaps, int64_t kc, const float* a, const float* const* ind, int64_t lda, const float* b,
          float* c, int64_t ldc, bool accumulate, const Epilogue* ep) {
  using V = typename Isa::V;
  constexpr int L = Isa::L, NR = NV * L;
  constexpr bool PA = AM == kPacked;
  V acc[M][NU];
  FI_UNROLL
  for (int i = 0; i < M; ++i)
    FI_UNROLL
    for (int v = 0; v < NU; ++v) acc[i][v] = Isa::zero();
  // The rows of C (and of the residual) the tile stores at the end are fetched now, so the K loop
  // hides their misses: out of order execution cannot see past it, and without this every tile
  // stalled on them (ResNet-50's 1x1 convs with a residual 0.88x the time, the whole model 0.97x,
  // Zen 4, batch 1). Short K loops (< 64) leave too little to hide behind.
  if (ntaps * kc >= 64) {
    const bool res = ep && ep->residual && ep->res_col_stride == 1;
    FI_UNROLL
    for (int i = 0; i < M; ++i) {
      if (res) {
        const float* rp = ep->residual + i * ep->res_row_stride;
        FI_UNROLL
        for (int v = 0; v < NU; ++v) __builtin_prefetch(rp + v * L, 0, 3);
      }
      FI_UNROLL
      for (int v = 0; v < NU; ++v) __builtin_prefetch(c + i * ldc + v * L, 1, 3);
    }
  }
  if constexpr (AM == kIndirect) {
    for (int64_t t = 0; t < ntaps; ++t) {
      const float* rows[M];
      FI_UNROLL
      for (int i = 0; i < M; ++i) rows[i] = ind[i * lda + t];
      const float* bt = b + t * kc * NR;
      for (int64_t k = 0; k < kc; ++k) {
        V bv[NU];
        FI_UNROLL
        for (int v = 0; v < NU; ++v) bv[v] = Isa::load(bt + k * NR + v * L);
        FI_UNROLL
        for (int i = 0; i < M; ++i) {
          V av = Isa::bcast(rows[i] + k);
          FI_UNROLL
          for (int v = 0; v < NU; ++v) acc[i][v] = Isa::fmadd(av, bv[v], acc[i][v]);
        }
      }
    }
  } else {
    for (int64_t k = 0; k < kc; ++k) {
      const float* bk = b + k * NR;
      const float* ak = PA ? a + k * M : a + k;
      if constexpr (M >= 4) {
        FI_UNROLL
        for (int l = 0; l < NR * 4 / 64; ++l) __builtin_prefetch(bk + kBPrefetchFloats + l * 16, 0, 2);
      }
      V bv[NU];
      FI_UNROLL
      for (int v = 0; v < NU; ++v) bv[v] = Isa::load(bk + v * L);
      FI_UNROLL
      for (int i = 0; i < M; ++i) {
        V av = Isa::bcast(PA ? ak + i : ak + i * lda);
        FI_UNROLL
        for (int v = 0; v < NU; ++v) acc[i][v] = Isa::fmadd(av, bv[v], acc[i][v]);
      }
    }
  }

  const bool full = nc == NU * L;
  typename Isa::Mask mk[NU];
  FI_UNROLL
  for (int v = 0; v < NU; ++v) {
    int64_t left = nc - int64_t(v) * L;
    mk[v] = Isa::mask(left < 0 ? 0 : left > L ? L : left);
  }
  const bool clamp = ep && (ep->clamp_min > -INFINITY || ep->clamp_max < INFINITY);
  auto load = [&](const float* p, int v) { return full ? Isa::load(p + v * L) : Isa::loadm(p + v * L, mk[v]); };
  FI_UNROLL
  for (int i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
    V r[NU];
    FI_UNROLL
    for (int v = 0; v < NU; ++v) r[v] = acc[i][v];
    if (accumulate)
      FI_UNROLL
      for (int v = 0; v < NU; ++v) r[v] = Isa::add(r[v], load(ci, v));
    if (ep) {
      if (ep->alpha != 1.f) {
        const V alpha = Isa::set1(ep->alpha);
        FI_UNROLL
        for (int v = 0; v < NU; ++v) r[v] = Isa::mul(r[v], alpha);
      }
      if (ep->bias) {
        if (ep->bias_per_row) {
          const V x = Isa::set1(ep->bias[i]);
          FI_UNROLL
          for (int v = 0; v < NU; ++v) r[v] = Isa::add(r[v], x);
        } else {
          FI_UNROLL
          for (int v = 0; v < NU; ++v) r[v] = Isa::add(r[v], load(ep->bias, v));
        }
      }
      if (ep->residual) {
        const float* rp = ep->residual + i * ep->res_row_stride;
        const V beta = Isa::set1(ep->beta);
        if (ep->res_col_stride == 0) {
          const V x = Isa::set1(*rp);
          FI_UNROLL
          for (int v = 0; v < NU; ++v) r[v] = Isa::fmadd(beta, x, r[v]);
        } else {
          FI_UNROLL
          for (int v = 0; v < NU; ++v) r[v] = Isa::fmadd(beta, load(rp, v), r[v]);
        }
      }
      // max(lo, v) then min(hi, v) return v when it is NaN, so NaN passes through the clamp.
      if (clamp) {
        const V lo = Isa::set1(ep->clamp_min), hi = Isa::set1(ep->clamp_max);
        FI_UNROLL
        for (int v = 0; v < NU; ++v) r[v] = Isa::min(hi, Isa::max(lo, r[v]));
      }
    }
    FI_UNROLL
    for (int v = 0; v < NU; ++v) {
      if (full) {
        Isa::store(ci + v * L, r[v]);
      } else {
        Isa::storem(ci + v * L, r[v], mk[v]);
      }
    }
  }
}

using TileFn = void (*)(int64_t, int64_t, int64_t, const float*, const float* const*, int64_t, const float*, float*,
                        int64_t, bool, const Epilogue*);

// table[m - 1][nu - 1] = tile<Isa, MR, NV, m, nu, AM>.
template <class Isa, int MR, int NV, int AM, int M, size_t... U>
constexpr std::array<TileFn, NV> tile_row(std::index_sequence<U...>) {
  return {{&tile<Isa, MR, NV, M, int(U) + 1, AM>...}};
}
template <class Isa, int MR, int NV, int AM, size_t... I>
constexpr std::array<std::array<TileFn, NV>, MR> tile_table(std::index_sequence<I...>) {
  return {{tile_row<Isa, MR, NV, AM, int(I) + 1>(std::make_index_sequence<NV>())...}};
}

// table[m - 1] = tile<Half, MR, NV * L / Half::L, m, 1, AM>: one half-width vector.
template <class Half, int MR, int NV, int AM, size_t... I>
constexpr std::array<TileFn, MR> half_table(std::index_sequence<I...>) {
  return {{&tile<Half, MR, NV, int(I) + 1, 1, AM>...}};
}

// The microkernel entry: dispatches on the row count mr (1..MR) and the vectors nc needs. Half
// (not void): a narrower vector type over the same packed B (Half::L lanes, NR = NV * Isa::L
// floats per row of B) for panels of at most Half::L columns, the narrow last panel of an N that
// is not a multiple of the vector (ShuffleNet's 34-column groups: 32 + 2). On Zen 4 a 16-lane FMA
// costs two 8-lane ones, so such a panel takes half the time in 8-lane vectors.
template <class Isa, int MR, int NV, int AM, class Half = void>
void ukernel(int64_t mr, int64_t nc, int64_t ntaps, int64_t kc, const float* a, const float* const* ind, int64_t lda,
             const float* b, float* c, int64_t ldc, bool accumulate, const Epilogue* ep) {
  static constexpr auto table = tile_table<Isa, MR, NV, AM>(std::make_index_sequence<MR>());
  const int64_t mi = mr < 1 ? 0 : mr > MR ? MR - 1 : mr - 1;
  if constexpr (!std::is_void_v<Half>) {
    static_assert(NV * Isa::L % Half::L == 0, "the half-width vector must divide the panel");
    static constexpr auto half = half_table<Half, MR, NV * Isa::L / Half::L, AM>(std::make_index_sequence<MR>());
    if (nc <= Half::L) {
      half[size_t(mi)](nc, ntaps, kc, a, ind, lda, b, c, ldc, accumulate, ep);
      return;
    }
  }
  const int64_t nu = (nc + Isa::L - 1) / Isa::L;
  const int64_t ni = nu < 1 ? 0 : nu > NV ? NV - 1 : nu - 1;
  table[size_t(mi)][size_t(ni)](nc, ntaps, kc, a, ind, lda, b, c, ldc, accumulate, ep);
}

// The three entry points of one ISA's MR x NR microkernel (NV vectors of L lanes; narrow panels
// in Half vectors, void for none), as declared by FI_GEMM_KERNEL in kernels/gemm.h.
#define FI_GEMM_DEFINE_ENTRIES(Isa, Half, name, mr, nv)                                                         \
  void name(int64_t m, int64_t nc, int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool acc,  \
            const Epilogue* ep) {                                                                              \
    gemm::ukernel<Isa, mr, nv, gemm::kPacked, Half>(m, nc, 1, kc, a, nullptr, 0, b, c, ldc, acc, ep);           \
  }                                                                                                            \
  void name##_direct(int64_t m, int64_t nc, int64_t kc, const float* a, int64_t lda, const float* b, float* c,   \
                     int64_t ldc, bool acc, const Epilogue* ep) {                                              \
    gemm::ukernel<Isa, mr, nv, gemm::kDirect, Half>(m, nc, 1, kc, a, nullptr, lda, b, c, ldc, acc, ep);         \
  }                                                                                                            \
  void name##_indirect(int64_t m, int64_t nc, int64_t ntaps, int64_t kc, const float* const* ind,               \
                       int64_t ind_stride, const float* b, float* c, int64_t ldc, bool acc, const Epilogue* ep) { \
    gemm::ukernel<Isa, mr, nv, gemm::kIndirect, Half>(m, nc, ntaps, kc, nullptr, ind, ind_stride, b, c, ldc, acc, \
                                                      ep);                                                     \
  }

}  // namespace fi::kernels::gemm

#undef FI_UNROLL
