// AVX2 Winograd transforms: 8 tiles per vector.
#include <immintrin.h>

#include "kernels/cpu/f32_winograd_transform.h"
#include "kernels/winograd.h"

namespace fi::kernels {

namespace {
struct Avx2 {
  using V = __m256;
  static constexpr int L = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
};
}  // namespace

FI_WINOGRAD_DEFINE(Avx2, f32_winograd_4x3__avx2, 4)
FI_WINOGRAD_DEFINE(Avx2, f32_winograd_6x3__avx2, 6)

}  // namespace fi::kernels
