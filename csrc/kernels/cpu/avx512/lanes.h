// The AVX-512 vector traits' memory half, shared by the kernels written over a traits type
// (NHWC depthwise, pooling): 16 floats per vector, tails (the first n lanes) through masked
// loads and stores. Include only from files compiled with the AVX-512 flags (this directory).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace fi::kernels::simd {

struct Avx512Lanes {
  using V = __m512;
  static __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V loadn(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(lanes(n), p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void storen(float* p, V v, int64_t n) { _mm512_mask_storeu_ps(p, lanes(n), v); }
};

// With the arithmetic of the conv kernels (NHWC depthwise, the channels-last stem).
struct Avx512Fma : Avx512Lanes {
  static constexpr int L = 16;
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(b, a); }  // NaN acc stays NaN (see Avx2Fma)
  static V max(V a, V b) { return _mm512_max_ps(b, a); }
};

}  // namespace fi::kernels::simd
