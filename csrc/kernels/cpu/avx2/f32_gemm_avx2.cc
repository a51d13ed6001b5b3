// AVX2+FMA fp32 GEMM microkernels: the tile template of f32_gemm_tile.h over 8-lane vectors, one
// definition per avx2 entry of the family list; plus the FMA peak loop for bench/peak.py.
#include <immintrin.h>

#include <time.h>

#include "kernels/cpu/f32_gemm_tile.h"

namespace fi::kernels {

namespace {

struct Avx2 {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int L = 8;
  static Mask mask(int64_t n) {
    alignas(32) static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits + 8 - n));
  }
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V loadm(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void storem(float* p, V v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
};

}  // namespace

#define FI_GEMM_KERNEL(isa, name, mr, nr) FI_GEMM_DEFINE_##isa(name, mr, nr)
#define FI_GEMM_DEFINE_ref(name, mr, nr)
#define FI_GEMM_DEFINE_avx512(name, mr, nr)
#define FI_GEMM_DEFINE_avx2(name, mr, nr) FI_GEMM_DEFINE_ENTRIES(Avx2, void, name, mr, nr / 8)
#include "kernels/cpu/f32_gemm.inc"
#undef FI_GEMM_KERNEL

// GFLOP/s of independent 8-lane FMAs (12 chains: latency 4 x 2 pipes plus margin, in 16 registers).
double f32_fma_peak_avx2(double seconds) {
  __m256 acc[12];
  _Pragma("GCC unroll 16")
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  // Thread CPU time: on a shared machine the time slices of other processes do not count.
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  const double t0 = double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  int64_t iters = 0;
  double elapsed = 0;
  do {
    for (int r = 0; r < 4096; ++r) {
      _Pragma("GCC unroll 16")
      for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
      __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]));
    }
    iters += 4096;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    elapsed = double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec) - t0;
  } while (elapsed < seconds);
  __m256 s = acc[0];
  _Pragma("GCC unroll 16")
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  volatile float sink = out[0];
  (void)sink;
  return double(iters) * 12 * 8 * 2 / elapsed * 1e-9;
}

}  // namespace fi::kernels
