// AVX2+FMA NHWC depthwise row kernel: 8 channels per vector, tails through maskload/maskstore.
#include "kernels/cpu/f32_dwconv_nhwc.h"
#include "kernels/cpu/avx2/lanes.h"

namespace fi::kernels {

void f32_dwconv_nhwc__avx2(const DwConvGeom& g, int64_t C, int64_t oy, const float* x, const float* w,
                           const float* bias, float lo, float hi, float* y) {
  dwnhwc::row<simd::Avx2Fma>(g, C, oy, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
