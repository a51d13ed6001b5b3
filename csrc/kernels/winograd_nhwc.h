// fp32 Winograd F(4x4, 3x3) and F(2x2, 3x3) convolution in channels-last layout (NhwcConv): 3x3
// kernel, stride 1, dilation 1, group 1, any pads. X [N, H, W, C], Y [N, OH, OW, M].
//
// Per block of tiles (m x m outputs each, alpha = m + 2): the input transform writes
// V[xi][tile][c] = (B^T d B)[xi] for each tile's alpha x alpha patch of C-vectors (zero outside
// the image), SIMD over channels; alpha^2 GEMMs Mt[xi][tile][m] = V[xi] (tiles x C, row-major) x
// U[xi] (C x M, packed once) on kernels::f32_gemm; the output transform (A^T Mt A per tile, SIMD
// over output channels) stores the m x m outputs,
// clipped at the image edge, with bias, residual and clamp fused. Tasks are (block, slice of the
// output channels): few tiles (batch 1, late layers) split M too, so that every thread has work
// while the alpha^2 weight matrices, the bulk of the traffic there, are still read once per block.
// Each thread has its own part of the scratch. Transforms per ISA in kernels/cpu/<isa>/.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/gemm.h"

namespace fi {
class ThreadPool;
}

namespace fi::kernels {

// Input transform of one tile: x is image n's [H, W, C] plane, the patch's top-left input pixel is
// (iy0, ix0) (may lie outside); writes V_xi[c] at v[xi * xi_stride + c], xi < alpha^2. Returns
// false when the patch holds a value with |x| >= 2^100, NaN or Inf (see f32_winograd_values_ok).
using f32_winograd_nhwc_input_fn = bool (*)(const float* x, int64_t h, int64_t w, int64_t c, int64_t iy0,
                                            int64_t ix0, float* v, int64_t xi_stride);
// Output transform of one tile: reads Mt_xi[m] at mt[xi * xi_stride + m] for m < M; stores
// clamp((A^T Mt A)[u][w] + bias[m] + res) at y[(u * out_w + w) * ldy + m] for u < rows, w < cols;
// residual (or null) is read at res[(u * out_w + w) * ldr + m]; bias may be null. ldy > M: a slice
// of Y's channels (a block of M columns, or a conv writing its part of a channel Concat).
struct WinogradNhwcOut {
  int64_t m = 0, out_w = 0, ldy = 0, ldr = 0;
  const float* bias = nullptr;
  float lo = 0, hi = 0;
};
using f32_winograd_nhwc_output_fn = void (*)(const float* mt, int64_t xi_stride, const WinogradNhwcOut& o, float* y,
                                             const float* residual, int rows, int cols);

// U_xi of a compact plan (see F32WinogradNhwcPlan): out[k] = sum_t coef[t] * src[t][k], k < n.
using f32_winograd_nhwc_weights_fn = void (*)(const float* const* src, const float* coef, int taps, int64_t n,
                                              float* out);

#define FI_WINOGRAD_NHWC_TILE(isa, m)                                                                          \
  bool f32_winograd_nhwc_##m##x3__##isa##_input(const float*, int64_t, int64_t, int64_t, int64_t, int64_t, float*, \
                                                int64_t);                                                          \
  void f32_winograd_nhwc_##m##x3__##isa##_output(const float*, int64_t, const WinogradNhwcOut&, float*,             \
                                                 const float*, int, int);
#define FI_WINOGRAD_NHWC_KERNEL(isa) \
  FI_WINOGRAD_NHWC_TILE(isa, 4)      \
  FI_WINOGRAD_NHWC_TILE(isa, 2)      \
  void f32_winograd_nhwc__##isa##_weights(const float* const*, const float*, int, int64_t, float*);
FI_WINOGRAD_NHWC_KERNEL(ref)
FI_WINOGRAD_NHWC_KERNEL(avx2)
FI_WINOGRAD_NHWC_KERNEL(avx512)
#undef FI_WINOGRAD_NHWC_KERNEL
#undef FI_WINOGRAD_NHWC_TILE

struct F32WinogradNhwcKernel {
  const char* name;
  int tier;  // fi::IsaTier as int
  int tile;  // m: 4 or 2
  f32_winograd_nhwc_input_fn input;
  f32_winograd_nhwc_output_fn output;
  f32_winograd_nhwc_weights_fn weights;
};
// The best transforms for tile size m (4 or 2) the CPU (and FASTINFER_ISA) allow.
const F32WinogradNhwcKernel& select_f32_winograd_nhwc(int tile = 4);

// A layer's weights for Winograd, in one of two forms:
// - stored: the alpha^2 transformed GEMM B operands U_xi [C, M], packed once: F(4,3) 36 (4x W's
//   bytes; the fewest FMAs per output where many output tiles share each weight) or F(2,3) 16
//   (1.8x W's bytes, 2.25x fewer FMAs than direct: small maps, where F(4,3)'s 4x4 tiles overhang
//   the image and its 36 weight matrices stream from DRAM for a few tiles each);
// - compact: W's 9 taps W_t [C, M], packed the same way (W's bytes); each task rebuilds the
//   U_xi columns it needs, one xi at a time into an L1-sized buffer, as a sum of at most 9 taps
//   (U_xi = sum_t coef[xi][t] W_t, coef = G (x) G). That costs about 5.4 / tiles-per-block of the
//   GEMMs' FMAs and reads 4x fewer weight bytes: with few tiles (late layers at batch 1) the
//   stored U_xi stream from DRAM on every call and the compact form is as fast or faster
//   (F(4,3) only).
struct F32WinogradNhwcPlan {
  int64_t c = 0, m = 0;
  int tile = 4;                        // output tile m x m: 4 or 2
  std::vector<F32PackedWeights> u;     // stored: alpha^2 (36 or 16)
  std::vector<F32PackedWeights> taps;  // compact: 9 (t = ky * 3 + kx)
  int alpha() const { return tile + 2; }
  int points() const { return alpha() * alpha(); }
  bool compact() const { return u.empty(); }
  const F32PackedWeights& first() const { return compact() ? taps[0] : u[0]; }
};
// Transforms W [M, C, 3, 3] (row-major) for tile size `tile` (4 or 2) and packs U_xi for kernels::f32_gemm.
F32WinogradNhwcPlan f32_winograd_nhwc_plan(const float* w, int64_t m, int64_t c, int tile = 4);
// The compact form: W [M, C, 3, 3]'s taps packed for kernels::f32_gemm.
F32WinogradNhwcPlan f32_winograd_nhwc_compact_plan(const float* w, int64_t m, int64_t c);
// W [M, C, 3, 3] back from a plan, so a layer need not keep W beside its transformed weights
// (a compact plan gives it back exactly; a stored one as follows):
// W = L U L^T with L G = I: F(4,3) L = [[4,0,0,0,0,0], [0,-3,3,0,0,0], [0,0,0,0,0,1]], F(2,3)
// L = [[1,0,0,0], [0,1,-1,0], [0,0,0,1]].
// Corner taps come back exactly, the others within a few ulp of the row's largest tap.
void f32_winograd_nhwc_weights(const F32WinogradNhwcPlan& p, float* w);

struct WinogradNhwcGeom {
  int64_t n = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0, pad_top = 0, pad_left = 0;
  int64_t y_stride = 0;  // floats between Y's pixels (0: M); the residual's are always M
};

// Floats of scratch f32_winograd_nhwc_conv needs with a pool of `threads` threads.
size_t f32_winograd_nhwc_scratch_size(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, int threads);

// Y = act(clamp(conv3x3(X) + bias + residual)), layouts as above (Y's pixels g.y_stride apart);
// bias [M] or null, residual [N, OH, OW, M] or null; act is applied to each tile's outputs right
// after they are stored (still in L1).
// Returns false, with Y partly written, when X holds a value f32_winograd_values_ok rejects (the
// transforms would spread a NaN or Inf over whole tiles): the caller then computes Y directly, so
// Y must not alias X or the residual.
bool f32_winograd_nhwc_conv(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, const float* x,
                            const float* bias, const float* residual, float clamp_min, float clamp_max, float* y,
                            float* scratch, ThreadPool* pool, Activation act = Activation::None);

// The same conv cut into the two phases of a job of the caller's own (OpKernel::defer): run(phase,
// slot, begin, end) over [0, n(phase)), every chunk of phase 0 before any of phase 1, slot below
// `threads` (the scratch is sized for them); ok() is false once a tile held a value Winograd
// rejects (Y then partly written, as above).
class F32WinogradNhwcTasks {
 public:
  F32WinogradNhwcTasks(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, const float* x, const float* bias,
                       const float* residual, float clamp_min, float clamp_max, float* y, float* scratch, int threads,
                       Activation act = Activation::None);
  ~F32WinogradNhwcTasks();
  F32WinogradNhwcTasks(const F32WinogradNhwcTasks&) = delete;
  F32WinogradNhwcTasks& operator=(const F32WinogradNhwcTasks&) = delete;
  int64_t n(int phase) const;
  int64_t grain(int phase) const;
  void run(int phase, int slot, int64_t begin, int64_t end) const;
  bool ok() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fi::kernels
