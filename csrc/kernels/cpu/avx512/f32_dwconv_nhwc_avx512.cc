// AVX-512 NHWC depthwise row kernel: 16 channels per vector, tails through masked loads/stores.
#include <immintrin.h>

// GCC 12 warns about the deliberately undefined pass-through operand inside its AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/f32_dwconv_nhwc.h"

namespace fi::kernels {

namespace {
struct Avx512 {
  using V = __m512;
  static constexpr int L = 16;
  static __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V loadn(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(lanes(n), p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void storen(float* p, V v, int64_t n) { _mm512_mask_storeu_ps(p, lanes(n), v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(b, a); }
  static V max(V a, V b) { return _mm512_max_ps(b, a); }
};
}  // namespace

void f32_dwconv_nhwc__avx512(const DwConvGeom& g, int64_t C, int64_t oy, const float* x, const float* w,
                             const float* bias, float lo, float hi, float* y) {
  dwnhwc::row<Avx512>(g, C, oy, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
