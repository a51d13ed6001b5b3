// Shared helpers of the quantisation reference kernels: element conversion to float/int32,
// integer ranges, round-half-to-even and saturating stores.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/dispatch_type.h"
#include "core/tensor.h"

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
// cast with `saturate`). `v(i)` returns the unrounded value of element i.
template <class F>
void quant_store(Tensor& y, bool saturate, F&& v) {
  int64_t n = y.numel();
  DataType dt = y.dtype();
  if (dt == DataType::Float4E2M1) {
    auto* p = y.data<Float4E2M1>();
    for (int64_t i = 0; i < n; ++i) p[i].bits = Float4E2M1::from_float(v(i));
    return;
  }
  if (quant_is_float8(dt)) {
    dispatch_all_pod(dt, "QuantizeLinear", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (sizeof(T) == 1 && !std::is_integral<T>::value && !std::is_same<T, UInt4>::value &&
                    !std::is_same<T, Int4>::value && !std::is_same<T, Float4E2M1>::value) {
        T* p = y.data<T>();
        constexpr bool fn = std::is_same<T, Float8E4M3FN>::value;
        for (int64_t i = 0; i < n; ++i) {
          float f = v(i);
          uint8_t b = T::from_float(f, saturate);
          // ONNX keeps the sign on E4M3FN's NaN from a non-saturated overflow (0xFF for negatives);
          // the core encoder returns 0x7F.
          if (fn && b == 0x7F && !std::isnan(f) && std::signbit(f)) b = 0xFF;
          p[i].bits = b;
        }
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
  switch (dt) {
    case DataType::UInt8: { auto* p = y.data<uint8_t>(); for (int64_t i = 0; i < n; ++i) p[i] = uint8_t(q(i)); break; }
    case DataType::Int8: { auto* p = y.data<int8_t>(); for (int64_t i = 0; i < n; ++i) p[i] = int8_t(q(i)); break; }
    case DataType::UInt16: { auto* p = y.data<uint16_t>(); for (int64_t i = 0; i < n; ++i) p[i] = uint16_t(q(i)); break; }
    case DataType::Int16: { auto* p = y.data<int16_t>(); for (int64_t i = 0; i < n; ++i) p[i] = int16_t(q(i)); break; }
    case DataType::UInt4: { auto* p = y.data<uint8_t>(); for (int64_t i = 0; i < n; ++i) p[i] = uint8_t(q(i)); break; }
    case DataType::Int4: { auto* p = y.data<int8_t>(); for (int64_t i = 0; i < n; ++i) p[i] = int8_t(q(i)); break; }
    case DataType::Int32: {  // float cannot hold int32 max exactly: clamp in double
      auto* p = y.data<int32_t>();
      for (int64_t i = 0; i < n; ++i) {
        double f = std::nearbyint(double(v(i)));
        if (std::isnan(f)) f = 0;
        p[i] = int32_t(f < -2147483648.0 ? -2147483648.0 : (f > 2147483647.0 ? 2147483647.0 : f));
      }
      break;
    }
    default: throw NotImplemented(str("quantised type ", dtype_name(dt), " is not supported"));
  }
}

}  // namespace fi
