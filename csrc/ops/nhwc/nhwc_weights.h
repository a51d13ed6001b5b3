// Conv weights packed for the channels-last GEMMs (NhwcConv, NhwcDwBlock).
#pragma once
#include <cstdint>

#include "kernels/gemm.h"

namespace fi {

// Packs Wt [K, M], given as its transpose wt [M, K] row-major (Wt[k, m] = wt[m * K + k]: a
// pointwise conv's W [M, K, 1, 1] as it is), for the microkernel of the highest tier, unless a
// lower SIMD tier's narrower vectors waste much less on the M output channels (the rows,
// N*OH*OW, are many): M = 24 runs 4x24 AVX2 tiles (108 GFLOP/s on 336x24x144) rather than
// AVX-512 ones a quarter empty (84).
kernels::F32PackedWeights nhwc_pack_gemm_weights(int64_t K, int64_t M, const float* wt);

}  // namespace fi
