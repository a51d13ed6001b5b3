// Pow: y = x ^ e with numpy broadcasting. The output has the base's type; since opset 12 the
// exponent may have another numeric type. The exponent is widened once to int64 (integer types)
// or double (float types) so that each base type meets just two exponent types. Integer bases
// with integer exponents use exact repeated squaring (wrapping), negative exponents truncate
// toward zero like casting std::pow's result.
#include <cmath>
#include <limits>
#include <vector>

#include "core/dispatch_type.h"
#include "ops/elementwise/binary_common.h"
#include "ops/elementwise/engine.h"
#include "ops/registry.h"

namespace fi {
namespace {

using ew::Compute;

// Float to integer conversion that stays defined out of range (saturates; NaN gives 0).
template <class C> C float_to_int(double v) {
  if (std::isnan(v)) return C(0);
  if (v <= double(std::numeric_limits<C>::lowest())) return std::numeric_limits<C>::lowest();
  if (v >= double(std::numeric_limits<C>::max())) return std::numeric_limits<C>::max();
  return C(v);
}

template <class C> C int_pow(C x, int64_t e) {
  if (e < 0) {
    if (x == 1) return C(1);
    if constexpr (std::is_signed_v<C>) {
      if (x == -1) return (e & 1) ? C(-1) : C(1);
    }
    return x == 0 ? std::numeric_limits<C>::max() : C(0);
  }
  uint64_t r = 1, b = uint64_t(x);
  while (e) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return C(r);
}

class PowKernel : public OpKernel {
 public:
  explicit PowKernel(const OpInit& init) : lb_(init) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& e = ctx.in(1);
    const int64_t ne = e.numel();
    const bool int_exp = dtype_is_integer(e.dtype());
    // Widen the exponent.
    int64_t* ei = int_exp ? ctx.scratch_as<int64_t>(size_t(ne > 0 ? ne : 1)) : nullptr;
    double* ed = int_exp ? nullptr : ctx.scratch_as<double>(size_t(ne > 0 ? ne : 1));
    if (int_exp) {
      dispatch_integer(e.dtype(), "Pow exponent", [&](auto tag) {
        using E = typename decltype(tag)::type;
        const E* p = e.data<E>();
        for (int64_t i = 0; i < ne; ++i) ei[i] = int64_t(p[i]);
      });
    } else {
      dispatch_float(e.dtype(), "Pow exponent", [&](auto tag) {
        using E = typename decltype(tag)::type;
        const E* p = e.data<E>();
        for (int64_t i = 0; i < ne; ++i) ed[i] = double(ew::load(p[i]));
      });
    }
    const Shape se = lb_.b_shape(x.shape(), e.shape());
    Shape out = broadcast_shapes(x.shape(), se);
    Tensor& y = ctx.output(0, x.dtype(), out);
    dispatch_numeric(x.dtype(), "Pow", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = Compute<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      const bool square = ne == 1 && (int_exp ? ei[0] == 2 : ed[0] == 2.0);
      if (square && x.numel() == out.numel()) {  // x ^ 2, the common case, as one multiply
        ew::map_unary(ctx.pool(), px, py, out.numel(), [](C b) -> C { return ew::mul(b, b); });
      } else if (int_exp) {
        ew::map_binary(ctx.pool(), px, x.shape(), static_cast<const int64_t*>(ei), se, py, out,
                       [](C b, int64_t k) -> C {
                         if constexpr (std::is_integral_v<C>) return int_pow(b, k);
                         else return C(std::pow(double(b), double(k)));
                       });
      } else {
        ew::map_binary(ctx.pool(), px, x.shape(), static_cast<const double*>(ed), se, py, out,
                       [](C b, double k) -> C {
                         if constexpr (std::is_integral_v<C>) return float_to_int<C>(std::pow(double(b), k));
                         else if constexpr (std::is_same_v<C, float>) return std::pow(b, float(k));
                         else return C(std::pow(b, k));
                       });
      }
    });
  }

 private:
  ew::LegacyBroadcast lb_;
};

}  // namespace

void register_pow_ops(OpRegistry& r) { r.add("Pow", 1, make_kernel<PowKernel>); }

}  // namespace fi
