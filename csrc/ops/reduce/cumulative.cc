// CumSum and CumProd along one axis given as a scalar input; `exclusive` shifts by one
// (the first output is the identity), `reverse` runs from the end. Layout: outer x D x inner.
#include <algorithm>

#include "ops/reduce/register.h"
#include "ops/reduce/reduce_util.h"

namespace fi {
namespace {

template <bool kProd>
class CumKernel : public OpKernel {
 public:
  explicit CumKernel(const OpInit& init) : name_(init.op_type()) {
    exclusive_ = init.attrs().get_int("exclusive", 0) != 0;
    reverse_ = init.attrs().get_int("reverse", 0) != 0;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& at = ctx.in(1);
    FI_CHECK(at.numel() == 1 && at.rank() <= 1, InvalidArgument, name_, ": axis must be a scalar, got shape ",
             at.shape().str());
    FI_CHECK(x.rank() >= 1, InvalidArgument, name_, ": input must have rank >= 1");
    int64_t axis = normalize_axis(reduce::int_input(at, "axis")[0], x.rank());
    const Shape& s = x.shape();
    int64_t outer = s.prod(0, int(axis)), d = s[size_t(axis)], inner = s.prod(int(axis) + 1, x.rank());
    Tensor& y = ctx.output(0, x.dtype(), s);
    if (outer * d * inner == 0) return;
    reduce::dispatch_reduce_types(x.dtype(), name_.c_str(), false, false, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = reduce::Acc<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      bool exclusive = exclusive_, reverse = reverse_;
      int64_t grain = std::max<int64_t>(1, 16384 / (d * inner));
      parallel_for(ctx.pool(), outer, grain, [&](int64_t b, int64_t e) {
        std::vector<A> acc(static_cast<size_t>(inner));
        for (int64_t o = b; o < e; ++o) {
          std::fill(acc.begin(), acc.end(), A(kProd ? 1 : 0));
          for (int64_t step = 0; step < d; ++step) {
            int64_t k = reverse ? d - 1 - step : step;
            const T* row = px + (o * d + k) * inner;
            T* out = py + (o * d + k) * inner;
            for (int64_t j = 0; j < inner; ++j) {
              A v = A(row[j]);
              A& a = acc[size_t(j)];
              if (exclusive) out[j] = reduce::to_storage<T>(a);
              a = kProd ? reduce::wrap_mul(a, v) : reduce::wrap_add(a, v);
              if (!exclusive) out[j] = reduce::to_storage<T>(a);
            }
          }
        }
      });
    });
  }

 private:
  std::string name_;
  bool exclusive_ = false, reverse_ = false;
};

}  // namespace

void register_cumulative_kernels(OpRegistry& r) {
  r.add("CumSum", 11, make_kernel<CumKernel<false>>);
  r.add("CumProd", 26, make_kernel<CumKernel<true>>);
}

}  // namespace fi
