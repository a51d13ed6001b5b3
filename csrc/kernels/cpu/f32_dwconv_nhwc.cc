// Driver and selection of the NHWC depthwise row kernels (kernels/dwconv_nhwc.h).
#include "kernels/dwconv_nhwc.h"

#include <algorithm>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace fi::kernels {

const std::vector<F32DwConvNhwcKernel>& f32_dwconv_nhwc_kernels() {
  static const std::vector<F32DwConvNhwcKernel> table = {
      {"f32_dwconv_nhwc__ref", int(IsaTier::Ref), &f32_dwconv_nhwc__ref},
      {"f32_dwconv_nhwc__avx2", int(IsaTier::Avx2), &f32_dwconv_nhwc__avx2},
      {"f32_dwconv_nhwc__avx512", int(IsaTier::Avx512), &f32_dwconv_nhwc__avx512},
  };
  return table;
}

const F32DwConvNhwcKernel& select_f32_dwconv_nhwc() {
  const F32DwConvNhwcKernel* best = &f32_dwconv_nhwc_kernels()[0];
  for (const F32DwConvNhwcKernel& k : f32_dwconv_nhwc_kernels())
    if (k.tier <= int(isa_tier()) && k.tier > best->tier) best = &k;
  return *best;
}

void f32_dwconv_nhwc_pack_weights(int64_t C, int64_t kh, int64_t kw, const float* w, float* out) {
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < kh * kw; ++t) out[t * C + c] = w[c * kh * kw + t];
}

void f32_dwconv_nhwc(const F32DwConvNhwcKernel& k, const DwConvGeom& g, int64_t N, int64_t C, const float* x,
                     const float* w_packed, const float* bias, float lo, float hi, float* y, ThreadPool* pool) {
  const int64_t rows = N * g.out_h;
  if (rows <= 0 || C <= 0 || g.out_w <= 0) return;
  // Depthwise runs at a quarter of the GEMM's flop rate or less (it is memory-bound), so it
  // pays to split from a quarter of kParallelMinFlops.
  const double row_flops = 2.0 * double(g.out_w * C * g.kh * g.kw);
  const int64_t grain = std::max<int64_t>(1, int64_t(kParallelMinFlops / 8 / std::max(1.0, row_flops)));
  parallel_for(pool, rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e;) {  // the chunk's rows, image by image
      const int64_t n = r / g.out_h, oy = r % g.out_h, oe = std::min(g.out_h, oy + (e - r));
      k.fn(g, C, oy, oe, x + n * g.in_h * g.in_w * C, w_packed, bias, lo, hi, y + n * g.out_h * g.out_w * C);
      r += oe - oy;
    }
  });
}

}  // namespace fi::kernels
