// Portable NHWC depthwise row kernel (one float per "vector"), the reference for the SIMD ones.
#include "kernels/cpu/f32_dwconv_nhwc.h"
#include "kernels/cpu/ref/lanes.h"

namespace fi::kernels {

void f32_dwconv_nhwc__ref(const DwConvGeom& g, int64_t C, int64_t oy0, int64_t oy1, const float* x, const float* w,
                          const float* bias, float lo, float hi, float* y) {
  dwnhwc::rows<simd::ScalarFma, false>(g, C, oy0, oy1, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
