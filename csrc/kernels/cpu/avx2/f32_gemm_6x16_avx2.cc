// AVX2+FMA fp32 GEMM microkernel with a 6x16 tile.
#include <immintrin.h>

#include "kernels/gemm.h"

namespace fi::kernels {

namespace {

// Mask selecting the first n (0..8) lanes.
inline __m256i lane_mask(int64_t n) {
  alignas(32) static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits + 8 - n));
}

// Columns [0, 16) of one row: two vectors, the second (or both) masked when nc < 16.
struct Cols {
  __m256i m0, m1;
  bool full;
  explicit Cols(int64_t nc) : full(nc == 16) {
    m0 = lane_mask(nc < 8 ? nc : 8);
    m1 = lane_mask(nc > 8 ? nc - 8 : 0);
  }
  void load(const float* p, __m256& v0, __m256& v1) const {
    if (full) {
      v0 = _mm256_loadu_ps(p);
      v1 = _mm256_loadu_ps(p + 8);
    } else {
      v0 = _mm256_maskload_ps(p, m0);
      v1 = _mm256_maskload_ps(p + 8, m1);
    }
  }
  void store(float* p, __m256 v0, __m256 v1) const {
    if (full) {
      _mm256_storeu_ps(p, v0);
      _mm256_storeu_ps(p + 8, v1);
    } else {
      _mm256_maskstore_ps(p, m0, v0);
      _mm256_maskstore_ps(p + 8, m1, v1);
    }
  }
};

// M rows (1..6) x 16 columns: broadcast A[i,k], FMA with the two B vectors of row k.
template <int M>
void tile(int64_t nc, int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
          bool accumulate, const Epilogue* ep) {
  __m256 acc0[M], acc1[M];
  for (int i = 0; i < M; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  const float* ar[M];
  for (int i = 0; i < M; ++i) ar[i] = a + i * lda;
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_loadu_ps(b + k * 16);
    __m256 b1 = _mm256_loadu_ps(b + k * 16 + 8);
    for (int i = 0; i < M; ++i) {
      __m256 av = _mm256_broadcast_ss(ar[i] + k);
      acc0[i] = _mm256_fmadd_ps(av, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(av, b1, acc1[i]);
    }
  }
  Cols cols(nc);
  for (int i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
    __m256 v0 = acc0[i], v1 = acc1[i];
    if (accumulate) {
      __m256 c0, c1;
      cols.load(ci, c0, c1);
      v0 = _mm256_add_ps(v0, c0);
      v1 = _mm256_add_ps(v1, c1);
    }
    if (ep) {
      __m256 alpha = _mm256_set1_ps(ep->alpha);
      v0 = _mm256_mul_ps(v0, alpha);
      v1 = _mm256_mul_ps(v1, alpha);
      if (ep->bias) {
        __m256 x0, x1;
        if (ep->bias_per_row) {
          x0 = x1 = _mm256_set1_ps(ep->bias[i]);
        } else {
          cols.load(ep->bias, x0, x1);
        }
        v0 = _mm256_add_ps(v0, x0);
        v1 = _mm256_add_ps(v1, x1);
      }
      if (ep->residual) {
        const float* r = ep->residual + i * ep->res_row_stride;
        __m256 x0, x1;
        if (ep->res_col_stride == 0) {
          x0 = x1 = _mm256_set1_ps(*r);
        } else {
          cols.load(r, x0, x1);
        }
        __m256 beta = _mm256_set1_ps(ep->beta);
        v0 = _mm256_fmadd_ps(beta, x0, v0);
        v1 = _mm256_fmadd_ps(beta, x1, v1);
      }
      __m256 lo = _mm256_set1_ps(ep->clamp_min), hi = _mm256_set1_ps(ep->clamp_max);
      v0 = _mm256_min_ps(hi, _mm256_max_ps(lo, v0));
      v1 = _mm256_min_ps(hi, _mm256_max_ps(lo, v1));
    }
    cols.store(ci, v0, v1);
  }
}

}  // namespace

// f32_gemm_6x16__avx2: up to 6 rows x 16 columns of C; A rows at stride lda, B panel kc x 16.
void f32_gemm_6x16__avx2(int64_t mr, int64_t nc, int64_t kc, const float* a, int64_t lda, const float* b,
                         float* c, int64_t ldc, bool accumulate, const Epilogue* ep) {
  switch (mr) {
    case 1: return tile<1>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 2: return tile<2>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 3: return tile<3>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 4: return tile<4>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    case 5: return tile<5>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
    default: return tile<6>(nc, kc, a, lda, b, c, ldc, accumulate, ep);
  }
}

}  // namespace fi::kernels
