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

// Opset 1..6 binary ops: with broadcast=1 and an `axis`, B's dims line up with A's starting at
// axis (B = [C] on A = [N, C, H, W] with axis=1 is a per-channel operand). Expressed as B's
// shape padded with 1s so that the numpy engine applies. Opset >= 7: plain numpy rules.
class LegacyBroadcast {
 public:
  explicit LegacyBroadcast(const OpInit& init) {
    if (init.opset() < 7 && init.attrs().get_int("broadcast", 0) != 0 && init.attrs().has("axis"))
      axis_ = init.attrs().get_int("axis", 0);
  }
  Shape b_shape(const Shape& a, const Shape& b) const {
    if (axis_ == kNone) return b;
    const int64_t ra = a.rank(), rb = b.rank();
    const int64_t ax = axis_ < 0 ? axis_ + ra : axis_;
    FI_CHECK(ax >= 0 && ax + rb <= ra, InvalidArgument, "legacy broadcast: axis ", axis_, " does not fit B of shape ",
             b.str(), " into A of shape ", a.str());
    Shape s;
    for (int64_t i = 0; i < ra; ++i) s.push_back(i >= ax && i < ax + rb ? b[size_t(i - ax)] : 1);
    return s;
  }

 private:
  static constexpr int64_t kNone = INT64_MIN;
  int64_t axis_ = kNone;
};

// Output 0 = f(in0, in1) broadcast; inputs of storage type T, output of storage type TO.
template <class T, class TO, class F>
void binary_op(KernelContext& ctx, DataType out_dt, const F& f, const LegacyBroadcast* lb = nullptr) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Shape sb = lb ? lb->b_shape(a.shape(), b.shape()) : b.shape();
  Shape out = broadcast_shapes(a.shape(), sb);
  Tensor& y = ctx.output(0, out_dt, out);
  map_binary(ctx.pool(), a.data<T>(), a.shape(), b.data<T>(), sb, y.data<TO>(), out, f);
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
