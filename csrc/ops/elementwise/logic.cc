// Broadcasting comparisons and logic: Equal, Greater, Less, GreaterOrEqual, LessOrEqual (bool
// output), And/Or/Xor (bool), BitwiseAnd/Or/Xor (integers), BitShift (integers) and
// Where (bool condition selecting between two tensors of any type, 3-way broadcast).
#include <cstring>
#include <string>

#include "core/dispatch_type.h"
#include "ops/elementwise/binary_common.h"
#include "ops/registry.h"

namespace fi {
namespace {

using ew::Compute;

enum class Cmp { Eq, Gt, Lt, Ge, Le };

// Comparisons: numeric and bool inputs; Equal also takes strings (opset 19).
template <Cmp K>
class CompareKernel : public OpKernel {
 public:
  explicit CompareKernel(const OpInit& init) : lb_(init) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    ew::check_same_dtype(a, ctx.in(1), name());
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = Compute<T>;
      ew::binary_op<T, bool>(ctx, DataType::Bool, [](const C& x, const C& y) -> bool {
        if constexpr (K == Cmp::Eq) return x == y;
        else if constexpr (K == Cmp::Gt) return x > y;
        else if constexpr (K == Cmp::Lt) return x < y;
        else if constexpr (K == Cmp::Ge) return x >= y;
        else return x <= y;
      }, &lb_);
    };
    if (a.dtype() == DataType::Bool) run(TypeTag<bool>{});
    else if (K == Cmp::Eq && a.dtype() == DataType::String) run(TypeTag<std::string>{});
    else dispatch_numeric(a.dtype(), name(), run);
  }

 private:
  ew::LegacyBroadcast lb_;

  static const char* name() {
    switch (K) {
      case Cmp::Eq: return "Equal";
      case Cmp::Gt: return "Greater";
      case Cmp::Lt: return "Less";
      case Cmp::Ge: return "GreaterOrEqual";
      default: return "LessOrEqual";
    }
  }
};

enum class Logic { And, Or, Xor };

// And/Or/Xor on bool tensors.
template <Logic L>
class LogicKernel : public OpKernel {
 public:
  explicit LogicKernel(const OpInit& init) : lb_(init) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    const char* nm = L == Logic::And ? "And" : (L == Logic::Or ? "Or" : "Xor");
    ew::check_same_dtype(a, ctx.in(1), nm);
    FI_CHECK(a.dtype() == DataType::Bool, NotImplemented, nm, ": element type ", dtype_name(a.dtype()),
             " is not supported");
    ew::binary_op<bool, bool>(ctx, DataType::Bool, [](bool x, bool y) -> bool {
      if constexpr (L == Logic::And) return x && y;
      else if constexpr (L == Logic::Or) return x || y;
      else return x != y;
    }, &lb_);
  }

 private:
  ew::LegacyBroadcast lb_;
};

// BitwiseAnd/Or/Xor on integer tensors of one type.
template <Logic L>
class BitwiseKernel : public OpKernel {
 public:
  explicit BitwiseKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    const char* nm = L == Logic::And ? "BitwiseAnd" : (L == Logic::Or ? "BitwiseOr" : "BitwiseXor");
    ew::check_same_dtype(a, ctx.in(1), nm);
    dispatch_integer(a.dtype(), nm, [&](auto tag) {
      using T = typename decltype(tag)::type;
      ew::binary_op<T, T>(ctx, a.dtype(), [](T x, T y) -> T {
        if constexpr (L == Logic::And) return T(x & y);
        else if constexpr (L == Logic::Or) return T(x | y);
        else return T(x ^ y);
      });
    });
  }
};

// BitShift (opset 11: unsigned; opset 28 adds signed): right shifts of signed values are
// arithmetic, left shifts wrap; a shift that is negative or not below the bit width gives
// -1 (right shift of a negative value) or 0.
class BitShiftKernel : public OpKernel {
 public:
  explicit BitShiftKernel(const OpInit& init) {
    std::string d = init.attrs().require_string("direction");
    FI_CHECK(d == "LEFT" || d == "RIGHT", InvalidModel, "BitShift: direction must be LEFT or RIGHT, got '", d, "'");
    left_ = d == "LEFT";
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    ew::check_same_dtype(a, ctx.in(1), "BitShift");
    const bool left = left_;
    dispatch_integer(a.dtype(), "BitShift", [&](auto tag) {
      using T = typename decltype(tag)::type;
      constexpr int64_t bits = int64_t(sizeof(T) * 8);
      ew::binary_op<T, T>(ctx, a.dtype(), [left](T x, T s) -> T {
        if (int64_t(s) < 0 || int64_t(s) >= bits) {
          if constexpr (std::is_signed_v<T>) {
            if (!left && x < 0) return T(-1);
          }
          return T(0);
        }
        if (left) return T(uint64_t(x) << int(s));
        return T(x >> int(s));
      });
    });
  }

 private:
  bool left_ = true;
};

struct Bytes16 {
  unsigned char b[16];
};

// Where: y = cond ? x : y with cond, x, y broadcast together. Dispatches on element size.
class WhereKernel : public OpKernel {
 public:
  explicit WhereKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& c = ctx.in(0);
    const Tensor& x = ctx.in(1);
    const Tensor& y = ctx.in(2);
    FI_CHECK(c.dtype() == DataType::Bool, InvalidArgument, "Where: condition must be bool, got ",
             dtype_name(c.dtype()));
    ew::check_same_dtype(x, y, "Where");
    Shape out = broadcast_shapes(broadcast_shapes(c.shape(), x.shape()), y.shape());
    Tensor& z = ctx.output(0, x.dtype(), out);
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      ew::map_ternary(ctx.pool(), c.data<bool>(), c.shape(), x.data<T>(), x.shape(), y.data<T>(), y.shape(),
                      z.data<T>(), out, [](bool s, const T& u, const T& v) -> const T& { return s ? u : v; });
    };
    if (x.dtype() == DataType::String) return run(TypeTag<std::string>{});
    switch (dtype_size(x.dtype())) {
      case 1: return run(TypeTag<uint8_t>{});
      case 2: return run(TypeTag<uint16_t>{});
      case 4: return run(TypeTag<uint32_t>{});
      case 8: return run(TypeTag<uint64_t>{});
      case 16: return run(TypeTag<Bytes16>{});
      default: throw NotImplemented(str("Where: element type ", dtype_name(x.dtype()), " is not supported"));
    }
  }
};

}  // namespace

void register_logic_ops(OpRegistry& r) {
  r.add("Equal", 1, make_kernel<CompareKernel<Cmp::Eq>>);
  r.add("Greater", 1, make_kernel<CompareKernel<Cmp::Gt>>);
  r.add("Less", 1, make_kernel<CompareKernel<Cmp::Lt>>);
  r.add("GreaterOrEqual", 12, make_kernel<CompareKernel<Cmp::Ge>>);
  r.add("LessOrEqual", 12, make_kernel<CompareKernel<Cmp::Le>>);
  r.add("And", 1, make_kernel<LogicKernel<Logic::And>>);
  r.add("Or", 1, make_kernel<LogicKernel<Logic::Or>>);
  r.add("Xor", 1, make_kernel<LogicKernel<Logic::Xor>>);
  r.add("BitwiseAnd", 18, make_kernel<BitwiseKernel<Logic::And>>);
  r.add("BitwiseOr", 18, make_kernel<BitwiseKernel<Logic::Or>>);
  r.add("BitwiseXor", 18, make_kernel<BitwiseKernel<Logic::Xor>>);
  r.add("BitShift", 11, make_kernel<BitShiftKernel>);
  r.add("Where", 9, make_kernel<WhereKernel>);
}

}  // namespace fi
