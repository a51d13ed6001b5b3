// The scalar vector traits' memory half (one float per "vector"), shared by the reference
// kernels written over a traits type (NHWC depthwise, pooling).
#pragma once
#include <cstdint>

namespace fi::kernels::simd {

struct ScalarLanes {
  using V = float;
  static V set1(float v) { return v; }
  static V load(const float* p) { return *p; }
  static V loadn(const float* p, int64_t) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static void storen(float* p, V v, int64_t) { *p = v; }
};

}  // namespace fi::kernels::simd
