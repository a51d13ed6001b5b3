// AVX-512 Winograd transforms: 16 tiles per vector.
#include <immintrin.h>

#include "kernels/cpu/f32_winograd_transform.h"
#include "kernels/winograd.h"

namespace fi::kernels {

namespace {
struct Avx512 {
  using V = __m512;
  static constexpr int L = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
};
}  // namespace

FI_WINOGRAD_DEFINE(Avx512, f32_winograd_4x3__avx512, 4)
FI_WINOGRAD_DEFINE(Avx512, f32_winograd_6x3__avx512, 6)

}  // namespace fi::kernels
