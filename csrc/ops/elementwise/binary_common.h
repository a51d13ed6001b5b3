// Helpers shared by the binary op kernels: dtype checks and the "same type in, T or bool out"
// driver around ew::map_binary, plus overflow-safe integer arithmetic.
#pragma once
#include <cstdint>
#include <type_traits>

#include "ops/elementwise/engine.h"
#include "ops/kernel.h"

namespace fi {
namespace ew {

inline void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  FI_CHECK(a.dtype() == b.dtype(), InvalidArgument, op, ": inputs have different element types ",
           dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
}

// Output 0 = f(in0, in1) broadcast; inputs of storage type T, output of storage type TO.
template <class T, class TO, class F>
void binary_op(KernelContext& ctx, DataType out_dt, const F& f) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Shape out = broadcast_shapes(a.shape(), b.shape());
  Tensor& y = ctx.output(0, out_dt, out);
  map_binary(ctx.pool(), a.data<T>(), a.shape(), b.data<T>(), b.shape(), y.data<TO>(), out, f);
}

// Wrapping (two's complement) integer add/sub/mul without signed-overflow UB.
template <class C> inline C add(C x, C y) {
  if constexpr (std::is_integral_v<C>) return C(uint64_t(x) + uint64_t(y));
  else return x + y;
}
template <class C> inline C sub(C x, C y) {
  if constexpr (std::is_integral_v<C>) return C(uint64_t(x) - uint64_t(y));
  else return x - y;
}
template <class C> inline C mul(C x, C y) {
  if constexpr (std::is_integral_v<C>) return C(uint64_t(x) * uint64_t(y));
  else return x * y;
}

}  // namespace ew
}  // namespace fi
