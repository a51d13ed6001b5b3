// AVX-512 softmax step of an attention score tile (online softmax) with an inline vector exp.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/attention.h"

namespace fi::kernels {

namespace {

inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }

// exp(x) for x <= 0: n = round(x / ln2), r = x - n ln2 with one rounded ln2 (|n| <= 126 here, so r is
// off by at most 2.4e-7 relative, on terms below e^-80 only where it reaches that), exp(r) by the
// degree-6 fit of kernels/cpu/vmath_impl.h, then 2^n. x below -87.3 gives the smallest normal.
// 12 operations a vector: the softmax of a short-head attention spends most of its time here.
inline __m512 exp_nonpos(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.33654f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147182f), x);
  __m512 p = _mm512_set1_ps(0.00139013526f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.00836331304f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.0416668542f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.166665763f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(_mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f)), n);
}

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
