// The fp32 depthwise conv driver: the (image, output channel) planes split over the thread pool,
// one microkernel call per run of planes that share an image (or an input plane). The kernels read padded planes in place (masked edge
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
    ep.bias_per_row = true;
    // Runs of planes within one image (channel multiplier 1: consecutive input planes) or one
    // input channel (multiplier > 1: the same input plane).
    for (int64_t p = p0; p < p1;) {
      const int64_t b = p / m, oc = p % m;
      const int64_t end = std::min(p1, mult == 1 ? (b + 1) * m : p - oc % mult + mult);
      ep.bias = bias ? bias + oc : nullptr;
      k.fn(g, end - p, x + (b * c_in + oc / mult) * in_plane, mult == 1 ? in_plane : 0, w + oc * taps,
           y + p * out_plane, ep);
      p = end;
    }
  });
}

}  // namespace fi::kernels
