// Conv weights packed for the channels-last GEMMs (NhwcConv, NhwcDwBlock).
#pragma once
#include <cstdint>

#include "kernels/gemm.h"

namespace fi {

// Packs Wt [K, M], given as its transpose wt [M, K] row-major (Wt[k, m] = wt[m * K + k]: a
// pointwise conv's W [M, K, 1, 1] as it is), for the microkernel of the highest tier, unless a
// lower SIMD tier's narrower vectors waste much less on the M output channels (the rows,
// N*OH*OW, are many): M = 24 runs 4x24 AVX2 tiles (108 GFLOP/s on 336x24x144) rather than
// AVX-512 ones a quarter empty (84). rows_hint (0: unknown) is the GEMM's expected row count: from
// kernels::kF32WideTileMinRows rows the AVX-512 6x64 tile replaces 12x32 (ResNet-50 at batch 1,
// per node, one A/B: layers 1-3's convs 0.90-0.95x the time; layer 4's, 49 rows, 1.04-1.06x).
kernels::F32PackedWeights nhwc_pack_gemm_weights(int64_t K, int64_t M, const float* wt, int64_t rows_hint = 0);

}  // namespace fi
