// The fp32 depthwise conv driver: one microkernel call per (image, output channel) plane, the
// planes split over the thread pool. The kernels read padded planes in place (masked edge
// vectors), so there is no padded copy: it measured slower than the masked loads.
#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/dwconv.h"

namespace fi::kernels {

void f32_dwconv(const F32DwConvKernel& k, const DwConvGeom& g, int64_t n, int64_t c_in, int64_t mult,
                const float* x, const float* w, const float* bias, float clamp_min, float clamp_max, float* y,
                ThreadPool* pool) {
  const int64_t m = c_in * mult, planes = n * m;
  if (planes <= 0 || g.out_h <= 0 || g.out_w <= 0) return;
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w, taps = g.kh * g.kw;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, out_plane * taps));
  parallel_for(pool, planes, grain, [&](int64_t p0, int64_t p1) {
    Epilogue ep;
    ep.clamp_min = clamp_min;
    ep.clamp_max = clamp_max;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / m, oc = p % m;
      ep.bias = bias ? bias + oc : nullptr;
      k.fn(g, x + (b * c_in + oc / mult) * in_plane, w + oc * taps, y + p * out_plane, ep);
    }
  });
}

}  // namespace fi::kernels
