// Helpers shared by the GEMM-based nn ops: a strided reference GEMM for the non-float32 types
// (double, integers, float16/bfloat16 accumulated in float) and the float32 fast-path glue.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "graph/attribute.h"
#include "kernels/gemm.h"

namespace fi::nn {

// A clamp fused into the op by the graph pass fuse_clamp_activation (a Relu or Clip that
// followed it), read from the attributes fi.clamp_min / fi.clamp_max; [-inf, inf] when none.
struct FusedClamp {
  float lo = -INFINITY, hi = INFINITY;
  bool active() const { return lo != -INFINITY || hi != INFINITY; }
  // prefix: "fi." for a single op; a fused chain names each stage's (NhwcDwBlock: "fi.dw." ...).
  explicit FusedClamp(const Attributes& at, const std::string& prefix = "fi.")
      : lo(at.get_float(prefix + "clamp_min", -INFINITY)), hi(at.get_float(prefix + "clamp_max", INFINITY)) {}
  template <class T>
  void apply(T* y, int64_t n) const {
    if (!active()) return;
    for (int64_t i = 0; i < n; ++i) {
      float v = float(y[i]);
      if (v < lo) y[i] = T(lo);
      else if (v > hi) y[i] = T(hi);
    }
  }
};

// Accumulator type: float for the 16-bit floats, 64-bit for integers (wrapping like the C types).
template <class T> struct AccOf { using type = T; };
template <> struct AccOf<Float16> { using type = float; };
template <> struct AccOf<BFloat16> { using type = float; };
template <> struct AccOf<int8_t> { using type = int64_t; };
template <> struct AccOf<int16_t> { using type = int64_t; };
template <> struct AccOf<int32_t> { using type = int64_t; };
template <> struct AccOf<uint8_t> { using type = uint64_t; };
template <> struct AccOf<uint16_t> { using type = uint64_t; };
template <> struct AccOf<uint32_t> { using type = uint64_t; };
template <> struct AccOf<int64_t> { using type = uint64_t; };  // wraps instead of overflowing
template <> struct AccOf<uint64_t> { using type = uint64_t; };

template <class T>
using acc_t = typename AccOf<T>::type;

// C[i*ldc + j] = sum_k A(i,k) B(k,j) with A(i,k) = a[i*a_si + k*a_sk], B(k,j) = b[k*b_sk + j*b_sn].
template <class T>
void ref_gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t a_si, int64_t a_sk, const T* b, int64_t b_sk,
              int64_t b_sn, T* c, int64_t ldc, ThreadPool* pool) {
  using A = acc_t<T>;
  int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, n * k));
  parallel_for(pool, m, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < n; ++j) {
        A s = A(0);
        for (int64_t kk = 0; kk < k; ++kk) s += A(a[i * a_si + kk * a_sk]) * A(b[kk * b_sk + j * b_sn]);
        if constexpr (std::is_same<T, int64_t>::value)
          c[i * ldc + j] = int64_t(s);
        else
          c[i * ldc + j] = T(s);
      }
  });
}

}  // namespace fi::nn
