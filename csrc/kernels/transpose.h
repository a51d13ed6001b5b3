// Batched matrix transposes of 4-byte elements: the layout reorders (NCHW <-> NHWC) and the
// channels-last channel shuffle (a [G, C/G] transpose per pixel).
#pragma once
#include <cstdint>

namespace fi {
class ThreadPool;
}

namespace fi::kernels {

// dst[b][j][i] = src[b][i][j] for each of n row-major [rows, cols] matrices, in 16 x 16 tiles of
// 4 x 4 SSE register transposes (kernels/transpose4.h). 4-byte elements moved as floats (loads and
// stores only, so any bit pattern survives).
void x32_transpose_batch(const float* src, float* dst, int64_t n, int64_t rows, int64_t cols, ThreadPool* pool);

}  // namespace fi::kernels
