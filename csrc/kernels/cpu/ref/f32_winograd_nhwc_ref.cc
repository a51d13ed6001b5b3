// Portable channels-last Winograd transforms (one channel per step), the reference for the SIMD ones.
#include "kernels/cpu/f32_winograd_nhwc_transform.h"

namespace fi::kernels {

namespace {
struct Ref {
  using V = float;
  static constexpr int L = 1;
  static V load(const float* p) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static V load_n(const float* p, int) { return *p; }
  static void store_n(float* p, V v, int) { *p = v; }
  static V zero() { return 0.f; }
  static V set1(float v) { return v; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  static V fmadd(V a, V b, V c) { return a * b + c; }
  using VI = uint32_t;
  static VI izero() { return 0; }
  static VI absmax(VI acc, V v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    bits &= 0x7fffffffu;
    return bits > acc ? bits : acc;
  }
  static uint32_t hmax(VI acc) { return acc; }
  static V clamp(V v, V lo, V hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
  }
};
}  // namespace

FI_WINOGRAD_NHWC_DEFINE(Ref, ref)

}  // namespace fi::kernels
