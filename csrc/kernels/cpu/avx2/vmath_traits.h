// The AVX2+FMA traits of the vectorised fp32 math (kernels/cpu/vmath_impl.h): 8 lanes, maskload /
// maskstore for tails, 2^n built from exponent bits in two halves (so results down to the
// denormals and up to overflow round once). Shared by vmath_avx2.cc and the kernels that use
// vm::Math directly (the attention softmax). Include only from files compiled with the AVX2 flags.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fi::kernels::simd {

struct Avx2Math {
  using V = __m256;
  using M = __m256;
  static constexpr int L = 8;
  static __m256i tail(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V load_n(const float* p, int64_t n, float fill) {
    const __m256i m = tail(n);
    return _mm256_blendv_ps(set1(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static void store_n(float* p, V v, int64_t n) { _mm256_maskstore_ps(p, tail(n), v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V clamp_abs(V x, float b) { return max(set1(-b), min(set1(b), x)); }
  static V neg_abs(V a) { return _mm256_or_ps(a, set1(-0.f)); }
  static V abs(V a) { return _mm256_andnot_ps(set1(-0.f), a); }
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M eq(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static M unord(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
  // Denormals are scaled by 2^24 first.
  static V frexp1(V x, V& k) {
    const M tiny = lt(x, set1(1.17549435e-38f));
    x = select(tiny, mul(x, set1(16777216.f)), x);
    const __m256i b = _mm256_castps_si256(x);
    const __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(b, 23), _mm256_set1_epi32(127));
    k = sub(_mm256_cvtepi32_ps(e), select(tiny, set1(24.f), set1(0.f)));
    return _mm256_castsi256_ps(
        _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi32(0x7fffff)), _mm256_set1_epi32(0x3f800000)));
  }
  static V select(M m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
  static V copysign(V mag, V s) { return _mm256_or_ps(_mm256_andnot_ps(set1(-0.f), mag), _mm256_and_ps(set1(-0.f), s)); }
  static V scale2(V p, V n) {
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i h1 = _mm256_srai_epi32(ni, 1), h2 = _mm256_sub_epi32(ni, h1);
    const __m256i bias = _mm256_set1_epi32(127);
    const V s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h1, bias), 23));
    const V s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  }
  static float hsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(V v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};


}  // namespace fi::kernels::simd
