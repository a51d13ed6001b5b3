// Selection of the fp32 pooling primitives (kernels/pool.h).
#include "core/cpu_features.h"
#include "kernels/cpu/f32_pool.h"

namespace fi::kernels {

#define FI_POOL_ENTRY(isa, tier)                                                                            \
  {                                                                                                        \
    "f32_pool__" #isa, int(IsaTier::tier), &f32_pool_fold__##isa, &f32_pool_fold_rows__##isa,              \
        &f32_pool_hwin_nhwc__##isa, &f32_pool_hwin_flat__##isa, &f32_pool_hwin_plane__##isa                \
  }

const std::vector<F32PoolKernel>& f32_pool_kernels() {
  static const std::vector<F32PoolKernel> table = {
      FI_POOL_ENTRY(ref, Ref),
      FI_POOL_ENTRY(avx2, Avx2),
      FI_POOL_ENTRY(avx512, Avx512),
  };
  return table;
}

#undef FI_POOL_ENTRY

const F32PoolKernel& select_f32_pool() {
  const F32PoolKernel* best = &f32_pool_kernels()[0];
  for (const F32PoolKernel& k : f32_pool_kernels())
    if (k.tier <= int(isa_tier()) && k.tier > best->tier) best = &k;
  return *best;
}

}  // namespace fi::kernels
