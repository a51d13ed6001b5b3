// AVX-512 fp32 GEMM microkernel with an 8x32 tile.
#include <immintrin.h>

// GCC 12 warns about the deliberately undefined pass-through operand inside its AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/gemm.h"

namespace fi::kernels {

namespace {

inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }

// M rows (1..8) x 32 columns: broadcast A[i,k], FMA with the two B vectors of row k; masked
// loads and stores for the column tail.
template <int M>
void tile(int64_t nc, int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
          bool accumulate, const Epilogue* ep) {
  __m512 acc0[M], acc1[M];
  for (int i = 0; i < M; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  const float* ar[M];
  for (int i = 0; i < M; ++i) ar[i] = a + i * lda;
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_loadu_ps(b + k * 32);
    __m512 b1 = _mm512_loadu_ps(b + k * 32 + 16);
    for (int i = 0; i < M; ++i) {
      __m512 av = _mm512_broadcastss_ps(_mm_load_ss(ar[i] + k));
      acc0[i] = _mm512_fmadd_ps(av, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(av, b1, acc1[i]);
    }
  }
  const __mmask16 m0 = lanes(nc), m1 = lanes(nc - 16);
  for (int i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
    __m512 v0 = acc0[i], v1 = acc1[i];
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ci));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ci + 16));
    }
    if (ep) {
      __m512 alpha = _mm512_set1_ps(ep->alpha);
      v0 = _mm512_mul_ps(v0, alpha);
      v1 = _mm512_mul_ps(v1, alpha);
      if (ep->bias) {
        __m512 x0, x1;
        if (ep->bias_per_row) {
          x0 = x1 = _mm512_set1_ps(ep->bias[i]);
        } else {
          x0 = _mm512_maskz_loadu_ps(m0, ep->bias);
          x1 = _mm512_maskz_loadu_ps(m1, ep->bias + 16);
        }
        v0 = _mm512_add_ps(v0, x0);
        v1 = _mm512_add_ps(v1, x1);
      }
      if (ep->residual) {
        const float* r = ep->residual + i * ep->res_row_stride;
        __m512 x0, x1;
        if (ep->res_col_stride == 0) {
          x0 = x1 = _mm512_set1_ps(*r);
        } else {
          x0 = _mm512_maskz_loadu_ps(m0, r);
          x1 = _mm512_maskz_loadu_ps(m1, r + 16);
        }
        __m512 beta = _mm512_set1_ps(ep->beta);
        v0 = _mm512_fmadd_ps(beta, x0, v0);
        v1 = _mm512_fmadd_ps(beta, x1, v1);
      }
      __m512 lo = _mm512_set1_ps(ep->clamp_min), hi = _mm512_set1_ps(ep->clamp_max);
      v0 = _mm512_min_ps(hi, _mm512_max_ps(lo, v0));
      v1 = _mm512_min_ps(hi, _mm512_max_ps(lo, v1));
    }
    _mm512_mask_storeu_ps(ci, m0, v0);
    _mm512_mask_storeu_ps(ci + 16, m1, v1);
  }
}

}  // namespace

// f32_gemm_8x32__avx512: up to 8 rows x 32 columns of C; A rows at stride lda, B panel kc x 32.
void f32_gemm_8x32__avx512(int64_t mr, int64_t nc, int64_t kc, const float* a, int64_t lda, const float* b,
                           float* c, int64_t ldc, bool accumulate, const Epilogue* ep) {
  switch (mr) {
    case 1: return tile<1>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 2: return tile<2>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 3: return tile<3>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 4: return tile<4>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 5: return tile<5>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 6: return tile<6>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 7: return tile<7>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    default: return tile<8>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
  }
}

}  // namespace fi::kernels
