// AVX-512 channels-last Winograd transforms: 16 channels per vector, masked tails.
#include <immintrin.h>

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
  // max/min return their second operand when either is NaN: a NaN v passes through.
  static V clamp(V v, V lo, V hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); }
};
}  // namespace

FI_WINOGRAD_NHWC_DEFINE(Avx512, avx512)

}  // namespace fi::kernels
