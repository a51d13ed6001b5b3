// AVX2+FMA NHWC depthwise row kernel: 8 channels per vector, tails through maskload/maskstore.
#include "kernels/cpu/f32_dwconv_nhwc.h"
#include "kernels/cpu/avx2/lanes.h"

namespace fi::kernels {

void f32_dwconv_nhwc__avx2(const DwConvGeom& g, int64_t C, int64_t oy0, int64_t oy1, const float* x, const float* w,
                           const float* bias, float lo, float hi, float* y) {
  dwnhwc::rows<simd::Avx2Fma, false>(g, C, oy0, oy1, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
