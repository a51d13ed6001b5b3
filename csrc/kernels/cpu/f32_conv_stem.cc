// Driver, weight packing and selection of the channels-last stem row kernels (kernels/conv_stem.h).
#include "kernels/conv_stem.h"

#include <algorithm>

#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace fi::kernels {

const std::vector<F32ConvStemKernel>& f32_conv_stem_kernels() {
  static const std::vector<F32ConvStemKernel> table = {
      {"f32_conv_stem__ref", int(IsaTier::Ref), &f32_conv_stem__ref},
      {"f32_conv_stem__avx2", int(IsaTier::Avx2), &f32_conv_stem__avx2},
      {"f32_conv_stem__avx512", int(IsaTier::Avx512), &f32_conv_stem__avx512},
  };
  return table;
}

const F32ConvStemKernel& select_f32_conv_stem() {
  const F32ConvStemKernel* best = &f32_conv_stem_kernels()[0];
  for (const F32ConvStemKernel& k : f32_conv_stem_kernels())
    if (k.tier <= int(isa_tier()) && k.tier > best->tier) best = &k;
  return *best;
}

void f32_conv_stem_pack_weights(int64_t M, int64_t C, int64_t kh, int64_t kw, const float* w, float* out) {
  const int64_t Mp = f32_conv_stem_padded_m(M), taps = C * kh * kw;
  std::fill(out, out + taps * Mp, 0.f);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t t = 0; t < taps; ++t) out[t * Mp + m] = w[m * taps + t];
}

void f32_conv_stem_rows(const F32ConvStemKernel& k, const ConvStemGeom& g, int64_t r0, int64_t r1, const float* x,
                        const float* w_packed, const float* bias, float lo, float hi, float* y, Activation act) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.OH, oy = r % g.OH;
    float* yrow = y + (n * g.OH + oy) * g.OW * g.M;
    k.fn(g, oy, x + n * g.C * g.H * g.W, w_packed, bias, lo, hi, y + n * g.OH * g.OW * g.M);
    if (act != Activation::None) f32_activation(act, yrow, yrow, g.OW * g.M);
  }
}

int64_t f32_conv_stem_grain(const ConvStemGeom& g) {
  const double row_flops = 2.0 * double(g.OW * g.M * g.C * g.kh * g.kw);
  return std::max<int64_t>(1, int64_t(kParallelMinFlops / std::max(1.0, row_flops)));
}

void f32_conv_stem(const F32ConvStemKernel& k, const ConvStemGeom& g, int64_t N, const float* x, const float* w_packed,
                   const float* bias, float lo, float hi, float* y, ThreadPool* pool, Activation act) {
  const int64_t rows = N * g.OH;
  if (rows <= 0 || g.OW <= 0 || g.M <= 0) return;
  parallel_for(pool, rows, f32_conv_stem_grain(g), [&](int64_t b, int64_t e) {
    f32_conv_stem_rows(k, g, b, e, x, w_packed, bias, lo, hi, y, act);
  });
}

}  // namespace fi::kernels
