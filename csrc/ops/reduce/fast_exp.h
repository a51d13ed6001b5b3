// exp for the softmax family: a Cephes-style float exp (range reduction by ln 2, degree-6
// polynomial, 2^n from the exponent bits; about 1 ulp) written as straight-line code so loops
// over it auto-vectorise. Valid for x <= 88 (softmax and log-sum-exp only pass x - max <= 0);
// from -88 down it returns 0 (exp(-inf) = 0), NaN stays NaN. Doubles use std::exp.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace fi {
namespace reduce {

inline float exp_f32(float x) {
  // Clamp x below at -88 (n = -127, so 2^n = 0) with integer masks: a float compare-and-select
  // is not if-converted under -ftrapping-math and would stop vectorisation. NaN is kept.
  int32_t xb;
  std::memcpy(&xb, &x, 4);
  int32_t ax = xb & 0x7fffffff;
  int32_t low = -int32_t((xb < 0) & (ax >= 0x42b00000) & (ax <= 0x7f800000));
  xb = (xb & ~low) | (int32_t(0xc2b00000u) & low);
  float xs;
  std::memcpy(&xs, &xb, 4);
  float n = (xs * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = xs - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n from the bits of the float 12582912 + n (n sits in the low mantissa bits); NaN gives
  // garbage bits here but p is NaN, so the product stays NaN.
  float nb = n + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &nb, 4);
  uint32_t sb = uint32_t(bits - 0x4B400000 + 127) << 23;
  float scale;
  std::memcpy(&scale, &sb, 4);
  return p * scale;
}

inline double exp_fast(double x) { return std::exp(x); }
inline float exp_fast(float x) { return exp_f32(x); }

// Sum of n values of F, sixteen independent lanes combined pairwise (vectorises).
template <class F>
inline F lane_sum(const F* v, int64_t n) {
  constexpr int kLanes = 16;
  F lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma GCC unroll 1
    for (int j = 0; j < kLanes; ++j) lane[j] += v[i + j];
  }
  for (; i < n; ++i) lane[0] += v[i];
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
  return lane[0];
}

// Sum of exp(x[i] - m) over n values of T (m <= max, finite), sixteen lanes.
template <class T, class F>
inline F sum_exp_shifted(const T* x, int64_t n, F m) {
  constexpr int kLanes = 16;
  F lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma GCC unroll 1
    for (int j = 0; j < kLanes; ++j) lane[j] += exp_fast(F(x[i + j]) - m);
  }
  for (; i < n; ++i) lane[0] += exp_fast(F(x[i]) - m);
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
  return lane[0];
}

}  // namespace reduce
}  // namespace fi
