// AVX-512 softmax step of an attention score tile (online softmax), exp from the vectorised math.
// GCC 12 reports its own _mm512_undefined_ps() pass-through operands as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/attention.h"
#include "kernels/cpu/avx512/vmath_traits.h"
#include "kernels/cpu/vmath_impl.h"

namespace fi::kernels {

namespace {

inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }

// exp(x) for x <= 0 (the softmax's fast exp of kernels/cpu/vmath_impl.h).
inline __m512 exp_nonpos(__m512 x) { return vm::Math<simd::Avx512Math>::exp_softmax(x); }

inline float exp_scalar(float x) {
  __m512 v = exp_nonpos(_mm512_set1_ps(x));
  return _mm512_cvtss_f32(v);
}

}  // namespace

// f32_attention_softmax__avx512: see f32_attention_softmax_fn in kernels/attention.h.
void f32_attention_softmax__avx512(float* s, int64_t ld, int64_t rows, int64_t cols, const int64_t* lim, float* m,
                                   float* l, float* alpha) {
  for (int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld;
    int64_t n = lim ? std::min(std::max<int64_t>(lim[r], 0), cols) : cols;
    __m512 vmx = _mm512_set1_ps(m[r]);
    for (int64_t j = 0; j < n; j += 16) {
      __mmask16 k = lanes(n - j);
      vmx = _mm512_mask_max_ps(vmx, k, vmx, _mm512_maskz_loadu_ps(k, sr + j));
    }
    float mx = _mm512_reduce_max_ps(vmx);
    if (mx == -INFINITY) {
      for (int64_t j = 0; j < cols; ++j) sr[j] = 0.f;
      alpha[r] = 1.f;
      continue;
    }
    __m512 vm = _mm512_set1_ps(mx);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
      __mmask16 k = lanes(n - j);
      __m512 p = exp_nonpos(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, sr + j), vm));
      acc = _mm512_mask_add_ps(acc, k, acc, p);
      _mm512_mask_storeu_ps(sr + j, k, p);
    }
    for (int64_t j = n; j < cols; ++j) sr[j] = 0.f;
    float a = m[r] == -INFINITY ? 0.f : exp_scalar(m[r] - mx);
    alpha[r] = a;
    l[r] = l[r] * a + _mm512_reduce_add_ps(acc);
    m[r] = mx;
  }
}

}  // namespace fi::kernels
