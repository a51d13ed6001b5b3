// The AVX-512 traits of the vectorised fp32 math (kernels/cpu/vmath_impl.h): 16 lanes, k-masks for
// tails, scalef for 2^n (exact overflow/underflow/denormal handling). Shared by vmath_avx512.cc and
// the kernels that use vm::Math directly (the attention softmax). Include only from files compiled
// with the AVX-512 flags (this directory).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fi::kernels::simd {

struct Avx512Math {
  using V = __m512;
  using M = __mmask16;
  static constexpr int L = 16;
  static M tail(int64_t n) { return M((1u << n) - 1u); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V load_n(const float* p, int64_t n, float fill) { return _mm512_mask_loadu_ps(set1(fill), tail(n), p); }
  static void store_n(float* p, V v, int64_t n) { _mm512_mask_storeu_ps(p, tail(n), v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V clamp_abs(V x, float b) { return max(set1(-b), min(set1(b), x)); }
  static V neg_abs(V a) { return _mm512_or_ps(a, set1(-0.f)); }
  static V abs(V a) { return _mm512_abs_ps(a); }
  static V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M eq(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M unord(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
  static V frexp1(V x, V& k) {
    k = _mm512_getexp_ps(x);
    return _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  }
  static V select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
  static V copysign(V mag, V s) {
    const __m512i sign = _mm512_set1_epi32(INT32_MIN);
    // sign ? s : mag, bitwise (ternary-logic table 0xCA)
    return _mm512_castsi512_ps(
        _mm512_ternarylogic_epi32(sign, _mm512_castps_si512(s), _mm512_castps_si512(mag), 0xCA));
  }
  static V scale2(V p, V n) { return _mm512_scalef_ps(p, n); }
  static float hsum(V v) { return _mm512_reduce_add_ps(v); }
  static float hmax(V v) { return _mm512_reduce_max_ps(v); }
};


}  // namespace fi::kernels::simd
