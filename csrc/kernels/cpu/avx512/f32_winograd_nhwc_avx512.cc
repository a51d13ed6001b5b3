// AVX-512 channels-last Winograd transforms: 16 channels per vector, masked tails.
#include <immintrin.h>

// GCC 12 warns inside its own _mm512_{max,min,extract}* (an undefined pass-through operand), wrongly.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/f32_winograd_nhwc_transform.h"

namespace fi::kernels {

namespace {
struct Avx512 {
  using V = __m512;
  static constexpr int L = 16;
  static __mmask16 mask(int n) { return __mmask16((1u << n) - 1); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store_n(float* p, V v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  using VI = __m512i;
  static VI izero() { return _mm512_setzero_si512(); }
  static VI absmax(VI acc, V v) {
    return _mm512_max_epu32(acc, _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
  }
  static uint32_t hmax(VI acc) {
    const __m256i h = _mm256_max_epu32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    return uint32_t(_mm_cvtsi128_si32(m));
  }
  // max/min return their second operand when either is NaN: a NaN v passes through.
  static V clamp(V v, V lo, V hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); }
};
}  // namespace

FI_WINOGRAD_NHWC_DEFINE(Avx512, avx512)

}  // namespace fi::kernels
