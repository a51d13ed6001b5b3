#include "core/dtype.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

namespace fi {

size_t dtype_size(DataType dt) {
  switch (dt) {
    case DataType::Float: return 4;
    case DataType::UInt8: case DataType::Int8: case DataType::Bool: return 1;
    case DataType::UInt16: case DataType::Int16: case DataType::Float16:
    case DataType::BFloat16: return 2;
    case DataType::Int32: case DataType::UInt32: return 4;
    case DataType::Int64: case DataType::UInt64: case DataType::Double: return 8;
    case DataType::Complex64: return 8;
    case DataType::Complex128: return 16;
    case DataType::String: return sizeof(std::string);
    case DataType::Float8E4M3FN: case DataType::Float8E4M3FNUZ: case DataType::Float8E5M2:
    case DataType::Float8E5M2FNUZ: case DataType::UInt4: case DataType::Int4:
    case DataType::Float4E2M1: return 1;
    default: return 0;
  }
}

const char* dtype_name(DataType dt) {
  switch (dt) {
    case DataType::Float: return "float";
    case DataType::UInt8: return "uint8";
    case DataType::Int8: return "int8";
    case DataType::UInt16: return "uint16";
    case DataType::Int16: return "int16";
    case DataType::Int32: return "int32";
    case DataType::Int64: return "int64";
    case DataType::String: return "string";
    case DataType::Bool: return "bool";
    case DataType::Float16: return "float16";
    case DataType::Double: return "double";
    case DataType::UInt32: return "uint32";
    case DataType::UInt64: return "uint64";
    case DataType::Complex64: return "complex64";
    case DataType::Complex128: return "complex128";
    case DataType::BFloat16: return "bfloat16";
    case DataType::Float8E4M3FN: return "float8e4m3fn";
    case DataType::Float8E4M3FNUZ: return "float8e4m3fnuz";
    case DataType::Float8E5M2: return "float8e5m2";
    case DataType::Float8E5M2FNUZ: return "float8e5m2fnuz";
    case DataType::UInt4: return "uint4";
    case DataType::Int4: return "int4";
    case DataType::Float4E2M1: return "float4e2m1";
    default: return "undefined";
  }
}

bool dtype_valid(int32_t code) { return code >= 1 && code <= 23; }

bool dtype_is_float(DataType dt) {
  switch (dt) {
    case DataType::Float: case DataType::Double: case DataType::Float16: case DataType::BFloat16:
    case DataType::Float8E4M3FN: case DataType::Float8E4M3FNUZ: case DataType::Float8E5M2:
    case DataType::Float8E5M2FNUZ: case DataType::Float4E2M1: return true;
    default: return false;
  }
}

bool dtype_is_integer(DataType dt) {
  switch (dt) {
    case DataType::UInt8: case DataType::Int8: case DataType::UInt16: case DataType::Int16:
    case DataType::Int32: case DataType::Int64: case DataType::UInt32: case DataType::UInt64:
    case DataType::UInt4: case DataType::Int4: return true;
    default: return false;
  }
}

bool dtype_is_signed(DataType dt) {
  switch (dt) {
    case DataType::Int8: case DataType::Int16: case DataType::Int32: case DataType::Int64:
    case DataType::Int4: return true;
    default: return dtype_is_float(dt);
  }
}

// ---- float16 (IEEE binary16), round to nearest even ------------------------------------------
uint16_t Float16::from_float(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds past 65504: inf
  if (ax < 0x38800000u) {                                  // subnormal or zero in half
    if (ax < 0x33000000u) return uint16_t(sign);           // below half of the smallest subnormal
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14 - (e - 127) + 13 ... maps to 24-bit mantissa shift
    uint32_t r = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return uint16_t(sign | r);
  }
  uint32_t r = ax - 0x38000000u;  // rebias exponent 127 -> 15
  uint32_t rem = r & 0x1fffu;
  r >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return uint16_t(sign | r);
}

float Float16::to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1f;
  uint32_t m = h & 0x3ffu;
  uint32_t x;
  if (e == 0) {
    if (m == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int shift = 0;
      while (!(m & 0x400u)) { m <<= 1; ++shift; }
      m &= 0x3ffu;
      x = sign | uint32_t(127 - 15 + 1 - shift) << 23 | (m << 13);
    }
  } else if (e == 31) {
    x = sign | 0x7f800000u | (m << 13);
  } else {
    x = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// ---- float8 / float4: decoding by formula, encoding by nearest entry of a sorted table ---------
namespace {

struct MiniFloat {
  int exp_bits, man_bits, bias;
  bool ieee_special;  // E5M2: all-ones exponent is inf/NaN
  bool fn;            // E4M3FN: only S.1111.111 is NaN, no inf
  bool uz;            // FNUZ: 0x80 is NaN, no -0, no inf
  int total_bits;
};

float decode(const MiniFloat& f, uint32_t code) {
  uint32_t sign_bit = 1u << (f.total_bits - 1);
  bool neg = code & sign_bit;
  uint32_t body = code & (sign_bit - 1);
  uint32_t e = body >> f.man_bits;
  uint32_t m = body & ((1u << f.man_bits) - 1);
  uint32_t emax = (1u << f.exp_bits) - 1;
  if (f.uz && code == sign_bit) return std::numeric_limits<float>::quiet_NaN();
  if (f.fn && e == emax && m == (1u << f.man_bits) - 1) return std::numeric_limits<float>::quiet_NaN();
  if (f.ieee_special && e == emax)
    return m ? std::numeric_limits<float>::quiet_NaN()
             : (neg ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity());
  float v = e == 0 ? std::ldexp(float(m), 1 - f.bias - f.man_bits)
                   : std::ldexp(float(m + (1u << f.man_bits)), int(e) - f.bias - f.man_bits);
  return neg ? -v : v;
}

struct Encoder {
  MiniFloat fmt;
  std::vector<std::pair<float, uint8_t>> pos;  // finite non-negative values, ascending
  uint8_t nan_code, inf_code;
  bool has_inf;
  explicit Encoder(MiniFloat f) : fmt(f) {
    uint32_t sign_bit = 1u << (f.total_bits - 1);
    for (uint32_t c = 0; c < sign_bit; ++c) {
      float v = decode(f, c);
      if (std::isfinite(v)) pos.push_back({v, uint8_t(c)});
    }
    std::sort(pos.begin(), pos.end());
    has_inf = f.ieee_special;
    inf_code = has_inf ? uint8_t(((1u << f.exp_bits) - 1) << f.man_bits) : 0;
    if (f.uz) nan_code = uint8_t(sign_bit);
    else if (f.ieee_special) nan_code = uint8_t(inf_code | 2u);  // 0x7e, as ml_dtypes
    else if (f.fn) nan_code = uint8_t(sign_bit - 1);
    else nan_code = uint8_t(sign_bit - 1);  // float4 has no NaN: largest value
  }
  uint8_t encode(float x, bool saturate) const {
    uint32_t sign_bit = 1u << (fmt.total_bits - 1);
    if (std::isnan(x)) return nan_code;
    bool neg = std::signbit(x);
    float a = std::fabs(x);
    uint8_t sign = neg ? uint8_t(sign_bit) : 0;
    const auto& mx = pos.back();
    auto overflow = [&]() -> uint8_t {
      if (saturate || (!has_inf && !fmt.uz && !fmt.fn)) return uint8_t(sign | mx.second);
      if (has_inf) return uint8_t(sign | inf_code);
      return fmt.fn ? uint8_t(sign | nan_code) : nan_code;  // E4M3FN keeps the sign on NaN
    };
    if (std::isinf(a)) return overflow();
    if (a > mx.first) {
      float prev = pos[pos.size() - 2].first;
      float next = mx.first + (mx.first - prev);
      float mid = 0.5f * (mx.first + next);
      if (a < mid || (a == mid && !(mx.second & 1u))) return uint8_t(sign | mx.second);
      return overflow();
    }
    auto it = std::lower_bound(pos.begin(), pos.end(), std::make_pair(a, uint8_t(0)));
    uint8_t code;
    if (it->first == a) {
      code = it->second;
    } else {
      auto lo = it - 1;
      float dl = a - lo->first, dh = it->first - a;
      if (dl < dh) code = lo->second;
      else if (dh < dl) code = it->second;
      else code = (lo->second & 1u) ? it->second : lo->second;
    }
    if (code == 0 && fmt.uz) return 0;  // no negative zero
    return uint8_t(sign | code);
  }
  std::array<float, 256> table() const {
    std::array<float, 256> t{};
    for (uint32_t c = 0; c < (1u << fmt.total_bits); ++c) t[c] = decode(fmt, c);
    return t;
  }
};

template <DataType DT> const Encoder& encoder();
template <> const Encoder& encoder<DataType::Float8E4M3FN>() {
  static const Encoder e({4, 3, 7, false, true, false, 8});
  return e;
}
template <> const Encoder& encoder<DataType::Float8E4M3FNUZ>() {
  static const Encoder e({4, 3, 8, false, false, true, 8});
  return e;
}
template <> const Encoder& encoder<DataType::Float8E5M2>() {
  static const Encoder e({5, 2, 15, true, false, false, 8});
  return e;
}
template <> const Encoder& encoder<DataType::Float8E5M2FNUZ>() {
  static const Encoder e({5, 2, 16, false, false, true, 8});
  return e;
}
const Encoder& encoder_f4() {
  static const Encoder e({2, 1, 1, false, false, false, 4});
  return e;
}

}  // namespace

template <DataType DT>
uint8_t Float8<DT>::from_float(float f, bool saturate) {
  return encoder<DT>().encode(f, saturate);
}
template <DataType DT>
float Float8<DT>::to_float(uint8_t b) {
  static const std::array<float, 256> t = encoder<DT>().table();
  return t[b];
}
template struct Float8<DataType::Float8E4M3FN>;
template struct Float8<DataType::Float8E4M3FNUZ>;
template struct Float8<DataType::Float8E5M2>;
template struct Float8<DataType::Float8E5M2FNUZ>;

uint8_t Float4E2M1::from_float(float f) { return encoder_f4().encode(f, true); }
float Float4E2M1::to_float(uint8_t b) {
  static const std::array<float, 256> t = encoder_f4().table();
  return t[b & 0xfu];
}

}  // namespace fi
