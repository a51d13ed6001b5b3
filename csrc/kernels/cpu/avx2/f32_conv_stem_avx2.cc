// AVX2+FMA channels-last stem row kernel: 8 output channels per vector, blocks of 6 x 2 or 12 x 1.
#include "kernels/cpu/f32_conv_stem.h"
#include "kernels/cpu/avx2/lanes.h"

namespace fi::kernels {

void f32_conv_stem__avx2(const ConvStemGeom& g, int64_t oy, const float* x, const float* w, const float* bias,
                         float lo, float hi, float* y) {
  stem::row<simd::Avx2Fma>(g, oy, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
