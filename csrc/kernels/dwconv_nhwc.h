// fp32 depthwise 2-D convolution in channels-last (NHWC) layout, channel multiplier 1:
//   Y[n, oy, ox, c] = clamp(bias[c] + sum_{ky,kx} W[ky, kx, c] * X[n, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, c])
// with taps outside the input counting as zero. The weights are repacked once into [kh*kw, C]
// (f32_dwconv_nhwc_pack_weights), so every tap is a contiguous channel vector like the pixels.
// A microkernel computes a run of output rows of one image: vectorised along the channels (tails
// masked), several output pixels (and with AVX-512 and a 3x3 kernel, two rows) per pass sharing
// the loaded inputs and the weight vectors, out-of-bounds taps skipped. One microkernel per ISA
// (f32_dwconv_nhwc__avx512 ...); the driver splits the N*out_h rows over the thread pool.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/dwconv.h"

namespace fi {
class ThreadPool;
}

namespace fi::kernels {

// Output rows [oy0, oy1) of one image: x is the image [in_h, in_w, C], y the image
// [out_h, out_w, C], w the packed [kh*kw, C] weights, bias [C] or null; clamp to [lo, hi].
using f32_dwconv_nhwc_rows_fn = void (*)(const DwConvGeom& g, int64_t C, int64_t oy0, int64_t oy1, const float* x,
                                         const float* w, const float* bias, float lo, float hi, float* y);

void f32_dwconv_nhwc__ref(const DwConvGeom&, int64_t, int64_t, int64_t, const float*, const float*, const float*,
                          float, float, float*);
void f32_dwconv_nhwc__avx2(const DwConvGeom&, int64_t, int64_t, int64_t, const float*, const float*, const float*,
                           float, float, float*);
void f32_dwconv_nhwc__avx512(const DwConvGeom&, int64_t, int64_t, int64_t, const float*, const float*, const float*,
                             float, float, float*);

struct F32DwConvNhwcKernel {
  const char* name;
  int tier;  // fi::IsaTier as int
  f32_dwconv_nhwc_rows_fn fn;
};

// Every kernel (ref, avx2, avx512) and the best one the CPU and FASTINFER_ISA allow.
const std::vector<F32DwConvNhwcKernel>& f32_dwconv_nhwc_kernels();
const F32DwConvNhwcKernel& select_f32_dwconv_nhwc();

// W [C, 1, kh, kw] (ONNX depthwise) -> [kh*kw, C] into out (kh*kw*C floats).
void f32_dwconv_nhwc_pack_weights(int64_t C, int64_t kh, int64_t kw, const float* w, float* out);

// X [N, in_h, in_w, C] -> Y [N, out_h, out_w, C] with kernel k.
void f32_dwconv_nhwc(const F32DwConvNhwcKernel& k, const DwConvGeom& g, int64_t N, int64_t C, const float* x,
                     const float* w_packed, const float* bias, float lo, float hi, float* y, ThreadPool* pool);

}  // namespace fi::kernels
