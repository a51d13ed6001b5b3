// One-lane traits for the vectorised fp32 math (kernels/cpu/vmath_impl.h): the portable reference
// tier, the same algorithm as the SIMD tiers with a*b + c in place of a fused multiply-add.
#include <cstring>

#include "kernels/cpu/vmath_impl.h"

namespace fi::kernels {

namespace {

struct Scalar {
  using V = float;
  using M = bool;
  static constexpr int L = 1;
  static V set1(float v) { return v; }
  static V loadu(const float* p) { return *p; }
  static void storeu(float* p, V v) { *p = v; }
  static V load_n(const float*, int64_t, float fill) { return fill; }  // never called (n < L = 1)
  static void store_n(float*, V, int64_t) {}
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V div(V a, V b) { return a / b; }
  static V fmadd(V a, V b, V c) { return a * b + c; }
  static V fnmadd(V a, V b, V c) { return c - a * b; }
  static V min(V a, V b) { return a < b ? a : b; }
  static V max(V a, V b) { return a > b ? a : b; }
  static V clamp_abs(V x, float b) { return max(-b, min(b, x)); }
  static V neg_abs(V a) { return -std::fabs(a); }
  static V abs(V a) { return std::fabs(a); }
  // Round to nearest even for |a| < 2^22 (all this file needs) without a libm call.
  static V round(V a) {
    const float big = 12582912.f;  // 1.5 * 2^23
    const float t = a + big;
    return std::fabs(a) < 4194304.f ? t - big : a;
  }
  static M lt(V a, V b) { return a < b; }
  static M gt(V a, V b) { return a > b; }
  static M eq(V a, V b) { return a == b; }
  static M unord(V a, V b) { return a != a || b != b; }
  static V frexp1(V x, V& k) {
    int e = 0;
    const float m = std::frexp(x, &e);
    k = float(e - 1);
    return 2.f * m;
  }
  static V select(M m, V a, V b) { return m ? a : b; }
  static V copysign(V mag, V s) { return std::copysign(mag, s); }
  static float pow2(int32_t e) {  // 2^e for -126 <= e <= 127
    const uint32_t bits = uint32_t(e + 127) << 23;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  static V scale2(V p, V n) {
    if (!(n >= -160.f && n <= 160.f)) return p + n;  // NaN
    const int32_t ni = int32_t(n), h1 = ni >> 1, h2 = ni - h1;
    return p * pow2(h1) * pow2(h2);
  }
  static float hsum(V v) { return v; }
  static float hmax(V v) { return v; }
};

}  // namespace

const VmathTable& vmath_table_ref() {
  static const VmathTable t = vm::make_table<Scalar>();
  return t;
}

}  // namespace fi::kernels
