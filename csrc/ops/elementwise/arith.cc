// Broadcasting arithmetic: Add, Sub, Mul, Div, Mod, PRelu and the variadic Max, Min, Sum, Mean.
// All take tensors of one numeric type and produce that type; integer arithmetic wraps, integer
// division truncates toward zero (C semantics) and division by zero raises InvalidArgument.
#include <cmath>
#include <limits>
#include <vector>

#include "core/dispatch_type.h"
#include "ops/elementwise/binary_common.h"
#include "ops/registry.h"

namespace fi {
namespace {

using ew::Compute;

enum class Arith { Add, Sub, Mul, Div };

template <class C> inline C div_checked(C x, C y) {
  if constexpr (std::is_integral_v<C>) {
    if (y == 0) throw InvalidArgument("integer division by zero");
    if constexpr (std::is_signed_v<C>) {
      if (y == -1) return C(0 - uint64_t(x));
    }
    return C(x / y);
  } else {
    return x / y;
  }
}

// Add/Sub/Mul/Div of two tensors of the same numeric type, numpy broadcasting.
template <Arith A>
class ArithKernel : public OpKernel {
 public:
  explicit ArithKernel(const OpInit& init) : lb_(init) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    ew::check_same_dtype(a, ctx.in(1), name());
    dispatch_numeric(a.dtype(), name(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = Compute<T>;
      if constexpr (A == Arith::Add) ew::binary_op<T, T>(ctx, a.dtype(), [](C x, C y) { return ew::add(x, y); }, &lb_);
      if constexpr (A == Arith::Sub) ew::binary_op<T, T>(ctx, a.dtype(), [](C x, C y) { return ew::sub(x, y); }, &lb_);
      if constexpr (A == Arith::Mul) ew::binary_op<T, T>(ctx, a.dtype(), [](C x, C y) { return ew::mul(x, y); }, &lb_);
      if constexpr (A == Arith::Div) ew::binary_op<T, T>(ctx, a.dtype(), [](C x, C y) { return div_checked(x, y); }, &lb_);
    });
  }

  // float32 operands of one shape, at 2+ threads: the elements go to the executor's chained job
  // in chunks of ew::kGrain (YOLOv8n's residual Adds after a SiLU, between convs). Smaller ones
  // (one chunk) run through compute.
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    if (!ctx.pool() || ctx.pool()->num_threads() < 2) return false;
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    if (a.dtype() != DataType::Float || b.dtype() != DataType::Float || a.shape() != b.shape() ||
        a.numel() < 2 * ew::kGrain)
      return false;
    Tensor& y = ctx.output(0, DataType::Float, a.shape());
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* py = y.data<float>();
    work.phases = 1;
    work.n[0] = a.numel();
    work.grain[0] = ew::kGrain;
    work.fn = [pa, pb, py](int, int, int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        if constexpr (A == Arith::Add) py[i] = ew::add(pa[i], pb[i]);
        if constexpr (A == Arith::Sub) py[i] = ew::sub(pa[i], pb[i]);
        if constexpr (A == Arith::Mul) py[i] = ew::mul(pa[i], pb[i]);
        if constexpr (A == Arith::Div) py[i] = div_checked(pa[i], pb[i]);
      }
    };
    return true;
  }

 private:
  ew::LegacyBroadcast lb_;

  static const char* name() {
    switch (A) {
      case Arith::Add: return "Add";
      case Arith::Sub: return "Sub";
      case Arith::Mul: return "Mul";
      default: return "Div";
    }
  }
};

// Mod: fmod=1 gives the C remainder (sign of the dividend); fmod=0 the floored remainder
// (sign of the divisor), as Python's %. Integer modulo by zero raises InvalidArgument.
class ModKernel : public OpKernel {
 public:
  explicit ModKernel(const OpInit& init) {
    int64_t f = init.attrs().get_int("fmod", 0);
    FI_CHECK(f == 0 || f == 1, InvalidModel, "Mod: fmod must be 0 or 1, got ", f);
    fmod_ = f == 1;
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    ew::check_same_dtype(a, ctx.in(1), "Mod");
    const bool fm = fmod_;
    dispatch_numeric(a.dtype(), "Mod", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = Compute<T>;
      ew::binary_op<T, T>(ctx, a.dtype(), [fm](C x, C y) -> C {
        C r;
        if constexpr (std::is_integral_v<C>) {
          if (y == 0) throw InvalidArgument("Mod: integer modulo by zero");
          if constexpr (std::is_signed_v<C>) {
            if (y == -1) return C(0);
          }
          r = C(x % y);
        } else {
          r = std::fmod(x, y);
        }
        if (!fm && r != 0 && ((r < 0) != (y < 0))) r = C(r + y);
        return r;
      });
    });
  }

 private:
  bool fmod_ = false;
};

enum class Var { Max, Min, Sum, Mean };

template <class C> inline C vmax(C x, C y) {
  if constexpr (!std::is_integral_v<C>) {
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<C>::quiet_NaN();
  }
  return x < y ? y : x;
}
template <class C> inline C vmin(C x, C y) {
  if constexpr (!std::is_integral_v<C>) {
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<C>::quiet_NaN();
  }
  return y < x ? y : x;
}

// Max/Min/Sum/Mean over any number of inputs of one type, all broadcast together. The output is
// built pairwise: y = f(x0, x1), then y = f(y, xk); Mean divides the sum at the end.
template <Var V>
class VariadicKernel : public OpKernel {
 public:
  explicit VariadicKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const int n = ctx.num_inputs();
    FI_CHECK(n >= 1, InvalidModel, name(), " needs at least one input");
    const Tensor& x0 = ctx.in(0);
    Shape out = x0.shape();
    for (int i = 1; i < n; ++i) {
      ew::check_same_dtype(x0, ctx.in(i), name());
      out = broadcast_shapes(out, ctx.in(i).shape());
    }
    Tensor& y = ctx.output(0, x0.dtype(), out);
    dispatch_numeric(x0.dtype(), name(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = Compute<T>;
      auto f = [](C x, C z) -> C {
        if constexpr (V == Var::Max) return vmax(x, z);
        else if constexpr (V == Var::Min) return vmin(x, z);
        else return ew::add(x, z);
      };
      T* py = y.data<T>();
      if (n == 1) {
        ew::map_binary(ctx.pool(), x0.data<T>(), x0.shape(), x0.data<T>(), x0.shape(), py, out,
                       [](C x, C) { return x; });
      } else {
        const Tensor& x1 = ctx.in(1);
        ew::map_binary(ctx.pool(), x0.data<T>(), x0.shape(), x1.data<T>(), x1.shape(), py, out, f);
        for (int i = 2; i < n; ++i) {
          const Tensor& xi = ctx.in(i);
          ew::map_binary(ctx.pool(), static_cast<const T*>(py), out, xi.data<T>(), xi.shape(), py, out, f);
        }
      }
      if constexpr (V == Var::Mean) {
        const C cnt = C(n);
        ew::map_unary(ctx.pool(), static_cast<const T*>(py), py, out.numel(), [cnt](C x) { return C(x / cnt); });
      }
    });
  }

 private:
  static const char* name() {
    switch (V) {
      case Var::Max: return "Max";
      case Var::Min: return "Min";
      case Var::Sum: return "Sum";
      default: return "Mean";
    }
  }
};

// PRelu: y = x < 0 ? slope * x : x, slope broadcast (unidirectionally) to x's shape.
class PReluKernel : public OpKernel {
 public:
  explicit PReluKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& s = ctx.in(1);
    ew::check_same_dtype(x, s, "PRelu");
    FI_CHECK(s.rank() <= x.rank() && broadcast_shapes(x.shape(), s.shape()) == x.shape(), InvalidArgument,
             "PRelu: slope of shape ", s.shape().str(), " cannot be broadcast to input shape ", x.shape().str());
    dispatch_numeric(x.dtype(), "PRelu", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = Compute<T>;
      ew::binary_op<T, T>(ctx, x.dtype(), [](C v, C sl) { return v < 0 ? ew::mul(sl, v) : v; });
    });
  }
};

}  // namespace

void register_arith_ops(OpRegistry& r) {
  r.add("Add", 1, make_kernel<ArithKernel<Arith::Add>>);
  r.add("Sub", 1, make_kernel<ArithKernel<Arith::Sub>>);
  r.add("Mul", 1, make_kernel<ArithKernel<Arith::Mul>>);
  r.add("Div", 1, make_kernel<ArithKernel<Arith::Div>>);
  r.add("Mod", 10, make_kernel<ModKernel>);
  r.add("Max", 1, make_kernel<VariadicKernel<Var::Max>>);
  r.add("Min", 1, make_kernel<VariadicKernel<Var::Min>>);
  r.add("Sum", 1, make_kernel<VariadicKernel<Var::Sum>>);
  r.add("Mean", 1, make_kernel<VariadicKernel<Var::Mean>>);
  r.add("PRelu", 1, make_kernel<PReluKernel>);
}

}  // namespace fi
