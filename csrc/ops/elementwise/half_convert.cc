#include "ops/elementwise/half_convert.h"

#include "core/cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define FI_EW_X86 1
#endif

namespace fi {
namespace ew {
namespace {

#ifdef FI_EW_X86
__attribute__((target("avx,f16c"))) void h2f_f16c(const Float16* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = float(src[i]);
}

__attribute__((target("avx,f16c"))) void f2h_f16c(const float* src, Float16* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = Float16(src[i]);
}
#endif

bool use_f16c() {
#ifdef FI_EW_X86
  static const bool has = cpu_features().f16c;
  return has && isa_tier() != IsaTier::Ref;
#else
  return false;
#endif
}

}  // namespace

void half_to_float(const Float16* src, float* dst, int64_t n) {
#ifdef FI_EW_X86
  if (use_f16c()) return h2f_f16c(src, dst, n);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = float(src[i]);
}

void float_to_half(const float* src, Float16* dst, int64_t n) {
#ifdef FI_EW_X86
  if (use_f16c()) return f2h_f16c(src, dst, n);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = Float16(src[i]);
}

}  // namespace ew
}  // namespace fi
