// Portable softmax step of an attention score tile (online softmax), the reference for the SIMD ones.
#include <algorithm>
#include <cmath>

#include "kernels/attention.h"

namespace fi::kernels {

// f32_attention_softmax__ref: see f32_attention_softmax_fn in kernels/attention.h.
void f32_attention_softmax__ref(float* s, int64_t ld, int64_t rows, int64_t cols, const int64_t* lim, float* m,
                                float* l, float* alpha) {
  for (int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld;
    int64_t n = lim ? std::min(std::max<int64_t>(lim[r], 0), cols) : cols;
    float mx = m[r];
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, sr[j]);
    if (mx == -INFINITY) {  // nothing visible yet: keep the state, contribute nothing
      for (int64_t j = 0; j < cols; ++j) sr[j] = 0.f;
      alpha[r] = 1.f;
      continue;
    }
    float sum = 0.f;
    for (int64_t j = 0; j < n; ++j) {
      float p = std::exp(sr[j] - mx);
      sr[j] = p;
      sum += p;
    }
    for (int64_t j = n; j < cols; ++j) sr[j] = 0.f;
    float a = m[r] == -INFINITY ? 0.f : std::exp(m[r] - mx);
    alpha[r] = a;
    l[r] = l[r] * a + sum;
    m[r] = mx;
  }
}

}  // namespace fi::kernels
