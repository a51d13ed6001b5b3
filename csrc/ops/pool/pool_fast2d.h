// Fast float32 paths of MaxPool / AveragePool over 2-D (or 1-D) planes without dilation:
// each output row reduces its valid input rows into a row buffer (contiguous, vectorised) that
// carries the column padding (lowest / zero), then reduces the buffer horizontally with one
// branch-free loop specialised for strides 1 and 2 and kernels 2 and 3; averages multiply by the
// reciprocals of the valid (or padded) row and column counts. Same results as the generic separable
// path (NaNs skipped by max, ONNX counts with pads, ceil_mode and count_include_pad).
#pragma once
#include <vector>

#include "ops/pool/pool_geometry.h"

namespace fi {

// True when g is a 1-D or 2-D window with dilation 1 and modest padding (what the fast paths handle).
bool pool2d_fast_ok(const PoolGeom& g);

// Length (floats) of the padded row buffer the plane functions need.
int64_t pool2d_buffer_len(const PoolGeom& g);

// Per output column: 1 / the number of window columns AveragePool counts (inv_cols[out2]; inf for 0).
void pool2d_inv_col_counts(const std::vector<PoolGeom::Taps>& tw, bool include_pad, float* inv_cols);

// One plane x [in1, in2] -> y [out1, out2]; th is pool_taps(g, 1); buf holds
// pool2d_buffer_len(g) floats; inv_cols comes from pool2d_inv_col_counts.
void maxpool2d_f32(const PoolGeom& g, const std::vector<PoolGeom::Taps>& th, const float* x, float* y, float* buf);
void avgpool2d_f32(const PoolGeom& g, const std::vector<PoolGeom::Taps>& th, const float* inv_cols, bool include_pad,
                   const float* x, float* y, float* buf);

}  // namespace fi
