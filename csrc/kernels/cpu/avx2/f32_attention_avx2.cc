// AVX2+FMA softmax step of an attention score tile (online softmax), exp from the vectorised math.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/attention.h"
#include "kernels/cpu/avx2/vmath_traits.h"
#include "kernels/cpu/vmath_impl.h"

namespace fi::kernels {

namespace {

// exp(x) for x <= 0 (the softmax's fast exp of kernels/cpu/vmath_impl.h).
inline __m256 exp_nonpos(__m256 x) { return vm::Math<simd::Avx2Math>::exp_softmax(x); }

// Lanes [0, n) of a mask vector, n in 1..8.
inline __m256i lanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::min<int64_t>(n, 8))), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace

// f32_attention_softmax__avx2: see f32_attention_softmax_fn in kernels/attention.h.
void f32_attention_softmax__avx2(float* s, int64_t ld, int64_t rows, int64_t cols, const int64_t* lim, float* m,
                                 float* l, float* alpha) {
  for (int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld;
    int64_t n = lim ? std::min(std::max<int64_t>(lim[r], 0), cols) : cols;
    int64_t n8 = n & ~int64_t(7);
    __m256 vmx = _mm256_set1_ps(m[r]);
    for (int64_t j = 0; j < n8; j += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(sr + j));
    float mx = simd::Avx2Math::hmax(vmx);
    for (int64_t j = n8; j < n; ++j) mx = std::max(mx, sr[j]);
    if (mx == -INFINITY) {
      for (int64_t j = 0; j < cols; ++j) sr[j] = 0.f;
      alpha[r] = 1.f;
      continue;
    }
    __m256 vm = _mm256_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t j = 0; j < n8; j += 8) {
      __m256 p = exp_nonpos(_mm256_sub_ps(_mm256_loadu_ps(sr + j), vm));
      acc = _mm256_add_ps(acc, p);
      _mm256_storeu_ps(sr + j, p);
    }
    if (n8 < n) {
      __m256i k = lanes(n - n8);
      __m256 p = exp_nonpos(_mm256_sub_ps(_mm256_maskload_ps(sr + n8, k), vm));
      p = _mm256_and_ps(p, _mm256_castsi256_ps(k));
      acc = _mm256_add_ps(acc, p);
      _mm256_maskstore_ps(sr + n8, k, p);
    }
    for (int64_t j = n; j < cols; ++j) sr[j] = 0.f;
    float a = m[r] == -INFINITY ? 0.f : _mm256_cvtss_f32(exp_nonpos(_mm256_set1_ps(m[r] - mx)));
    alpha[r] = a;
    l[r] = l[r] * a + simd::Avx2Math::hsum(acc);
    m[r] = mx;
  }
}

}  // namespace fi::kernels
