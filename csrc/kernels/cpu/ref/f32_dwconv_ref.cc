// Portable fp32 depthwise conv plane kernel, the reference for the SIMD ones.
#include "kernels/cpu/f32_dwconv_plane.h"

namespace fi::kernels {

// f32_dwconv_kxk__ref: any kernel size, stride, dilation and padding; every tap bounds-checked.
void f32_dwconv_kxk__ref(const DwConvGeom& g, int64_t count, const float* x, int64_t x_step, const float* w,
                         float* y, const Epilogue& ep) {
  for (int64_t i = 0; i < count; ++i) {
    const float bias = ep.bias ? ep.bias[i] : 0.f;
    const float* xi = x + i * x_step;
    const float* wi = w + i * g.kh * g.kw;
    float* yi = y + i * g.out_h * g.out_w;
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      int64_t ky0, ky1;
      dw::tap_rows(g, oy, ky0, ky1);
      for (int64_t ox = 0; ox < g.out_w; ++ox)
        yi[oy * g.out_w + ox] =
            dw::clampf(dw::point(g, xi, wi, oy, ky0, ky1, ox, bias), ep.clamp_min, ep.clamp_max);
    }
  }
}

}  // namespace fi::kernels
