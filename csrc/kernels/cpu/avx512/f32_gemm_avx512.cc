// AVX-512 fp32 GEMM microkernels: the tile template of f32_gemm_tile.h over 16-lane vectors, one
// definition per avx512 entry of the family list; plus the FMA peak loop for bench/peak.py.
#include <immintrin.h>

#include <time.h>

// GCC 12 warns about the deliberately undefined pass-through operand inside its AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/cpu/f32_gemm_tile.h"

namespace fi::kernels {

namespace {

struct Avx512 {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int L = 16;
  static Mask mask(int64_t n) { return n >= 16 ? Mask(0xFFFF) : Mask((1u << n) - 1); }
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V bcast(const float* p) { return _mm512_set1_ps(*p); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V loadm(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void storem(float* p, V v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
};

// 8-lane vectors with AVX-512VL masks, for panels of at most 8 columns (see gemm::ukernel): on
// Zen 4 they take half a 16-lane FMA's time.
struct Avx512Half {
  using V = __m256;
  using Mask = __mmask8;
  static constexpr int L = 8;
  static Mask mask(int64_t n) { return n >= 8 ? Mask(0xFF) : Mask((1u << n) - 1); }
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V loadm(const float* p, Mask m) { return _mm256_maskz_loadu_ps(m, p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void storem(float* p, V v, Mask m) { _mm256_mask_storeu_ps(p, m, v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
};

}  // namespace

#define FI_GEMM_KERNEL(isa, name, mr, nr) FI_GEMM_DEFINE_##isa(name, mr, nr)
#define FI_GEMM_DEFINE_ref(name, mr, nr)
#define FI_GEMM_DEFINE_avx2(name, mr, nr)
#define FI_GEMM_DEFINE_avx512(name, mr, nr) FI_GEMM_DEFINE_ENTRIES(Avx512, Avx512Half, name, mr, nr / 16)
#include "kernels/cpu/f32_gemm.inc"
#undef FI_GEMM_KERNEL

// GFLOP/s of independent 16-lane FMAs (16 chains, enough to cover latency on every core we know).
double f32_fma_peak_avx512(double seconds) {
  __m512 acc[16];
  _Pragma("GCC unroll 16")
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  // Thread CPU time: on a shared machine the time slices of other processes do not count.
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  const double t0 = double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  int64_t iters = 0;
  double elapsed = 0;
  do {
    for (int r = 0; r < 4096; ++r) {
      _Pragma("GCC unroll 16")
      for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
      __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
    }
    iters += 4096;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    elapsed = double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec) - t0;
  } while (elapsed < seconds);
  __m512 s = acc[0];
  _Pragma("GCC unroll 16")
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return double(iters) * 16 * 16 * 2 / elapsed * 1e-9;
}

}  // namespace fi::kernels
