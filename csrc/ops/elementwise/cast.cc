// Cast / CastLike between every pair of ONNX element types. Each source element is first widened
// to one of three wide types (double for float types, int64 for signed integers and bool,
// uint64 for unsigned integers), in chunks on the stack, then narrowed to the target type, so
// each type has one reader and three writers instead of one loop per pair. Narrowing follows
// ONNX Runtime / numpy on x86: float to integer truncates (out of range gives the integer
// minimum), 4-bit integers wrap (stored in the low nibble, as ml_dtypes does), NaN to float4
// gives a signed zero as in ml_dtypes, float8 honours `saturate` (opset 19). Strings are parsed with
// strtod/strtoll/strtoull (whole string, surrounding spaces allowed) and printed with "%.8g"
// (NaN, INF, -INF) for floats and in decimal for integers.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string>

#include "core/dispatch_type.h"
#include "ops/elementwise/engine.h"
#include "ops/registry.h"

namespace fi {
namespace {

constexpr int64_t kChunk = 512;

template <class S> struct WideOf { using type = std::conditional_t<std::is_signed_v<S>, int64_t, uint64_t>; };
template <> struct WideOf<bool> { using type = int64_t; };
template <> struct WideOf<Int4> { using type = int64_t; };
template <> struct WideOf<UInt4> { using type = uint64_t; };
template <> struct WideOf<float> { using type = double; };
template <> struct WideOf<double> { using type = double; };
template <> struct WideOf<Float16> { using type = double; };
template <> struct WideOf<BFloat16> { using type = double; };
template <DataType DT> struct WideOf<Float8<DT>> { using type = double; };
template <> struct WideOf<Float4E2M1> { using type = double; };

template <class S> inline typename WideOf<S>::type widen(const S& s) {
  using W = typename WideOf<S>::type;
  if constexpr (std::is_same_v<W, double>) {
    if constexpr (std::is_same_v<S, double> || std::is_same_v<S, float>) return double(s);
    else return double(float(s));
  } else if constexpr (std::is_same_v<S, Int4>) {
    return W(int((uint8_t(s.v) & 0xfu) ^ 0x8u) - 8);  // low nibble, as ml_dtypes stores it
  } else if constexpr (std::is_same_v<S, UInt4>) {
    return W(s.v & 0xfu);
  } else {
    return W(s);
  }
}

// double -> integer as the x86 truncating conversions do: 64-bit targets (and uint32) convert
// through int64, narrower ones through int32; NaN and out-of-range give the minimum, then wrap.
inline int64_t f2i64(double d) {
  if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) return int64_t(d);
  return INT64_MIN;
}
inline int32_t f2i32(double d) {
  if (d > -2147483649.0 && d < 2147483648.0) return int32_t(d);
  return INT32_MIN;
}

template <class D, class W> inline D narrow(W w, bool saturate) {
  if constexpr (std::is_same_v<D, bool>) {
    return w != W(0);
  } else if constexpr (std::is_same_v<D, float> || std::is_same_v<D, double>) {
    return D(w);
  } else if constexpr (std::is_same_v<D, Float16> || std::is_same_v<D, BFloat16>) {
    return D(float(w));
  } else if constexpr (std::is_same_v<D, Float4E2M1>) {
    Float4E2M1 r{float(w)};
    if constexpr (std::is_same_v<W, double>) {
      if (std::isnan(w)) r.bits = std::signbit(w) ? 0x0 : 0x8;  // as ml_dtypes (no NaN in float4)
    }
    return r;
  } else if constexpr (std::is_same_v<D, Float8E4M3FN> || std::is_same_v<D, Float8E4M3FNUZ> ||
                       std::is_same_v<D, Float8E5M2> || std::is_same_v<D, Float8E5M2FNUZ>) {
    D r{float(w), saturate};
    if constexpr (std::is_same_v<D, Float8E4M3FN> || std::is_same_v<D, Float8E5M2>) {
      // NaN keeps the input's sign and uses the quiet pattern, as ml_dtypes does.
      if (std::isnan(D::to_float(r.bits))) {
        const uint8_t sign = std::signbit(double(w)) ? 0x80 : 0x00;
        r.bits = uint8_t(sign | (std::is_same_v<D, Float8E4M3FN> ? 0x7f : 0x7e));
      }
    }
    return r;
  } else {
    uint64_t bits;  // two's complement bits of the integer value, to be truncated
    if constexpr (std::is_same_v<W, double>) {
      if constexpr (std::is_same_v<D, uint64_t>) {
        bits = (w >= 9223372036854775808.0 && w < 18446744073709551616.0) ? uint64_t(w) : uint64_t(f2i64(w));
      } else if constexpr (sizeof(D) >= 4 && !std::is_same_v<D, int32_t>) {
        bits = uint64_t(f2i64(w));
      } else {
        bits = uint64_t(int64_t(f2i32(w)));
      }
    } else {
      bits = uint64_t(w);
    }
    if constexpr (std::is_same_v<D, Int4>) {
      Int4 r;
      r.v = int8_t(bits & 0xfu);
      return r;
    } else if constexpr (std::is_same_v<D, UInt4>) {
      UInt4 r;
      r.v = uint8_t(bits & 0xfu);
      return r;
    } else {
      return D(bits);
    }
  }
}

// Parses a whole string as W; throws InvalidArgument when it is not a number.
template <class W> W parse(const std::string& s) {
  const char* b = s.c_str();
  char* end = nullptr;
  errno = 0;
  W v;
  if constexpr (std::is_same_v<W, double>) v = std::strtod(b, &end);
  else if constexpr (std::is_same_v<W, int64_t>) v = std::strtoll(b, &end, 10);
  else v = std::strtoull(b, &end, 10);
  bool ok = end != b;
  if (ok)
    for (const char* p = end; *p; ++p)
      if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') ok = false;
  FI_CHECK(ok, InvalidArgument, "Cast: cannot convert string '", s, "' to a number");
  return v;
}

std::string format_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v < 0 ? "-INF" : "INF";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.8g", v);
  return buf;
}

template <class S> std::string to_string_elem(const S& s) {
  auto w = widen(s);
  if constexpr (std::is_same_v<decltype(w), double>) return format_float(w);
  else return std::to_string(w);
}

// Every type but complex (which no Cast supports).
template <class Fn>
void dispatch_cast(DataType dt, Fn&& fn) {
#define FI_CAST_CASE(DT) \
  case DataType::DT: return fn(TypeTag<TypeOf<DataType::DT>::type>{});
  switch (dt) {
    FI_CAST_CASE(Float) FI_CAST_CASE(Double) FI_CAST_CASE(Float16) FI_CAST_CASE(BFloat16)
    FI_CAST_CASE(Int8) FI_CAST_CASE(Int16) FI_CAST_CASE(Int32) FI_CAST_CASE(Int64)
    FI_CAST_CASE(UInt8) FI_CAST_CASE(UInt16) FI_CAST_CASE(UInt32) FI_CAST_CASE(UInt64)
    FI_CAST_CASE(Bool) FI_CAST_CASE(String)
    FI_CAST_CASE(Float8E4M3FN) FI_CAST_CASE(Float8E4M3FNUZ) FI_CAST_CASE(Float8E5M2) FI_CAST_CASE(Float8E5M2FNUZ)
    FI_CAST_CASE(UInt4) FI_CAST_CASE(Int4) FI_CAST_CASE(Float4E2M1)
    default: break;
  }
#undef FI_CAST_CASE
  throw NotImplemented(str("Cast: element type ", dtype_name(dt), " is not supported"));
}

template <class D> using WideOfTarget = typename WideOf<D>::type;

// Converts n elements of x (type `from`) into y (type `to`).
void cast_elements(ThreadPool* pool, const Tensor& x, Tensor& y, bool saturate) {
  const int64_t n = x.numel();
  dispatch_cast(x.dtype(), [&](auto stag) {
    using S = typename decltype(stag)::type;
    const S* px = x.data<S>();
    dispatch_cast(y.dtype(), [&](auto dtag) {
      using D = typename decltype(dtag)::type;
      D* py = y.data<D>();
      if constexpr (std::is_same_v<D, std::string>) {
        if constexpr (std::is_same_v<S, std::string>) {
          for (int64_t i = 0; i < n; ++i) py[i] = px[i];
        } else {
          parallel_for(pool, n, ew::kGrain, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) py[i] = to_string_elem(px[i]);
          });
        }
      } else if constexpr (std::is_same_v<S, std::string>) {
        using W = std::conditional_t<std::is_same_v<D, bool>, uint64_t, WideOfTarget<D>>;
        for (int64_t i = 0; i < n; ++i) py[i] = narrow<D, W>(parse<W>(px[i]), saturate);
      } else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, Float16>) {
        parallel_for(pool, n, ew::kGrain, [&](int64_t b, int64_t e) { ew::float_to_half(px + b, py + b, e - b); });
      } else if constexpr (std::is_same_v<S, Float16> && std::is_same_v<D, float>) {
        parallel_for(pool, n, ew::kGrain, [&](int64_t b, int64_t e) { ew::half_to_float(px + b, py + b, e - b); });
      } else {
        using W = typename WideOf<S>::type;
        parallel_for(pool, n, ew::kGrain, [&](int64_t b, int64_t e) {
          W buf[kChunk];
          for (int64_t c = b; c < e; c += kChunk) {
            const int64_t m = std::min(kChunk, e - c);
            for (int64_t i = 0; i < m; ++i) buf[i] = widen(px[c + i]);
            for (int64_t i = 0; i < m; ++i) py[c + i] = narrow<D, W>(buf[i], saturate);
          }
        });
      }
    });
  });
}

// Cast (attribute `to`) and CastLike (target type of input 1); `saturate` from opset 19.
class CastKernel : public OpKernel {
 public:
  explicit CastKernel(const OpInit& init) : like_(init.op_type() == "CastLike") {
    if (!like_) {
      int64_t to = init.attrs().require_int("to");
      FI_CHECK(dtype_valid(int32_t(to)), NotImplemented, "Cast: unsupported target type ", to);
      to_ = DataType(to);
    }
    int64_t s = init.attrs().get_int("saturate", 1);
    saturate_ = s != 0;
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    DataType to = like_ ? ctx.in(1).dtype() : to_;
    if (to == x.dtype()) {
      ctx.output_alias(0, 0, x.shape());
      return;
    }
    Tensor& y = ctx.output(0, to, x.shape());
    cast_elements(ctx.pool(), x, y, saturate_);
  }

 private:
  bool like_;
  DataType to_ = DataType::Undefined;
  bool saturate_ = true;
};

int bit_width(DataType dt) {
  switch (dt) {
    case DataType::UInt4: case DataType::Int4: case DataType::Float4E2M1: return 4;
    default: return int(dtype_size(dt)) * 8;
  }
}

// BitCast (opset 26): the same bits viewed as type `to` of equal bit width; same shape.
// Bool outputs are normalised to 0/1 so that every stored bool stays valid.
class BitCastKernel : public OpKernel {
 public:
  explicit BitCastKernel(const OpInit& init) {
    int64_t to = init.attrs().require_int("to");
    FI_CHECK(dtype_valid(int32_t(to)), NotImplemented, "BitCast: unsupported target type ", to);
    to_ = DataType(to);
    FI_CHECK(to_ != DataType::String, InvalidModel, "BitCast: strings cannot be bit-cast");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.dtype() != DataType::String, InvalidArgument, "BitCast: strings cannot be bit-cast");
    FI_CHECK(bit_width(x.dtype()) == bit_width(to_), InvalidArgument, "BitCast: ", dtype_name(x.dtype()),
             " and ", dtype_name(to_), " differ in bit width");
    Tensor& y = ctx.output(0, to_, x.shape());
    if (x.numel() == 0) return;
    std::memcpy(y.raw(), x.raw(), x.nbytes());
    if (to_ == DataType::Bool) {
      unsigned char* p = static_cast<unsigned char*>(y.raw());
      for (int64_t i = 0; i < y.numel(); ++i) p[i] = p[i] != 0;
    } else if (bit_width(to_) == 4) {
      unsigned char* p = static_cast<unsigned char*>(y.raw());
      for (int64_t i = 0; i < y.numel(); ++i) p[i] &= 0xfu;
    }
  }

 private:
  DataType to_;
};

}  // namespace

void register_cast_ops(OpRegistry& r) {
  r.add("BitCast", 26, make_kernel<BitCastKernel>);
  r.add("Cast", 6, make_kernel<CastKernel>);
  r.add("CastLike", 15, make_kernel<CastKernel>);
}

}  // namespace fi
