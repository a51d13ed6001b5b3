// AVX-512 Winograd transforms: 16 tiles per vector.
#include <immintrin.h>

// GCC 12 warns inside its own _mm512_unpack*_ps (an undefined pass-through operand), wrongly.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/f32_winograd_transform.h"
#include "kernels/winograd.h"

namespace fi::kernels {

namespace {
struct Avx512 {
  using V = __m512;
  static constexpr int L = 16;
  static constexpr bool kStore4 = true;
  // Row u of 16 tiles: a 4x4 transpose per 128-bit lane, then 4-float runs.
  static void store4(const V* o, const WinogradStore& st, int64_t t, int u) {
    const V t0 = _mm512_unpacklo_ps(o[0], o[1]), t1 = _mm512_unpackhi_ps(o[0], o[1]);
    const V t2 = _mm512_unpacklo_ps(o[2], o[3]), t3 = _mm512_unpackhi_ps(o[2], o[3]);
    alignas(64) float tr[4][16];
    _mm512_store_ps(tr[0], _mm512_shuffle_ps(t0, t2, 0x44));
    _mm512_store_ps(tr[1], _mm512_shuffle_ps(t0, t2, 0xEE));
    _mm512_store_ps(tr[2], _mm512_shuffle_ps(t1, t3, 0x44));
    _mm512_store_ps(tr[3], _mm512_shuffle_ps(t1, t3, 0xEE));
    wino::store_rows4<Avx512>(&tr[0][0], st, t, u);
  }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  using VI = __m512i;
  using Mask = __mmask16;
  static VI loadi(const int32_t* p) { return _mm512_loadu_si512(p); }
  static Mask in_range(VI v, int k, int32_t n) {
    return _mm512_cmplt_epu32_mask(_mm512_add_epi32(v, _mm512_set1_epi32(k)), _mm512_set1_epi32(n));
  }
  static Mask mask_and(Mask a, Mask b) { return Mask(a & b); }
  static V gather(const float* base, VI off, Mask m) {
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, off, base, 4);
  }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
};
}  // namespace

FI_WINOGRAD_DEFINE(Avx512, f32_winograd_4x3__avx512, 4)
FI_WINOGRAD_DEFINE(Avx512, f32_winograd_6x3__avx512, 6)

}  // namespace fi::kernels
