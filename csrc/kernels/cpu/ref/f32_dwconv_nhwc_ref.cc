// Portable NHWC depthwise row kernel (one float per "vector"), the reference for the SIMD ones.
#include <algorithm>

#include "kernels/cpu/f32_dwconv_nhwc.h"
#include "kernels/cpu/ref/lanes.h"

namespace fi::kernels {

namespace {
struct Scalar : simd::ScalarLanes {
  static constexpr int L = 1;
  static V fmadd(V a, V b, V c) { return a * b + c; }
  static V min(V a, V b) { return std::min(a, b); }
  static V max(V a, V b) { return std::max(a, b); }
};
}  // namespace

void f32_dwconv_nhwc__ref(const DwConvGeom& g, int64_t C, int64_t oy, const float* x, const float* w,
                          const float* bias, float lo, float hi, float* y) {
  dwnhwc::row<Scalar>(g, C, oy, x, w, bias, lo, hi, y);
}

}  // namespace fi::kernels
