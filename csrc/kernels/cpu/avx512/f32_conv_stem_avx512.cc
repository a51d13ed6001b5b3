// AVX-512 channels-last stem row kernel: 16 output channels per vector, blocks of 6 x 4 ... 24 x 1.
// GCC 12 warns about the deliberately undefined pass-through operand inside its AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/f32_conv_stem.h"
#include "kernels/cpu/avx512/lanes.h"

namespace fi::kernels {

void f32_conv_stem__avx512(const ConvStemGeom& g, int64_t oy, const float* x, const float* w, const float* bias,
                           float lo, float hi, float* y) {
  stem::row<simd::Avx512Fma>(g, oy, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
