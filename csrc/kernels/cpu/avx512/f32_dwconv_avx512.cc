// AVX-512 fp32 depthwise conv plane kernels: 16 output columns per vector, 4 vectors per block;
// stride 2 gathers the even elements of two masked loads with one permute.
#include <immintrin.h>

// GCC 12 warns about the deliberately undefined pass-through operand inside its AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/f32_dwconv_plane.h"

namespace fi::kernels {

namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int64_t kFlatMaxVectors = 64;  // flat path up to 64 vectors per plane
  static constexpr int L = 16;
  struct Mask {
    __mmask16 a, b, s;  // first load, second load (stride 2), store
  };
  static __mmask16 lanes(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
  }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static __mmask16 range(int64_t lo, int64_t hi) { return __mmask16(lanes(hi) & ~lanes(lo)); }
  static Mask mask_bits(uint32_t bits, int64_t n) { return {__mmask16(bits), 0, lanes(n)}; }
  template <int S>
  static Mask mask(int64_t lo, int64_t hi, int64_t n) {
    return {range(lo, hi), S == 1 ? __mmask16(0) : range(lo - 16, hi - 16), lanes(n)};
  }
  static V even(V a, V b) {
    const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(a, idx, b);
  }
  template <int S>
  static V loadf(const float* p) {
    if (S == 1) return _mm512_loadu_ps(p);
    return even(_mm512_loadu_ps(p), _mm512_maskz_loadu_ps(__mmask16(0x7FFF), p + 16));
  }
  template <int S>
  static V loadm(const float* p, const Mask& m) {
    if (S == 1) return _mm512_maskz_loadu_ps(m.a, p);
    return even(_mm512_maskz_loadu_ps(m.a, p), _mm512_maskz_loadu_ps(m.b, p + 16));
  }
  static void storef(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void store(float* p, V v, const Mask& m) { _mm512_mask_storeu_ps(p, m.s, v); }
};

}  // namespace

// f32_dwconv_<K>s<S>__avx512: kernel size K (kxk: any), width stride S, any dilation/height stride;
// one definition per avx512 entry of the family list.
#define FI_DWCONV_KERNEL(isa, name, kh, kw, sw) FI_DWCONV_DEFINE_##isa(name, kh, kw, sw)
#define FI_DWCONV_DEFINE_ref(name, kh, kw, sw)
#define FI_DWCONV_DEFINE_avx2(name, kh, kw, sw)
#define FI_DWCONV_DEFINE_avx512(name, kh, kw, sw) \
  void name(const DwConvGeom& g, int64_t count, const float* x, int64_t x_step, const float* w, float* y, \
            const Epilogue& ep) { \
    dw::planes<Avx512, kh, kw, sw, 4>(g, count, x, x_step, w, y, ep); \
  }
#include "kernels/cpu/f32_dwconv.inc"
#undef FI_DWCONV_KERNEL

}  // namespace fi::kernels
