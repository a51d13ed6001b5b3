#include "ops/nhwc/nhwc_weights.h"

#include <algorithm>

#include "core/tensor.h"

namespace fi {

kernels::F32PackedWeights nhwc_pack_gemm_weights(int64_t K, int64_t M, const float* wt, int64_t rows_hint) {
  // The share of the computed columns that are real. Tiles cover a partial panel in whole
  // vectors (16 floats for AVX-512, 8 for AVX2), so the waste is counted per vector: 144 columns
  // on 12x32 tiles waste nothing (4 panels and a half-panel tile), and the 12x32 tile beats the
  // 16x16 one there (92 vs 89 GFLOP/s for 3136x144x24; 93 vs 76 for 12544x16x32, Zen 4).
  auto use = [M](const kernels::F32GemmKernel& k) {
    const int64_t v = k.tier == 2 ? 16 : k.tier == 1 ? 8 : 1;
    return double(M) / double((M + v - 1) / v * v);
  };
  const kernels::F32GemmKernel* best = nullptr;
  for (const kernels::F32GemmKernel& k : kernels::f32_gemm_kernels())
    if (kernels::f32_gemm_supported(k) && (!best || k.tier > best->tier || (k.tier == best->tier && use(k) > use(*best))))
      best = &k;
  const kernels::F32GemmKernel* top = best;
  for (const kernels::F32GemmKernel& k : kernels::f32_gemm_kernels())
    if (kernels::f32_gemm_supported(k) && k.tier > 0 && use(k) >= use(*top) + 0.25 && use(k) > use(*best)) best = &k;
  if (best->tier == 2 && rows_hint >= kernels::kF32WideTileMinRows && M >= 64) {
    const kernels::F32GemmKernel* wide = kernels::find_f32_gemm("f32_gemm_6x64__avx512");
    if (wide && kernels::f32_gemm_supported(*wide)) best = wide;
  }
  kernels::F32PackedWeights w;
  w.kernel = best;
  w.owner = alloc_buffer(std::max<size_t>(1, kernels::f32_pack_b_size(K, M, best->nr)) * sizeof(float), false);
  w.b = kernels::f32_pack_b(K, M, wt, 1, K, best->nr, static_cast<float*>(w.owner.get()));
  return w;
}

}  // namespace fi
