// fp32 direct convolution for a CNN's first layer: X NCHW with few channels (an RGB image), Y
// channels-last [N, OH, OW, M], group 1, any kernel, stride, dilation and padding:
//   Y[n, oy, ox, m] = clamp(bias[m] + sum_{c,ky,kx} W[m, c, ky, kx] * X[n, c, iy, ix])
// with iy = oy*sh - pt + ky*dh, ix = ox*sw - pl + kx*dw, taps outside the image counting as zero.
// It replaces im2row + GEMM there (K = C*kh*kw is 27 or 147, the im2row copy as large as the
// output): the weights are packed once into [C*kh*kw, Mp] (Mp = M rounded up to 16, zero
// padded), and a microkernel computes one output row of one image in register blocks of P
// output pixels x MV channel vectors (AVX-512: 6 x 4, 8 x 3, 12 x 2, 24 x 1 vectors of 16; AVX2:
// 6 x 2, 12 x 1 of 8), each tap one broadcast input pixel per output pixel and MV weight
// vectors, so 10 loads feed 24 FMAs. Interior blocks take no bounds checks; the blocks at the
// image's left and right edges check each tap. One microkernel per ISA (f32_conv_stem__avx512
// ...); the driver splits the N*OH rows over the thread pool.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/vmath.h"

namespace fi {
class ThreadPool;
}

namespace fi::kernels {

struct ConvStemGeom {
  int64_t C = 0, H = 0, W = 0, M = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
};

// Output row oy of one image: x the image [C, H, W], w the packed weights, bias [M] or null,
// clamp to [lo, hi], y the image [OH, OW, M].
using f32_conv_stem_row_fn = void (*)(const ConvStemGeom& g, int64_t oy, const float* x, const float* w,
                                      const float* bias, float lo, float hi, float* y);

void f32_conv_stem__ref(const ConvStemGeom&, int64_t, const float*, const float*, const float*, float, float, float*);
void f32_conv_stem__avx2(const ConvStemGeom&, int64_t, const float*, const float*, const float*, float, float, float*);
void f32_conv_stem__avx512(const ConvStemGeom&, int64_t, const float*, const float*, const float*, float, float,
                           float*);

struct F32ConvStemKernel {
  const char* name;
  int tier;  // fi::IsaTier as int
  f32_conv_stem_row_fn fn;
};

// Every kernel (ref, avx2, avx512) and the best one the CPU and FASTINFER_ISA allow.
const std::vector<F32ConvStemKernel>& f32_conv_stem_kernels();
const F32ConvStemKernel& select_f32_conv_stem();

// M rounded up to the packed row length.
inline int64_t f32_conv_stem_padded_m(int64_t M) { return (M + 15) / 16 * 16; }
// W [M, C, kh, kw] -> [C*kh*kw, Mp] (zeros past M) into out.
void f32_conv_stem_pack_weights(int64_t M, int64_t C, int64_t kh, int64_t kw, const float* w, float* out);

// X [N, C, H, W] -> Y [N, OH, OW, M] with kernel k; act (a fused SiLU, say) applied to each row
// right after it is made, while it is in L1. Split over `pool` in tasks of f32_conv_stem_grain rows.
void f32_conv_stem(const F32ConvStemKernel& k, const ConvStemGeom& g, int64_t N, const float* x, const float* w_packed,
                   const float* bias, float lo, float hi, float* y, ThreadPool* pool,
                   Activation act = Activation::None);

// Output rows [r0, r1) of the N * OH rows of f32_conv_stem (one task of its split, say).
void f32_conv_stem_rows(const F32ConvStemKernel& k, const ConvStemGeom& g, int64_t r0, int64_t r1, const float* x,
                        const float* w_packed, const float* bias, float lo, float hi, float* y,
                        Activation act = Activation::None);
// Rows per task: about kParallelMinFlops of work each.
int64_t f32_conv_stem_grain(const ConvStemGeom& g);

}  // namespace fi::kernels
