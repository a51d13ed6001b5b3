// AVX2 fp32 depthwise conv plane kernels: 8 output columns per vector, 4 vectors per block;
// stride 2 deinterleaves two (masked) loads with shuffle + permute.
#include <immintrin.h>

#include "kernels/cpu/f32_dwconv_plane.h"

namespace fi::kernels {

namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int64_t kFlatMaxVectors = 16;  // flat path up to 16 vectors per plane
  static constexpr int L = 8;
  struct Mask {
    __m256i a, b, s;  // first load, second load (stride 2), store
    bool fa, fs;      // the first load / the store needs no mask
  };
  static __m256i lanes(int64_t n) {
    const int32_t k = int32_t(n < 0 ? 0 : n > 8 ? 8 : n);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static __m256i range(int64_t lo, int64_t hi) { return _mm256_andnot_si256(lanes(lo), lanes(hi)); }
  static Mask mask_bits(uint32_t bits, int64_t n) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i a = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int32_t(bits)), bit), bit);
    return {a, lanes(0), lanes(n), (bits & 0xFF) == 0xFF, n >= 8};
  }
  template <int S>
  static Mask mask(int64_t lo, int64_t hi, int64_t n) {
    return {range(lo, hi), range(lo - 8, hi - 8), lanes(n), lo <= 0 && hi >= 8, n >= 8};
  }
  static V even(V a, V b) {
    const __m256 t = _mm256_shuffle_ps(a, b, 0x88);  // a0 a2 b0 b2 | a4 a6 b4 b6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0xD8));
  }
  template <int S>
  static V loadf(const float* p) {
    if (S == 1) return _mm256_loadu_ps(p);
    return even(_mm256_loadu_ps(p), _mm256_maskload_ps(p + 8, lanes(7)));
  }
  template <int S>
  static V loadm(const float* p, const Mask& m) {
    const __m256 a = m.fa ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m.a);
    if (S == 1) return a;
    return even(a, _mm256_maskload_ps(p + 8, m.b));
  }
  static void storef(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, V v, const Mask& m) {
    if (m.fs)
      _mm256_storeu_ps(p, v);
    else
      _mm256_maskstore_ps(p, m.s, v);
  }
};

}  // namespace

// f32_dwconv_<K>s<S>__avx2: kernel size K (kxk: any), width stride S, any dilation/height stride;
// one definition per avx2 entry of the family list.
#define FI_DWCONV_KERNEL(isa, name, kh, kw, sw) FI_DWCONV_DEFINE_##isa(name, kh, kw, sw)
#define FI_DWCONV_DEFINE_ref(name, kh, kw, sw)
#define FI_DWCONV_DEFINE_avx512(name, kh, kw, sw)
#define FI_DWCONV_DEFINE_avx2(name, kh, kw, sw) \
  void name(const DwConvGeom& g, int64_t count, const float* x, int64_t x_step, const float* w, float* y, \
            const Epilogue& ep) { \
    dw::planes<Avx2, kh, kw, sw, 4>(g, count, x, x_step, w, y, ep); \
  }
#include "kernels/cpu/f32_dwconv.inc"
#undef FI_DWCONV_KERNEL

}  // namespace fi::kernels
