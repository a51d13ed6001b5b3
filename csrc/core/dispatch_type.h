// Type dispatch for reference kernels: calls fn(TypeTag<T>{}) with T the storage type of dt.
//   dispatch_numeric(dt, "Add", [&](auto tag) { using T = typename decltype(tag)::type; ... });
// Each helper names the set of types it accepts; others raise NotImplemented naming `what`.
#pragma once
#include "core/dtype.h"
#include "core/error.h"

namespace fi {

#define FI_CASE(DT) \
  case DataType::DT: return fn(TypeTag<TypeOf<DataType::DT>::type>{});

// float, double, float16, bfloat16
template <class Fn>
decltype(auto) dispatch_float(DataType dt, const char* what, Fn&& fn) {
  switch (dt) {
    FI_CASE(Float) FI_CASE(Double) FI_CASE(Float16) FI_CASE(BFloat16)
    default: break;
  }
  throw NotImplemented(str(what, ": element type ", dtype_name(dt), " is not supported"));
}

// every integer type (not bool)
template <class Fn>
decltype(auto) dispatch_integer(DataType dt, const char* what, Fn&& fn) {
  switch (dt) {
    FI_CASE(Int8) FI_CASE(Int16) FI_CASE(Int32) FI_CASE(Int64)
    FI_CASE(UInt8) FI_CASE(UInt16) FI_CASE(UInt32) FI_CASE(UInt64)
    default: break;
  }
  throw NotImplemented(str(what, ": element type ", dtype_name(dt), " is not supported"));
}

// floats and integers (the usual arithmetic set)
template <class Fn>
decltype(auto) dispatch_numeric(DataType dt, const char* what, Fn&& fn) {
  switch (dt) {
    FI_CASE(Float) FI_CASE(Double) FI_CASE(Float16) FI_CASE(BFloat16)
    FI_CASE(Int8) FI_CASE(Int16) FI_CASE(Int32) FI_CASE(Int64)
    FI_CASE(UInt8) FI_CASE(UInt16) FI_CASE(UInt32) FI_CASE(UInt64)
    default: break;
  }
  throw NotImplemented(str(what, ": element type ", dtype_name(dt), " is not supported"));
}

// every type with a fixed size (all but string); copies, gathers, transposes
template <class Fn>
decltype(auto) dispatch_all_pod(DataType dt, const char* what, Fn&& fn) {
  switch (dt) {
    FI_CASE(Float) FI_CASE(Double) FI_CASE(Float16) FI_CASE(BFloat16)
    FI_CASE(Int8) FI_CASE(Int16) FI_CASE(Int32) FI_CASE(Int64)
    FI_CASE(UInt8) FI_CASE(UInt16) FI_CASE(UInt32) FI_CASE(UInt64)
    FI_CASE(Bool) FI_CASE(Complex64) FI_CASE(Complex128)
    FI_CASE(Float8E4M3FN) FI_CASE(Float8E4M3FNUZ) FI_CASE(Float8E5M2) FI_CASE(Float8E5M2FNUZ)
    FI_CASE(UInt4) FI_CASE(Int4) FI_CASE(Float4E2M1)
    default: break;
  }
  throw NotImplemented(str(what, ": element type ", dtype_name(dt), " is not supported"));
}

// every type including string
template <class Fn>
decltype(auto) dispatch_all(DataType dt, const char* what, Fn&& fn) {
  if (dt == DataType::String) return fn(TypeTag<std::string>{});
  return dispatch_all_pod(dt, what, std::forward<Fn>(fn));
}

#undef FI_CASE

}  // namespace fi
