// Portable fp32 GEMM microkernel, the reference for the SIMD ones.
#include <algorithm>

#include "kernels/gemm.h"

namespace fi::kernels {

namespace {

constexpr int MR = 4, NR = 8;

// Stores the accumulated mr x nc tile into C with the epilogue (all but the activation, which the
// driver applies).
void finish(const float (&acc)[MR][NR], int64_t mr, int64_t nc, float* c, int64_t ldc, bool accumulate,
            const Epilogue* ep) {
  for (int64_t i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < nc; ++j) {
      float v = acc[i][j];
      if (accumulate) v += ci[j];
      if (ep) {
        v *= ep->alpha;
        if (ep->bias) v += ep->bias_per_row ? ep->bias[i] : ep->bias[j];
        if (ep->residual) v += ep->beta * ep->residual[i * ep->res_row_stride + j * ep->res_col_stride];
        v = std::min(std::max(v, ep->clamp_min), ep->clamp_max);
      }
      ci[j] = v;
    }
  }
}

// A tile of up to 4 rows x 8 columns of C from A[i, k] = a[i*rs + k*ks] and a packed B panel (kc
// rows of 8 floats), accumulated in a 4x8 array.
void tile(int64_t mr, int64_t nc, int64_t kc, const float* a, int64_t rs, int64_t ks, const float* b, float* c,
          int64_t ldc, bool accumulate, const Epilogue* ep) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * NR;
    for (int64_t i = 0; i < mr; ++i) {
      float ai = a[i * rs + k * ks];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
    }
  }
  finish(acc, mr, nc, c, ldc, accumulate, ep);
}

}  // namespace

// f32_gemm_4x8__ref: A packed (kc groups of mr floats).
void f32_gemm_4x8__ref(int64_t mr, int64_t nc, int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                       bool accumulate, const Epilogue* ep) {
  tile(mr, nc, kc, a, 1, mr, b, c, ldc, accumulate, ep);
}

// f32_gemm_4x8__ref_direct: A row-major at stride lda.
void f32_gemm_4x8__ref_direct(int64_t mr, int64_t nc, int64_t kc, const float* a, int64_t lda, const float* b,
                              float* c, int64_t ldc, bool accumulate, const Epilogue* ep) {
  tile(mr, nc, kc, a, lda, 1, b, c, ldc, accumulate, ep);
}

// f32_gemm_4x8__ref_indirect: row i, tap t of A at ind[i*ind_stride + t] (kc floats).
void f32_gemm_4x8__ref_indirect(int64_t mr, int64_t nc, int64_t ntaps, int64_t kc, const float* const* ind,
                                int64_t ind_stride, const float* b, float* c, int64_t ldc, bool accumulate,
                                const Epilogue* ep) {
  float acc[MR][NR] = {};
  for (int64_t t = 0; t < ntaps; ++t)
    for (int64_t k = 0; k < kc; ++k) {
      const float* bk = b + (t * kc + k) * NR;
      for (int64_t i = 0; i < mr; ++i) {
        float ai = ind[i * ind_stride + t][k];
        for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
      }
    }
  finish(acc, mr, nc, c, ldc, accumulate, ep);
}

}  // namespace fi::kernels
