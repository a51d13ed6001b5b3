// Helpers shared by the reduce/normalisation family: accumulator types, axis-plan for
// reductions, and the dispatch sets ONNX allows for these ops.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/dispatch_type.h"
#include "core/tensor.h"

namespace fi {
namespace reduce {

// Accumulator type: 16-bit floats and float accumulate in float, double in double,
// signed integers in int64, unsigned in uint64, bool in bool.
template <class T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };
template <> struct AccOf<bool> { using type = bool; };
template <> struct AccOf<int8_t> { using type = int64_t; };
template <> struct AccOf<int16_t> { using type = int64_t; };
template <> struct AccOf<int32_t> { using type = int64_t; };
template <> struct AccOf<int64_t> { using type = int64_t; };
template <> struct AccOf<uint8_t> { using type = uint64_t; };
template <> struct AccOf<uint16_t> { using type = uint64_t; };
template <> struct AccOf<uint32_t> { using type = uint64_t; };
template <> struct AccOf<uint64_t> { using type = uint64_t; };
template <class T> using Acc = typename AccOf<T>::type;

// Compute type of float ops (softmax, norms): double for double, float otherwise.
template <class T> using FloatAcc = typename std::conditional<std::is_same<T, double>::value, double, float>::type;

template <class A> inline bool is_nan(A v) {
  if constexpr (std::is_floating_point<A>::value) return std::isnan(v);
  else return false;
}

// Two's-complement wrapping +, * and unary - for integer accumulators (signed overflow is
// undefined in C++); plain arithmetic for floating types.
template <class A> inline A wrap_add(A a, A b) {
  if constexpr (std::is_integral<A>::value && !std::is_same<A, bool>::value) {
    using U = typename std::make_unsigned<A>::type;
    return A(U(U(a) + U(b)));
  } else {
    return A(a + b);
  }
}
template <class A> inline A wrap_mul(A a, A b) {
  if constexpr (std::is_integral<A>::value && !std::is_same<A, bool>::value) {
    using U = typename std::make_unsigned<A>::type;
    return A(U(U(a) * U(b)));
  } else {
    return A(a * b);
  }
}
template <class A> inline A wrap_neg(A a) {
  if constexpr (std::is_integral<A>::value && !std::is_same<A, bool>::value) {
    using U = typename std::make_unsigned<A>::type;
    return A(U(U(0) - U(a)));
  } else {
    return A(-a);
  }
}

// Converts an accumulator back to the storage type.
template <class T, class A> inline T to_storage(A v) {
  if constexpr (std::is_same<T, Float16>::value || std::is_same<T, BFloat16>::value) return T(float(v));
  else return T(v);
}

// float, double, float16, bfloat16, int32, int64, uint32, uint64 (the Reduce* and CumSum set);
// with kSmall and `small_ints`, also int8 and uint8; with kBool and `with_bool`, also bool.
template <bool kSmall = false, bool kBool = false, class Fn>
void dispatch_reduce_types(DataType dt, const char* what, bool small_ints, bool with_bool, Fn&& fn) {
  switch (dt) {
    case DataType::Float: return fn(TypeTag<float>{});
    case DataType::Double: return fn(TypeTag<double>{});
    case DataType::Float16: return fn(TypeTag<Float16>{});
    case DataType::BFloat16: return fn(TypeTag<BFloat16>{});
    case DataType::Int32: return fn(TypeTag<int32_t>{});
    case DataType::Int64: return fn(TypeTag<int64_t>{});
    case DataType::UInt32: return fn(TypeTag<uint32_t>{});
    case DataType::UInt64: return fn(TypeTag<uint64_t>{});
    case DataType::Int8:
      if constexpr (kSmall) { if (small_ints) return fn(TypeTag<int8_t>{}); }
      break;
    case DataType::UInt8:
      if constexpr (kSmall) { if (small_ints) return fn(TypeTag<uint8_t>{}); }
      break;
    case DataType::Bool:
      if constexpr (kBool) { if (with_bool) return fn(TypeTag<bool>{}); }
      break;
    default: break;
  }
  throw NotImplemented(str(what, ": element type ", dtype_name(dt), " is not supported"));
}

// Sum over i in [0, n) of term(i) in sixteen independent lanes combined pairwise, so that
// the loop vectorises (a single scalar float accumulator does not under strict IEEE flags).
template <class F, class Fn>
inline F lane_accumulate(int64_t n, Fn&& term) {
  constexpr int kLanes = 16;
  F lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma GCC unroll 1
    for (int j = 0; j < kLanes; ++j) lane[j] += term(i + j);
  }
  for (; i < n; ++i) lane[0] += term(i);
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
  return lane[0];
}

// Mean and population variance of n > 0 values (two passes) in F.
template <class F, class T>
inline void row_moments(const T* x, int64_t n, F& mean, F& var) {
  mean = lane_accumulate<F>(n, [x](int64_t i) { return F(x[i]); }) / F(n);
  F m = mean;
  var = lane_accumulate<F>(n, [x, m](int64_t i) {
          F d = F(x[i]) - m;
          return d * d;
        }) / F(n);
}

// A reduction laid out as: outer kept groups (kdims/kstrides), outer reduced groups
// (rdims/rstrides) and an innermost contiguous group of `inner` elements that is either
// reduced (inner_reduced) or kept. Dims of size 1 are dropped and neighbours merged.
struct ReducePlan {
  Shape out_shape;            // output shape (keepdims applied)
  int64_t n_out = 0;          // output elements
  int64_t n_reduced = 0;      // input elements reduced into each output element
  int64_t inner = 1;
  bool inner_reduced = true;
  std::vector<int64_t> kdims, kstrides, rdims, rstrides;
  int64_t n_outer = 1;        // product of kdims
  int64_t n_rsteps = 1;       // product of rdims
};

// Mask of the axes listed in `axes` (negative counted from the end, repeats rejected) for a
// tensor of `rank`; a scalar accepts axis 0 or -1 and has nothing to reduce.
std::vector<bool> axes_mask(const std::vector<int64_t>& axes, int rank);

// `reduced[i]` says whether axis i is reduced.
ReducePlan make_reduce_plan(const Shape& in, const std::vector<bool>& reduced, bool keepdims);

// Input offset of outer kept index `o`.
inline int64_t kept_offset(const ReducePlan& p, int64_t o) {
  int64_t off = 0;
  for (size_t i = p.kdims.size(); i-- > 0;) {
    off += (o % p.kdims[i]) * p.kstrides[i];
    o /= p.kdims[i];
  }
  return off;
}

// Calls fn(offset) for every combination of the outer reduced groups.
template <class Fn>
inline void for_each_reduced(const ReducePlan& p, Fn&& fn) {
  size_t m = p.rdims.size();
  if (m == 0) { fn(int64_t(0)); return; }
  int64_t idx[Shape::kMaxRank] = {};
  int64_t off = 0;
  for (int64_t s = 0; s < p.n_rsteps; ++s) {
    fn(off);
    for (size_t d = m; d-- > 0;) {
      off += p.rstrides[d];
      if (++idx[d] < p.rdims[d]) break;
      off -= p.rstrides[d] * p.rdims[d];
      idx[d] = 0;
    }
  }
}

// Elements of a float tensor (float, double, float16, bfloat16) as double.
std::vector<double> to_doubles(const Tensor& t, const char* what);

// Elements of float tensor `t` broadcast one-directionally (numpy rules) to `target`, as double;
// throws InvalidArgument if `t` cannot be broadcast to `target`.
std::vector<double> broadcast_param(const Tensor& t, const Shape& target, const char* what);

// Reads an optional axis-like scalar/1-D integer input into a vector.
std::vector<int64_t> int_input(const Tensor& t, const char* what);

}  // namespace reduce
}  // namespace fi
