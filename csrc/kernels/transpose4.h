// Four rows to four columns: the 4x4 SSE register transpose shared by the GEMM's A packing and
// the layout reorders (baseline x86-64, no ISA dispatch needed).
#pragma once
#include <cstdint>

#include <xmmintrin.h>

namespace fi::kernels {

// d[k*ld + i] = s_i[k] for i < 4 and k < len: rows s0..s3 of `len` floats become `len` runs of 4
// floats at stride ld. Loads and stores only, so any 4-byte bit pattern survives.
inline void transpose_4_rows(const float* s0, const float* s1, const float* s2, const float* s3, int64_t len,
                             float* d, int64_t ld) {
  int64_t k = 0;
  for (; k + 4 <= len; k += 4) {
    __m128 x0 = _mm_loadu_ps(s0 + k), x1 = _mm_loadu_ps(s1 + k);
    __m128 x2 = _mm_loadu_ps(s2 + k), x3 = _mm_loadu_ps(s3 + k);
    _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
    float* o = d + k * ld;
    _mm_storeu_ps(o, x0);
    _mm_storeu_ps(o + ld, x1);
    _mm_storeu_ps(o + 2 * ld, x2);
    _mm_storeu_ps(o + 3 * ld, x3);
  }
  for (; k < len; ++k) {
    float* o = d + k * ld;
    o[0] = s0[k], o[1] = s1[k], o[2] = s2[k], o[3] = s3[k];
  }
}

}  // namespace fi::kernels
