// fp32 Winograd convolution F(m x m, 3 x 3), m = 4 (alpha = 6) or m = 6 (alpha = 8), for 2-D
// convs with a 3x3 kernel, stride 1, dilation 1, any pads, NCHW, groups of dense channels.
//
// Y = A^T [ (G W G^T) .* (B^T X B) ] A per output tile of m x m and channel pair, computed as
// alpha^2 GEMMs: for each transform point xi, Mt_xi[Mg, T] = U_xi[Mg, Cg] x V_xi[Cg, T] over the
// T tiles of a block. U (weights, G W G^T) is made once per layer (f32_winograd_plan). Per block
// of tiles: the input transform (vectorised along tiles, one tile per lane) gathers each tile's
// alpha x alpha patch with masked loads (zero outside the image) and writes V_xi directly as the
// GEMM's packed B panels; the alpha^2 GEMMs run on kernels::f32_gemm (the kernel its selection
// picks for the call's shape); the output transform stores each tile row with the
// epilogue (bias, residual, clamp) fused. Blocks hold V and Mt in L2 where the weights allow;
// blocks go to the threads of the pool, or, when there are too few tiles, each phase of a block is
// split over the pool (channels, transform points, output channels).
// Transforms are named after the tile and ISA (f32_winograd_4x3__avx512) and listed once in
// cpu/f32_winograd.inc.
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

// Where the input patches of a panel of tiles are: tile t's patch element (r, s) is
// x[off[t] + r * in_w + s] when 0 <= iy0[t] + r < in_h and 0 <= ix0[t] + s < in_w, else zero (a
// tile past the block has iy0 far below zero). x is one channel plane of image 0, off includes
// the image offset, so every index fits in int32.
struct WinogradPatches {
  const float* x;
  const int32_t *off, *iy0, *ix0;
  int32_t in_h, in_w;
};
// Input transform of `nr` tiles: gathers the alpha x alpha patches and writes
// V_xi[t] = (B^T d B)[xi] to v[xi * v_stride + t], xi = i * alpha + k.
using f32_winograd_input_fn = void (*)(const WinogradPatches& d, int64_t nr, float* v, int64_t v_stride);
// Where the output tiles of a panel go: tile t's element (u, w) is y[off[t] + u * out_w + w] for
// u < rows[t], w < cols[t] (0 for a tile past the block); residual, when non-null, is read at the
// same index. y and residual point at one channel plane of image 0.
struct WinogradStore {
  float* y;
  const float* residual;
  const int32_t *off, *rows, *cols;
  int64_t out_w;
  float bias, lo, hi;
};
// Output transform of `nr` tiles: reads Mt_xi[t] at mt[xi * mt_stride + t]; stores
// clamp((A^T Mt A)[u][w] + bias + residual) to the tiles' places.
using f32_winograd_output_fn = void (*)(const float* mt, int64_t mt_stride, int64_t nr, const WinogradStore& st);

#define FI_WINOGRAD_KERNEL(isa, name, m, lanes) \
  void name##_input(const WinogradPatches&, int64_t, float*, int64_t); \
  void name##_output(const float*, int64_t, int64_t, const WinogradStore&);
#include "kernels/cpu/f32_winograd.inc"
#undef FI_WINOGRAD_KERNEL

// One entry of the selection table: the transforms of one tile size for one ISA.
struct F32WinogradKernel {
  const char* name;
  int tier;  // fi::IsaTier as int
  int m;     // output tile size (4 or 6)
  int lanes; // tiles per vector: the panel width must be a multiple
  f32_winograd_input_fn input;
  f32_winograd_output_fn output;
};

const std::vector<F32WinogradKernel>& f32_winograd_kernels();
bool f32_winograd_supported(const F32WinogradKernel& k);
// The best allowed transforms for tile size m (4 or 6): highest ISA tier.
const F32WinogradKernel& select_f32_winograd(int m);
const F32WinogradKernel* find_f32_winograd(const char* name);

// A layer's transformed weights: U[g][xi][mg][cg] for groups g, and its transforms.
struct F32WinogradPlan {
  int m = 4, alpha = 6;
  int64_t groups = 1, cg = 0, mg = 0;
  std::shared_ptr<float> u;
  const F32WinogradKernel* transforms = nullptr;
};

// U = G k G^T of one 3x3 kernel k (row-major) for tile size m (2, 4 or 6): alpha x alpha, row-major,
// in double (alpha = m + 2).
void f32_winograd_weight_transform(int m, const float* k, double* u);

// Transforms W [groups * mg, cg, 3, 3] (row-major) for tile size m (4 or 6), in double.
// `transforms` null: the best allowed for m.
F32WinogradPlan f32_winograd_plan(int m, const float* w, int64_t groups, int64_t cg, int64_t mg,
                                  const F32WinogradKernel* transforms = nullptr);

// One call's spatial geometry (stride 1, 3x3): out = in + pads - 2 per dim.
struct WinogradGeom {
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0, pad_top = 0, pad_left = 0;
};

// True when f32_winograd_conv can take this call (offsets fit int32, pads within reason).
bool f32_winograd_fits(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n);

// True when every |x[i]| < 2^100 (no NaN or Inf). The transforms mix a whole alpha x alpha patch,
// so a NaN or Inf would reach every output of the tiles around it (and Inf - Inf gives NaN), where
// direct convolution reaches a 3x3 neighbourhood; huge values could overflow. Callers take the
// direct path unless this holds for the input (weights: checked by the plan's caller).
bool f32_winograd_values_ok(const float* x, int64_t n);

// Floats of scratch f32_winograd_conv needs for n images with a pool of `threads` threads.
size_t f32_winograd_scratch_size(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n, int threads);

// Y[n, groups * mg, out_h, out_w] = clamp(conv(X[n, groups * cg, in_h, in_w]) + bias + residual),
// bias [groups * mg] or null, residual shaped like Y or null. `scratch`: the size above.
void f32_winograd_conv(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n, const float* x, const float* bias,
                       const float* residual, float clamp_min, float clamp_max, float* y, float* scratch,
                       ThreadPool* pool);

}  // namespace fi::kernels
