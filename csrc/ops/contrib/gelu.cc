// com.microsoft Gelu, FastGelu and BiasGelu on float32, as ONNX Runtime defines them:
//   Gelu(X)            = 0.5 X (1 + erf(X / sqrt 2))
//   BiasGelu(A, B)     = Gelu(A + B)
//   FastGelu(X[, B])   = 0.5 Y (1 + tanh(sqrt(2/pi) (Y + 0.044715 Y^3))), Y = X (+ B)
// B is a 1-D bias over the last dimension of X. Rows of the last dimension split over the pool.
#include <algorithm>

#include "kernels/vmath.h"
#include "ops/contrib/register.h"

namespace fi {
namespace {

using kernels::Activation;

class GeluKernel : public OpKernel {
 public:
  GeluKernel(const OpInit& init, Activation act, bool bias_required)
      : name_(init.op_type()), act_(act), bias_required_(bias_required) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor* b = ctx.num_inputs() > 1 ? ctx.input(1) : nullptr;
    FI_CHECK(x.dtype() == DataType::Float, InvalidArgument, name_, ": only float32 is supported, got ",
             dtype_name(x.dtype()));
    FI_CHECK(!bias_required_ || b, InvalidArgument, name_, ": bias input is required");
    int64_t n = x.rank() > 0 ? x.shape().back() : 1;
    if (b) {
      FI_CHECK(b->dtype() == DataType::Float, InvalidArgument, name_, ": bias must be float32, got ",
               dtype_name(b->dtype()));
      FI_CHECK(b->rank() == 1 && x.rank() >= 1 && b->dim(0) == n, InvalidArgument, name_,
               ": bias must be 1-D with the last dimension of X, got ", b->shape().str(), " for X ",
               x.shape().str());
    }
    Tensor& y = ctx.output(0, DataType::Float, x.shape());
    int64_t total = x.numel();
    if (total == 0) return;
    const float* px = x.data<float>();
    float* py = y.data<float>();
    if (!b) {
      const int64_t block = 4096;
      parallel_for(ctx.pool(), (total + block - 1) / block, 1, [&](int64_t lo, int64_t hi) {
        int64_t s = lo * block, e = std::min(total, hi * block);
        kernels::f32_activation(act_, px + s, py + s, e - s);
      });
      return;
    }
    const float* pb = b->data<float>();
    int64_t rows = total / n;
    int64_t grain = std::max<int64_t>(1, 4096 / n);
    parallel_for(ctx.pool(), rows, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const float* xr = px + r * n;
        float* yr = py + r * n;
        for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] + pb[j];
        kernels::f32_activation(act_, yr, yr, n);
      }
    });
  }

  int inplace_input() const override { return 0; }

 private:
  std::string name_;
  Activation act_;
  bool bias_required_;
};

std::unique_ptr<OpKernel> make_gelu(const OpInit& init) {
  return std::make_unique<GeluKernel>(init, Activation::GeluErf, false);
}
std::unique_ptr<OpKernel> make_bias_gelu(const OpInit& init) {
  return std::make_unique<GeluKernel>(init, Activation::GeluErf, true);
}
std::unique_ptr<OpKernel> make_fast_gelu(const OpInit& init) {
  return std::make_unique<GeluKernel>(init, Activation::GeluTanh, false);
}

}  // namespace

void register_contrib_gelu_ops(OpRegistry& r) {
  r.add(contrib::kMsDomain, "Gelu", 1, make_gelu);
  r.add(contrib::kMsDomain, "BiasGelu", 1, make_bias_gelu);
  r.add(contrib::kMsDomain, "FastGelu", 1, make_fast_gelu);
}

}  // namespace fi
