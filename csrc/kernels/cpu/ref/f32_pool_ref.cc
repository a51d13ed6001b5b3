// Portable fp32 pooling primitives (one float per "vector"), the reference for the SIMD ones.
#include "kernels/cpu/f32_pool.h"
#include "kernels/cpu/ref/lanes.h"

namespace fi::kernels {

namespace {
struct Scalar : simd::ScalarLanes {
  static constexpr int64_t L = 1;
  static V add(V a, V b) { return a + b; }
  static V mul(V a, V b) { return a * b; }
  static V bor(V a, V b) { return bits(ubits(a) | ubits(b)); }
  static V band(V a, V b) { return bits(ubits(a) & ubits(b)); }
  static uint32_t ubits(V v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return u;
  }
  static V bits(uint32_t u) {
    V v;
    std::memcpy(&v, &u, 4);
    return v;
  }
  static V max(V x, V acc) { return x > acc ? x : acc; }
};
}  // namespace

FI_POOL_DEFINE(ref, Scalar)

}  // namespace fi::kernels
