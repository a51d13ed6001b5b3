// Conv weights packed for the channels-last GEMMs (NhwcConv, NhwcDwBlock).
#pragma once
#include <cstdint>

#include "kernels/gemm.h"

namespace fi {

// Packs Wt [K, M], given as its transpose wt [M, K] row-major (Wt[k, m] = wt[m * K + k]: a
// pointwise conv's W [M, K, 1, 1] as it is), for the microkernel of the highest tier, unless a
// lower SIMD tier's narrower tile wastes much less of its width on the M output channels (the
// rows, N*OH*OW, are many): M = 16 runs 6x16 AVX2 tiles rather than half-empty 8x32 AVX-512 ones.
kernels::F32PackedWeights nhwc_pack_gemm_weights(int64_t K, int64_t M, const float* wt);

}  // namespace fi
