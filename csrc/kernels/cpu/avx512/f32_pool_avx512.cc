// AVX-512 fp32 pooling primitives: 16 floats per vector, tails through masked loads/stores.
#include <immintrin.h>

// GCC 12 warns about the deliberately undefined pass-through operand inside its AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/f32_pool.h"
#include "kernels/cpu/avx512/lanes.h"

namespace fi::kernels {

namespace {
struct Avx512 : simd::Avx512Lanes {
  static constexpr int64_t L = 16;
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V bor(V a, V b) {
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
  }
  static V band(V a, V b) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
  }
  // maxps returns its second operand when either is NaN: a NaN x never replaces acc
  static V max(V x, V acc) { return _mm512_max_ps(x, acc); }
  static V even(V lo, V hi) {
    return _mm512_permutex2var_ps(lo, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), hi);
  }
  static V odd(V lo, V hi) {
    return _mm512_permutex2var_ps(lo, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), hi);
  }
};
}  // namespace

FI_POOL_DEFINE(avx512, Avx512)

}  // namespace fi::kernels
