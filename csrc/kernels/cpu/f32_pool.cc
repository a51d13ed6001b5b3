// Selection of the fp32 pooling primitives (kernels/pool.h).
#include "core/cpu_features.h"
#include "kernels/cpu/f32_pool.h"

namespace fi::kernels {

const std::vector<F32PoolKernel>& f32_pool_kernels() {
  static const std::vector<F32PoolKernel> table = {
      {"f32_pool__ref", int(IsaTier::Ref), &f32_pool_fold__ref, &f32_pool_fold_rows__ref, &f32_pool_hwin_nhwc__ref, &f32_pool_hwin_flat__ref, &f32_pool_hwin_plane__ref},
      {"f32_pool__avx2", int(IsaTier::Avx2), &f32_pool_fold__avx2, &f32_pool_fold_rows__avx2, &f32_pool_hwin_nhwc__avx2, &f32_pool_hwin_flat__avx2,
       &f32_pool_hwin_plane__avx2},
      {"f32_pool__avx512", int(IsaTier::Avx512), &f32_pool_fold__avx512, &f32_pool_fold_rows__avx512, &f32_pool_hwin_nhwc__avx512, &f32_pool_hwin_flat__avx512,
       &f32_pool_hwin_plane__avx512},
  };
  return table;
}

const F32PoolKernel& select_f32_pool() {
  const F32PoolKernel* best = &f32_pool_kernels()[0];
  for (const F32PoolKernel& k : f32_pool_kernels())
    if (k.tier <= int(isa_tier()) && k.tier > best->tier) best = &k;
  return *best;
}

}  // namespace fi::kernels
