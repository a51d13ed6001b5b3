// AVX2 Winograd transforms: 8 tiles per vector.
#include <immintrin.h>

#include "kernels/cpu/f32_winograd_transform.h"
#include "kernels/winograd.h"

namespace fi::kernels {

namespace {
struct Avx2 {
  using V = __m256;
  static constexpr int L = 8;
  static constexpr bool kStore4 = true;
  // Row u of 8 tiles: a 4x4 transpose per 128-bit lane, then 4-float runs.
  static void store4(const V* o, const WinogradStore& st, int64_t t, int u) {
    const V t0 = _mm256_unpacklo_ps(o[0], o[1]), t1 = _mm256_unpackhi_ps(o[0], o[1]);
    const V t2 = _mm256_unpacklo_ps(o[2], o[3]), t3 = _mm256_unpackhi_ps(o[2], o[3]);
    alignas(32) float tr[4][8];
    _mm256_store_ps(tr[0], _mm256_shuffle_ps(t0, t2, 0x44));
    _mm256_store_ps(tr[1], _mm256_shuffle_ps(t0, t2, 0xEE));
    _mm256_store_ps(tr[2], _mm256_shuffle_ps(t1, t3, 0x44));
    _mm256_store_ps(tr[3], _mm256_shuffle_ps(t1, t3, 0xEE));
    wino::store_rows4<Avx2>(&tr[0][0], st, t, u);
  }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  using VI = __m256i;
  using Mask = __m256i;
  static VI loadi(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static Mask in_range(VI v, int k, int32_t n) {
    const __m256i x = _mm256_add_epi32(v, _mm256_set1_epi32(k));
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), x),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32(n), x));
  }
  static Mask mask_and(Mask a, Mask b) { return _mm256_and_si256(a, b); }
  static V gather(const float* base, VI off, Mask m) {
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, off, _mm256_castsi256_ps(m), 4);
  }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
};
}  // namespace

FI_WINOGRAD_DEFINE(Avx2, f32_winograd_4x3__avx2, 4)
FI_WINOGRAD_DEFINE(Avx2, f32_winograd_6x3__avx2, 6)

}  // namespace fi::kernels
