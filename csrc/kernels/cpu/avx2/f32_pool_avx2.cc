// AVX2 fp32 pooling primitives: 8 floats per vector, tails through maskload/maskstore.
#include <immintrin.h>

#include "kernels/cpu/f32_pool.h"
#include "kernels/cpu/avx2/lanes.h"

namespace fi::kernels {

namespace {
struct Avx2 : simd::Avx2Lanes {
  static constexpr int64_t L = 8;
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V bor(V a, V b) { return _mm256_or_ps(a, b); }
  static V band(V a, V b) { return _mm256_and_ps(a, b); }
  // maxps returns its second operand when either is NaN: a NaN x never replaces acc
  static V max(V x, V acc) { return _mm256_max_ps(x, acc); }
  static V even(V lo, V hi) {
    __m256 t = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static V odd(V lo, V hi) {
    __m256 t = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
  }
};
}  // namespace

FI_POOL_DEFINE(avx2, Avx2)

}  // namespace fi::kernels
