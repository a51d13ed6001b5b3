// The AVX2 vector traits' memory half, shared by the kernels written over a traits type
// (NHWC depthwise, pooling): 8 floats per vector, tails (the first n lanes) through
// maskload/maskstore. Include only from files compiled with the AVX2 flags (this directory).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fi::kernels::simd {

struct Avx2Lanes {
  using V = __m256;
  static __m256i lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V loadn(const float* p, int64_t n) { return _mm256_maskload_ps(p, lanes(n)); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void storen(float* p, V v, int64_t n) { _mm256_maskstore_ps(p, lanes(n), v); }
};

// With the arithmetic of the conv kernels (NHWC depthwise, the channels-last stem).
struct Avx2Fma : Avx2Lanes {
  static constexpr int L = 8;
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  // min/max(acc, bound) with acc as the instruction's second operand, which it returns when either
  // is NaN: a NaN stays NaN, as with the reference's std::min/std::max(acc, bound).
  static V min(V a, V b) { return _mm256_min_ps(b, a); }
  static V max(V a, V b) { return _mm256_max_ps(b, a); }
};

}  // namespace fi::kernels::simd
