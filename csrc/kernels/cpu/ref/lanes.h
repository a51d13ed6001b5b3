// The scalar vector traits' memory half (one float per "vector"), shared by the reference
// kernels written over a traits type (NHWC depthwise, pooling).
#pragma once
#include <algorithm>
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

// With the arithmetic of the conv kernels (NHWC depthwise, the channels-last stem).
struct ScalarFma : ScalarLanes {
  static constexpr int L = 1;
  static V fmadd(V a, V b, V c) { return a * b + c; }
  static V min(V a, V b) { return std::min(a, b); }
  static V max(V a, V b) { return std::max(a, b); }
};

}  // namespace fi::kernels::simd
