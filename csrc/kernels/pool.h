// fp32 pooling primitives shared by the NCHW (MaxPool/AveragePool) and NHWC (NhwcMaxPool/NhwcAveragePool)
// kernels. A 2-D window is reduced separably: `fold` reduces the window's valid input rows element-wise
// into a row buffer that carries the column padding (lowest for max, zero for sums), then `hwin_nhwc`
// (channel vectors per pixel) or `hwin_plane` (one value per pixel, vectorised along the output row)
// reduces that buffer horizontally. Max skips NaNs (a NaN never replaces the running max, as in
// onnxruntime), and an empty window gives the lowest float. One implementation per ISA (ref, avx2,
// avx512), chosen at run time by select_f32_pool() under the FASTINFER_ISA cap.
#pragma once
#include <cstdint>
#include <vector>

namespace fi::kernels {

struct F32PoolKernel {
  const char* name;
  int tier;  // fi::IsaTier as int
  // dst[i] = op(rows[0][i], ..., rows[n-1][i]) for i < len; n == 0 gives lowest (max) or 0 (sum).
  void (*fold)(bool max, const float* const* rows, int64_t n, int64_t len, float* dst);
  // Rows of a plane: dst[o*dst_step + i] = op_{r<kh} x[o*row_step + r*tap_step + i] for o < n_out, i < len
  // (kh == 0 gives lowest / 0).
  void (*fold_rows)(bool max, const float* x, int64_t tap_step, int64_t kh, int64_t row_step, int64_t n_out,
                    int64_t len, float* dst, int64_t dst_step);
  // Channels-last row: y[ox*C + c] = op_{k<kw} buf[(ox*sw + k*dw)*C + c] for ox < ow, c < C, times
  // scale[ox] when scale is non-null.
  void (*hwin_nhwc)(bool max, const float* buf, int64_t C, int64_t ow, int64_t kw, int64_t sw, int64_t dw,
                    const float* scale, float* y);
  // A flat plane of n outputs: y[j] = op over taps k < kw whose mask is set of buf[j*sw + k], times
  // scale[j] when scale is non-null. masks[k*n + j] (kw*n floats, then kPoolSlack) are bit patterns: for
  // max all ones where the tap is outside the row, else 0; for sums the complement. buf must hold
  // kPoolSlack floats past the last window.
  void (*hwin_flat)(bool max, const float* buf, int64_t n, int64_t kw, int64_t sw, const float* masks,
                    const float* scale, float* y);
  // Planar rows: y[r*ow + ox] = op_{k<kw} buf[r*buf_step + ox*sw + k] for r < rows, ox < ow, times
  // scale[r*ow + ox] when scale is non-null. buf must hold kPoolSlack floats past the last window
  // (vector over-reads).
  void (*hwin_plane)(bool max, const float* buf, int64_t buf_step, int64_t rows, int64_t ow, int64_t kw,
                     int64_t sw, const float* scale, float* y);
};

// Floats that hwin_plane may read past the last window (two AVX-512 vectors and a window).
constexpr int64_t kPoolSlack = 48;

// Every kernel (ref, avx2, avx512) and the best one the CPU and FASTINFER_ISA allow.
const std::vector<F32PoolKernel>& f32_pool_kernels();
const F32PoolKernel& select_f32_pool();

}  // namespace fi::kernels
