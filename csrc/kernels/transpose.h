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

// The same cut into tasks, for a job of the caller's own (OpKernel::defer): run(begin, end) over
// [0, count()) in chunks of at least grain(); every task writes its own part of dst.
class X32TransposeTasks {
 public:
  X32TransposeTasks(const float* src, float* dst, int64_t n, int64_t rows, int64_t cols);
  int64_t count() const { return count_; }
  int64_t grain() const { return grain_; }
  void run(int64_t begin, int64_t end) const;

 private:
  const float* src_;
  float* dst_;
  int64_t rows_, cols_, tr_ = 0, tc_ = 0, count_ = 0, grain_ = 1;
  bool whole_ = false;  // small matrices: one task per matrix
};

}  // namespace fi::kernels
