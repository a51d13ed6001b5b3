// AVX-512 NHWC depthwise row kernel: 16 channels per vector, tails through masked loads/stores.
// GCC 12 warns about the deliberately undefined pass-through operand inside its AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/f32_dwconv_nhwc.h"
#include "kernels/cpu/avx512/lanes.h"

namespace fi::kernels {

void f32_dwconv_nhwc__avx512(const DwConvGeom& g, int64_t C, int64_t oy0, int64_t oy1, const float* x, const float* w,
                             const float* bias, float lo, float hi, float* y) {
  dwnhwc::rows<simd::Avx512Fma, true>(g, C, oy0, oy1, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
