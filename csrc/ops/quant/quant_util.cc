#include "ops/quant/quant_util.h"

namespace fi {

std::vector<float> quant_to_float(const Tensor& t, const char* what) {
  std::vector<float> v(size_t(t.numel()));
  dispatch_all_pod(t.dtype(), what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same<T, bool>::value || std::is_same<T, std::complex<float>>::value ||
                  std::is_same<T, std::complex<double>>::value) {
      throw NotImplemented(str(what, ": element type ", dtype_name(t.dtype()), " is not supported"));
    } else if constexpr (std::is_same<T, Int4>::value || std::is_same<T, UInt4>::value) {
      const uint8_t* p = t.data<uint8_t>();  // only the low nibble counts
      bool sign = std::is_same<T, Int4>::value;
      for (size_t i = 0; i < v.size(); ++i) v[i] = float(sign ? ((p[i] & 0xF) ^ 8) - 8 : (p[i] & 0xF));
    } else {
      const T* p = t.data<T>();
      for (size_t i = 0; i < v.size(); ++i) v[i] = float(p[i]);
    }
  });
  return v;
}

std::vector<int32_t> quant_to_int32(const Tensor& t, const char* what) {
  std::vector<int32_t> v(size_t(t.numel()));
  auto fill = [&](auto* p) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = int32_t(p[i]);
  };
  switch (t.dtype()) {
    case DataType::UInt8: fill(t.data<uint8_t>()); break;
    case DataType::Int8: fill(t.data<int8_t>()); break;
    case DataType::UInt4:  // only the low nibble counts (ml_dtypes may leave the high bits unset)
      for (size_t i = 0; i < v.size(); ++i) v[i] = t.data<uint8_t>()[i] & 0xF;
      break;
    case DataType::Int4:
      for (size_t i = 0; i < v.size(); ++i) v[i] = ((t.data<uint8_t>()[i] & 0xF) ^ 8) - 8;
      break;
    case DataType::UInt16: fill(t.data<uint16_t>()); break;
    case DataType::Int16: fill(t.data<int16_t>()); break;
    case DataType::Int32: fill(t.data<int32_t>()); break;
    default: throw NotImplemented(str(what, ": element type ", dtype_name(t.dtype()), " is not supported"));
  }
  return v;
}

bool quant_is_int(DataType dt) {
  switch (dt) {
    case DataType::UInt8: case DataType::Int8: case DataType::UInt16: case DataType::Int16:
    case DataType::UInt4: case DataType::Int4: case DataType::Int32: return true;
    default: return false;
  }
}

bool quant_is_float8(DataType dt) {
  return dt == DataType::Float8E4M3FN || dt == DataType::Float8E4M3FNUZ || dt == DataType::Float8E5M2 ||
         dt == DataType::Float8E5M2FNUZ;
}

bool quant_is_qfloat(DataType dt) { return quant_is_float8(dt) || dt == DataType::Float4E2M1; }

void quant_range(DataType dt, float& lo, float& hi) {
  switch (dt) {
    case DataType::UInt8: lo = 0, hi = 255; break;
    case DataType::Int8: lo = -128, hi = 127; break;
    case DataType::UInt16: lo = 0, hi = 65535; break;
    case DataType::Int16: lo = -32768, hi = 32767; break;
    case DataType::UInt4: lo = 0, hi = 15; break;
    case DataType::Int4: lo = -8, hi = 7; break;
    default: lo = -2147483648.f, hi = 2147483647.f; break;
  }
}

}  // namespace fi
