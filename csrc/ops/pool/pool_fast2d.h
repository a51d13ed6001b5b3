// Fast float32 paths of MaxPool / AveragePool over 2-D (or 1-D) planes without dilation. A plane is
// reduced separably with whole-plane passes (kernels/pool.h, one implementation per ISA):
//  1. vertical: each output row's valid input rows are folded into row oh of a buffer V whose rows
//     carry the column padding (lowest for max, zero for average; written once per thread), the rows
//     with every tap inside the input in one call (one flat pass when the stride is 1);
//  2. horizontal: the windows of every V row, vectorised along the output row (strides 1 and 2 in
//     SIMD), with no bounds checks.
// Narrow planes whose input width is stride * output width (3x3 "same" pools on 7x7 or 14x14 maps) keep
// V unpadded (row stride W) and reduce the whole plane as one flat row instead, with per-tap bit masks
// dropping the taps that fall outside their row: a few full vectors per plane rather than a masked
// vector per row.
// Averages multiply by 1/rows * 1/cols of the valid (or padded) counts. Max skips NaNs and gives the
// lowest float for an empty window (as the generic separable path).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/pool.h"
#include "ops/pool/pool_geometry.h"

namespace fi {

// True when g is a 1-D or 2-D window with dilation 1 and modest padding and stride.
bool pool2d_fast_ok(const PoolGeom& g);

// What every plane of one call shares.
struct Pool2dPlan {
  const kernels::F32PoolKernel* k = nullptr;
  PoolGeom g;
  bool max = true;
  std::vector<PoolGeom::Taps> th;
  int64_t vs = 0;            // row stride of V: pad_head + W + tail padding, a multiple of the stride
  int64_t oh0 = 0, oh1 = 0;  // output rows [oh0, oh1) have every vertical tap inside the input
  bool flat = false;         // one flat horizontal pass with masks (V rows W apart, no padding columns)
  std::vector<uint32_t> masks;  // flat: per tap and output pixel, see kernels::F32PoolKernel::hwin_flat
  std::vector<float> scale;  // average: per output pixel 1/count
  int64_t buf_len = 0;       // floats of the per-thread buffer
};

// The plan for pools of geometry g (pool2d_fast_ok(g)); max, or average counting pads or not.
Pool2dPlan pool2d_plan(const PoolGeom& g, bool max, bool include_pad);

// The per-thread buffer of p, padding written.
std::vector<float> pool2d_buffer(const Pool2dPlan& p);

// One plane x [in1, in2] -> y [out1, out2]; buf from pool2d_buffer(p).
void pool2d_plane(const Pool2dPlan& p, const float* x, float* y, float* buf);

}  // namespace fi
