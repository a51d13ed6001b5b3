// AVX2+FMA NHWC depthwise row kernel: 8 channels per vector, tails through maskload/maskstore.
#include <immintrin.h>

#include "kernels/cpu/f32_dwconv_nhwc.h"
#include "kernels/cpu/avx2/lanes.h"

namespace fi::kernels {

namespace {
struct Avx2 : simd::Avx2Lanes {
  static constexpr int L = 8;
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  // min/max(acc, bound) with acc as the instruction's second operand, which it returns when either
  // is NaN: a NaN stays NaN, as with the reference's std::min/std::max(acc, bound).
  static V min(V a, V b) { return _mm256_min_ps(b, a); }
  static V max(V a, V b) { return _mm256_max_ps(b, a); }
};
}  // namespace

void f32_dwconv_nhwc__avx2(const DwConvGeom& g, int64_t C, int64_t oy, const float* x, const float* w,
                           const float* bias, float lo, float hi, float* y) {
  dwnhwc::row<Avx2>(g, C, oy, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
