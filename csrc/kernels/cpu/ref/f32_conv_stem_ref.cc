// Portable channels-last stem row kernel (one float per "vector"), the reference for the SIMD ones.
#include "kernels/cpu/f32_conv_stem.h"
#include "kernels/cpu/ref/lanes.h"

namespace fi::kernels {

void f32_conv_stem__ref(const ConvStemGeom& g, int64_t oy, const float* x, const float* w, const float* bias, float lo,
                        float hi, float* y) {
  stem::row<simd::ScalarFma>(g, oy, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
