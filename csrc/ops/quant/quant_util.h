// Shared helpers of the quantisation reference kernels: element conversion to float/int32,
// integer ranges, round-half-to-even and saturating stores.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/dispatch_type.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace fi {

// Every element as float (float, 16-bit and 8-bit floats, and integer types).
std::vector<float> quant_to_float(const Tensor& t, const char* what);
// Every element as int32 (8/16/32-bit and 4-bit integers).
std::vector<int32_t> quant_to_int32(const Tensor& t, const char* what);
// Whether dt is a valid quantised integer type (int8/uint8/int16/uint16/int4/uint4/int32).
bool quant_is_int(DataType dt);
bool quant_is_float8(DataType dt);
// float8 types and float4e2m1.
bool quant_is_qfloat(DataType dt);
// [lo, hi] of an integer quantised type.
void quant_range(DataType dt, float& lo, float& hi);

// Writes float values into y (integer types: round half to even and saturate; float8 types:
// cast with `saturate`). `v(i)` returns the unrounded value of element i and must be safe to call
// from several threads: chunks of elements run on `pool` (inline when null).
template <class F>
void quant_store(Tensor& y, bool saturate, F&& v, ThreadPool* pool = nullptr) {
  const int64_t n = y.numel();
  const DataType dt = y.dtype();
  auto each = [&](auto&& body) {
    parallel_for(pool, n, 16384, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) body(i);
    });
  };
  if (dt == DataType::Float4E2M1) {
    auto* p = y.data<Float4E2M1>();
    each([&](int64_t i) { p[i].bits = Float4E2M1::from_float(v(i)); });
    return;
  }
  if (quant_is_float8(dt)) {
    dispatch_all_pod(dt, "QuantizeLinear", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (sizeof(T) == 1 && !std::is_integral<T>::value && !std::is_same<T, UInt4>::value &&
                    !std::is_same<T, Int4>::value && !std::is_same<T, Float4E2M1>::value) {
        T* p = y.data<T>();
        constexpr bool fn = std::is_same<T, Float8E4M3FN>::value;
        each([&](int64_t i) {
          float f = v(i);
          uint8_t b = T::from_float(f, saturate);
          // ONNX keeps the sign on E4M3FN's NaN from a non-saturated overflow (0xFF for negatives);
          // the core encoder returns 0x7F.
          if (fn && b == 0x7F && !std::isnan(f) && std::signbit(f)) b = 0xFF;
          p[i].bits = b;
        });
      }
    });
    return;
  }
  float lo, hi;
  quant_range(dt, lo, hi);
  auto q = [&](int64_t i) {
    float f = std::nearbyint(v(i));
    if (std::isnan(f)) f = 0;
    return f < lo ? lo : (f > hi ? hi : f);
  };
  auto write = [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    each([&](int64_t i) { p[i] = T(q(i)); });
  };
  switch (dt) {
    case DataType::UInt8: case DataType::UInt4: write(y.data<uint8_t>()); break;
    case DataType::Int8: case DataType::Int4: write(y.data<int8_t>()); break;
    case DataType::UInt16: write(y.data<uint16_t>()); break;
    case DataType::Int16: write(y.data<int16_t>()); break;
    default: throw NotImplemented(str("quantised type ", dtype_name(dt), " is not supported"));
  }
}

}  // namespace fi
