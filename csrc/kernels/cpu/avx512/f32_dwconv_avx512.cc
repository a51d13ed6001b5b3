// AVX-512 fp32 depthwise conv plane kernels: 16 output columns per vector, 4 vectors per block;
// stride 2 gathers the even elements of two masked loads with one permute.
#include <immintrin.h>

// GCC 12 warns about the deliberately undefined pass-through operand inside its AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/cpu/f32_dwconv_plane.h"

namespace fi::kernels {

namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int L = 16;
  static __mmask16 lanes(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
  }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  // p[0], p[S], ..., p[(n-1)S]; reads nothing past p[(n-1)S].
  template <int S>
  static V load(const float* p, int64_t n) {
    if (S == 1) return n >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(lanes(n), p);
    const int64_t span = 2 * n - 1;
    const __m512 a = _mm512_maskz_loadu_ps(lanes(span), p);
    const __m512 b = _mm512_maskz_loadu_ps(lanes(span - 16), p + 16);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(a, even, b);
  }
  static void store(float* p, V v, int64_t n) {
    if (n >= 16)
      _mm512_storeu_ps(p, v);
    else
      _mm512_mask_storeu_ps(p, lanes(n), v);
  }
};

}  // namespace

// f32_dwconv_<K>s<S>__avx512: kernel size K (kxk: any), width stride S, any dilation/height stride.
void f32_dwconv_3x3s1__avx512(const DwConvGeom& g, const float* x, const float* w, float* y, const Epilogue& ep) {
  dw::plane<Avx512, 3, 3, 1, 4>(g, x, w, y, ep);
}
void f32_dwconv_3x3s2__avx512(const DwConvGeom& g, const float* x, const float* w, float* y, const Epilogue& ep) {
  dw::plane<Avx512, 3, 3, 2, 4>(g, x, w, y, ep);
}
void f32_dwconv_5x5s1__avx512(const DwConvGeom& g, const float* x, const float* w, float* y, const Epilogue& ep) {
  dw::plane<Avx512, 5, 5, 1, 4>(g, x, w, y, ep);
}
void f32_dwconv_5x5s2__avx512(const DwConvGeom& g, const float* x, const float* w, float* y, const Epilogue& ep) {
  dw::plane<Avx512, 5, 5, 2, 4>(g, x, w, y, ep);
}
void f32_dwconv_kxks1__avx512(const DwConvGeom& g, const float* x, const float* w, float* y, const Epilogue& ep) {
  dw::plane<Avx512, 0, 0, 1, 4>(g, x, w, y, ep);
}
void f32_dwconv_kxks2__avx512(const DwConvGeom& g, const float* x, const float* w, float* y, const Epilogue& ep) {
  dw::plane<Avx512, 0, 0, 2, 4>(g, x, w, y, ep);
}

}  // namespace fi::kernels
