#include "core/dispatch_type.h"
#include "ops/registry.h"

namespace fi {

namespace {

// Placeholder pair until the elementwise family lands: Identity and same-shape/scalar Add.
class IdentityKernel : public OpKernel {
 public:
  explicit IdentityKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override { ctx.output_alias(0, 0, ctx.in(0).shape()); }
};

class AddKernel : public OpKernel {
 public:
  explicit AddKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    Shape s = broadcast_shapes(a.shape(), b.shape());
    Tensor& y = ctx.output(0, a.dtype(), s);
    dispatch_numeric(a.dtype(), "Add", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* py = y.data<T>();
      int64_t n = y.numel(), na = a.numel(), nb = b.numel();
      for (int64_t i = 0; i < n; ++i) py[i] = T(pa[na == n ? i : 0] + pb[nb == n ? i : 0]);
    });
  }
};

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  r.add("Identity", 1, make_kernel<IdentityKernel>);
  r.add("Add", 7, make_kernel<AddKernel>);
}

}  // namespace fi
