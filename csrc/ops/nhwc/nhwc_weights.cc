#include "ops/nhwc/nhwc_weights.h"

#include <algorithm>

#include "core/tensor.h"

namespace fi {

kernels::F32PackedWeights nhwc_pack_gemm_weights(int64_t K, int64_t M, const float* wt) {
  auto use = [M](const kernels::F32GemmKernel& k) { return double(M) / double((M + k.nr - 1) / k.nr * k.nr); };
  const kernels::F32GemmKernel* best = nullptr;
  for (const kernels::F32GemmKernel& k : kernels::f32_gemm_kernels())
    if (kernels::f32_gemm_supported(k) && (!best || k.tier > best->tier || (k.tier == best->tier && use(k) > use(*best))))
      best = &k;
  const kernels::F32GemmKernel* top = best;
  for (const kernels::F32GemmKernel& k : kernels::f32_gemm_kernels())
    if (kernels::f32_gemm_supported(k) && k.tier > 0 && use(k) >= use(*top) + 0.25 && use(k) > use(*best)) best = &k;
  kernels::F32PackedWeights w;
  w.kernel = best;
  w.owner = alloc_buffer(std::max<size_t>(1, kernels::f32_pack_b_size(K, M, best->nr)) * sizeof(float), false);
  w.b = kernels::f32_pack_b(K, M, wt, 1, K, best->nr, static_cast<float*>(w.owner.get()));
  return w;
}

}  // namespace fi
