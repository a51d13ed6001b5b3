// fp32 depthwise 2-D convolution, NCHW: one output plane Y[oy, ox] = epilogue(sum_{ky,kx}
// W[ky, kx] * X[oy*stride_h - pad_top + ky*dil_h, ox*stride_w - pad_left + kx*dil_w]) from one input
// plane, taps outside the input counting as zero. A microkernel computes a whole plane: output rows
// from input row pointers, vectorised along the output width, with the out-of-bounds taps handled
// by an edge path (kernel rows skipped at the top/bottom, vectors whose loads are masked per tap
// column at the left/right), so there are no per-element branches. Microkernels are named after the kernel size and
// width stride they are specialised for (f32_dwconv_3x3s2__avx512; kxk = any size) and listed once
// in cpu/f32_dwconv.inc. The driver (f32_dwconv) splits the N*M planes over the thread pool and
// calls a microkernel per run of planes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/gemm.h"

namespace fi {
class ThreadPool;
}

namespace fi::kernels {

// Geometry of one plane. Padding at the bottom/right is implied by out_h/out_w; any values are
// safe (taps are bounds-checked against in_h/in_w), the op validates them against ONNX.
struct DwConvGeom {
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_top = 0, pad_left = 0;
};

// Microkernel: `count` planes; plane i reads the in_h x in_w input plane x + i * x_step (x_step 0:
// every plane reads one input plane, a channel multiplier), the kh x kw weights w + i * kh * kw,
// and writes the out_h x out_w plane y + i * out_h * out_w. Epilogue: ep.bias, when non-null, is
// per plane (ep.bias[i]); then clamp to [ep.clamp_min, ep.clamp_max]. alpha, residual and act are
// not used. Per-geometry setup (edge and flat masks) is done once per call.
using f32_dwconv_ukernel_fn = void (*)(const DwConvGeom& g, int64_t count, const float* x, int64_t x_step,
                                       const float* w, float* y, const Epilogue& ep);

#define FI_DWCONV_KERNEL(isa, name, kh, kw, sw) \
  void name(const DwConvGeom&, int64_t, const float*, int64_t, const float*, float*, const Epilogue&);
#include "kernels/cpu/f32_dwconv.inc"
#undef FI_DWCONV_KERNEL

// One entry of the selection table; kh, kw, sw are what the kernel requires, 0 meaning any.
struct F32DwConvKernel {
  const char* name;
  int tier;  // fi::IsaTier as int
  int kh, kw, sw;
  f32_dwconv_ukernel_fn fn;
};

const std::vector<F32DwConvKernel>& f32_dwconv_kernels();
bool f32_dwconv_supported(const F32DwConvKernel& k);
// True when kernel k can compute geometry g (its kernel size and width stride match).
bool f32_dwconv_fits(const F32DwConvKernel& k, const DwConvGeom& g);
// The best allowed kernel for g: highest ISA tier, then the most specialised.
const F32DwConvKernel& select_f32_dwconv(const DwConvGeom& g);
const F32DwConvKernel* find_f32_dwconv(const char* name);

// Y[b, m] = plane(X[b, m / mult], W[m], bias[m]) for b < n, m < c_in * mult: X is [n, c_in, in_h,
// in_w], W [c_in * mult, kh, kw], Y [n, c_in * mult, out_h, out_w], bias [c_in * mult] or null.
// Planes are split over the pool.
void f32_dwconv(const F32DwConvKernel& k, const DwConvGeom& g, int64_t n, int64_t c_in, int64_t mult,
                const float* x, const float* w, const float* bias, float clamp_min, float clamp_max, float* y,
                ThreadPool* pool);

}  // namespace fi::kernels
