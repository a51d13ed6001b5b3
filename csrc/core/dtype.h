// Element types: the ONNX TensorProto.DataType numbering, and the 16- and 8-bit float
// storage types with their conversions to and from float.
#pragma once
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace fi {

enum class DataType : int32_t {
  Undefined = 0,
  Float = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  String = 8,
  Bool = 9,
  Float16 = 10,
  Double = 11,
  UInt32 = 12,
  UInt64 = 13,
  Complex64 = 14,
  Complex128 = 15,
  BFloat16 = 16,
  Float8E4M3FN = 17,
  Float8E4M3FNUZ = 18,
  Float8E5M2 = 19,
  Float8E5M2FNUZ = 20,
  UInt4 = 21,
  Int4 = 22,
  Float4E2M1 = 23,
};

// Bytes per element as stored in a fi::Tensor (4-bit types take one byte each, as in ml_dtypes).
size_t dtype_size(DataType dt);
// ONNX spelling, e.g. "tensor(float)" uses dtype_name(...) == "float".
const char* dtype_name(DataType dt);
bool dtype_valid(int32_t code);
bool dtype_is_float(DataType dt);     // any floating type, 4..64 bit
bool dtype_is_integer(DataType dt);   // signed or unsigned integer (not bool)
bool dtype_is_signed(DataType dt);

// ---- 16-bit floats ---------------------------------------------------------------------------
struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  explicit Float16(float f) : bits(from_float(f)) {}
  operator float() const { return to_float(bits); }
  static uint16_t from_float(float f);
  static float to_float(uint16_t h);
};

struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float f) : bits(from_float(f)) {}
  operator float() const {
    uint32_t u = uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static uint16_t from_float(float f) {  // round to nearest even; NaN stays NaN
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
  }
};

// ---- 8-bit and 4-bit floats (ONNX float8 types, saturating conversion by default) -------------
template <DataType DT>
struct Float8 {
  uint8_t bits = 0;
  Float8() = default;
  explicit Float8(float f, bool saturate = true) : bits(from_float(f, saturate)) {}
  operator float() const { return to_float(bits); }
  static uint8_t from_float(float f, bool saturate);
  static float to_float(uint8_t b);
};
using Float8E4M3FN = Float8<DataType::Float8E4M3FN>;
using Float8E4M3FNUZ = Float8<DataType::Float8E4M3FNUZ>;
using Float8E5M2 = Float8<DataType::Float8E5M2>;
using Float8E5M2FNUZ = Float8<DataType::Float8E5M2FNUZ>;

struct Float4E2M1 {
  uint8_t bits = 0;
  Float4E2M1() = default;
  explicit Float4E2M1(float f) : bits(from_float(f)) {}
  operator float() const { return to_float(bits); }
  static uint8_t from_float(float f);
  static float to_float(uint8_t b);
};

// 4-bit integers stored one per byte in the low nibble (as ml_dtypes does: int4 -4 is byte 0x0c).
struct Int4 {
  uint8_t v = 0;
  Int4() = default;
  explicit Int4(int x) : v(uint8_t((x < -8 ? -8 : (x > 7 ? 7 : x)) & 0xf)) {}
  operator int() const { return int(int8_t(uint8_t(v << 4)) >> 4); }
};
struct UInt4 {
  uint8_t v = 0;
  UInt4() = default;
  explicit UInt4(int x) : v(uint8_t(x < 0 ? 0 : (x > 15 ? 15 : x))) {}
  operator int() const { return v & 0xf; }
};

// C++ storage type of each DataType; TypeOf<DataType::Float>::type == float.
template <DataType DT> struct TypeOf;
#define FI_TYPEOF(DT, T) \
  template <> struct TypeOf<DataType::DT> { using type = T; };
FI_TYPEOF(Float, float)
FI_TYPEOF(UInt8, uint8_t)
FI_TYPEOF(Int8, int8_t)
FI_TYPEOF(UInt16, uint16_t)
FI_TYPEOF(Int16, int16_t)
FI_TYPEOF(Int32, int32_t)
FI_TYPEOF(Int64, int64_t)
FI_TYPEOF(String, std::string)
FI_TYPEOF(Bool, bool)
FI_TYPEOF(Float16, Float16)
FI_TYPEOF(Double, double)
FI_TYPEOF(UInt32, uint32_t)
FI_TYPEOF(UInt64, uint64_t)
FI_TYPEOF(Complex64, std::complex<float>)
FI_TYPEOF(Complex128, std::complex<double>)
FI_TYPEOF(BFloat16, BFloat16)
FI_TYPEOF(Float8E4M3FN, Float8E4M3FN)
FI_TYPEOF(Float8E4M3FNUZ, Float8E4M3FNUZ)
FI_TYPEOF(Float8E5M2, Float8E5M2)
FI_TYPEOF(Float8E5M2FNUZ, Float8E5M2FNUZ)
FI_TYPEOF(UInt4, UInt4)
FI_TYPEOF(Int4, Int4)
FI_TYPEOF(Float4E2M1, Float4E2M1)
#undef FI_TYPEOF

template <class T> struct TypeTag { using type = T; };

}  // namespace fi
