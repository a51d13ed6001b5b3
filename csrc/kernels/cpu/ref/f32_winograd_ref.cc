// Portable Winograd transforms (one tile per step), the reference for the SIMD ones.
#include "kernels/cpu/f32_winograd_transform.h"
#include "kernels/winograd.h"

namespace fi::kernels {

namespace {
struct Ref {
  using V = float;
  static constexpr int L = 1;
  static constexpr bool kStore4 = false;
  static V load(const float* p) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static V set1(float v) { return v; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V mul(V a, V b) { return a * b; }
  using VI = int32_t;
  using Mask = bool;
  static VI loadi(const int32_t* p) { return *p; }
  static Mask in_range(VI v, int k, int32_t n) { return v + k >= 0 && v + k < n; }
  static Mask mask_and(Mask a, Mask b) { return a && b; }
  static V gather(const float* base, VI off, Mask m) { return m ? base[off] : 0.f; }
  static V fmadd(V a, V b, V c) { return a * b + c; }
};
}  // namespace

FI_WINOGRAD_DEFINE(Ref, f32_winograd_4x3__ref, 4)
FI_WINOGRAD_DEFINE(Ref, f32_winograd_6x3__ref, 6)

}  // namespace fi::kernels
