// The fp32 depthwise conv driver: one microkernel call per (image, output channel) plane, the
// planes split over the thread pool.
#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/dwconv.h"

namespace fi::kernels {

void f32_dwconv(const F32DwConvKernel& k, const DwConvGeom& g, int64_t n, int64_t c_in, int64_t mult,
                const float* x, const float* w, const float* bias, float clamp_min, float clamp_max, float* y,
                ThreadPool* pool) {
  const int64_t m = c_in * mult, planes = n * m;
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w, taps = g.kh * g.kw;
  const int64_t work = std::max<int64_t>(1, out_plane * taps);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / work);
  parallel_for(pool, planes, grain, [&](int64_t p0, int64_t p1) {
    Epilogue ep;
    ep.clamp_min = clamp_min;
    ep.clamp_max = clamp_max;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / m, oc = p % m, ic = oc / mult;
      ep.bias = bias ? bias + oc : nullptr;
      k.fn(g, x + (b * c_in + ic) * in_plane, w + oc * taps, y + p * out_plane, ep);
    }
  });
}

}  // namespace fi::kernels
