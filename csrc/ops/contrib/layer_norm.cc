// Layer normalisation over the last dimension, float32, for fused graphs:
//   com.microsoft SkipLayerNormalization(input, skip, gamma[, beta[, bias]]) as ONNX Runtime
//     defines it: s = input + skip (+ bias); output = LayerNorm(s) * gamma + beta; optional outputs
//     mean and inv_std_var ([..., 1]) and input_skip_bias_sum (s). skip has input's shape or a
//     suffix of it (broadcast over the leading dimensions); gamma, beta, bias are 1-D [hidden].
//   ai.fastinfer LayerNormalization(X, Scale[, B]): ONNX LayerNormalization with axis -1, for
//     models whose opset predates the ONNX op (what fuse_layernorm emits there).
// Rows split over the thread pool; each row is kernels::f32_layernorm_row.
#include <algorithm>
#include <cmath>

#include "kernels/vmath.h"
#include "ops/contrib/register.h"

namespace fi {
namespace {

// A float32 1-D parameter of n values (or null when absent).
const float* row_param(const Tensor* t, int64_t n, const std::string& op, const char* what) {
  if (!t) return nullptr;
  FI_CHECK(t->dtype() == DataType::Float, InvalidArgument, op, ": ", what, " must be float32, got ",
           dtype_name(t->dtype()));
  FI_CHECK(t->rank() == 1 && t->dim(0) == n, InvalidArgument, op, ": ", what, " must be 1-D with ", n,
           " elements, got ", t->shape().str());
  return t->data<float>();
}

class SkipLayerNormKernel : public OpKernel {
 public:
  SkipLayerNormKernel(const OpInit& init, bool skip) : name_(init.op_type()), skip_(skip) {
    eps_ = init.attrs().get_float("epsilon", skip ? 1e-12f : 1e-5f);
    if (!skip) {
      axis_ = init.attrs().get_int("axis", -1);
      if (init.attrs().get_int("stash_type", 1) != 1)
        throw NotImplemented(str(name_, ": only stash_type 1 is supported"));
    }
    if (!(eps_ >= 0.f)) throw InvalidModel(str(name_, ": epsilon must be non-negative, got ", eps_));
  }

  void compute(KernelContext& ctx) const override {
    const DeferredWork work = rows_work(ctx);
    run_deferred(work, ctx, ctx.pool());
  }

  // At 2+ threads, the rows go to the executor's chained job (after the feed-forward GEMMs).
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    if (!ctx.pool() || ctx.pool()->num_threads() < 2) return false;
    const Tensor& x = ctx.in(0);
    if (x.dtype() != DataType::Float || x.rank() < 1 || x.shape().back() <= 0) return false;
    const int64_t n = x.shape().back(), rows = x.numel() / n;
    if (rows <= grain(n)) return false;  // one chunk: nothing to split
    work = rows_work(ctx);
    return true;
  }

 private:
  static int64_t grain(int64_t n) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n)); }

  // Checks the inputs, takes the outputs, and returns the rows as one phase.
  DeferredWork rows_work(KernelContext& ctx) const {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.dtype() == DataType::Float, InvalidArgument, name_, ": only float32 is supported, got ",
             dtype_name(x.dtype()));
    FI_CHECK(x.rank() >= 1, InvalidArgument, name_, ": input must have rank >= 1");
    if (!skip_)
      FI_CHECK(axis_ == -1 || axis_ == x.rank() - 1, InvalidArgument, name_,
               ": only the last axis is supported, got axis ", axis_, " for rank ", x.rank());
    const Shape& s = x.shape();
    int64_t n = s.back(), total = x.numel();
    int64_t rows = n > 0 ? total / n : s.prod(0, x.rank() - 1);
    int p = skip_ ? 2 : 1;  // index of gamma
    const Tensor* skip = nullptr;
    int64_t skip_rows = 1;
    if (skip_) {
      skip = &ctx.in(1);
      FI_CHECK(skip->dtype() == DataType::Float, InvalidArgument, name_, ": skip must be float32");
      bool suffix = skip->rank() >= 1 && skip->rank() <= x.rank();
      for (int d = 1; suffix && d <= skip->rank(); ++d) suffix = skip->dim(skip->rank() - d) == s[size_t(x.rank() - d)];
      FI_CHECK(suffix, InvalidArgument, name_, ": skip ", skip->shape().str(), " does not match input ",
               s.str());
      skip_rows = n > 0 ? skip->numel() / n : 1;
    }
    const float* gamma = row_param(&ctx.in(p), n, name_, skip_ ? "gamma" : "Scale");
    const float* beta = row_param(ctx.num_inputs() > p + 1 ? ctx.input(p + 1) : nullptr, n, name_,
                                  skip_ ? "beta" : "B");
    const float* bias = skip_ ? row_param(ctx.num_inputs() > 4 ? ctx.input(4) : nullptr, n, name_, "bias") : nullptr;
    Tensor& y = ctx.output(0, DataType::Float, s);
    Shape stat_shape(s.begin(), s.end() - 1);
    stat_shape.push_back(1);
    float* mean_out = ctx.has_output(1) ? ctx.output(1, DataType::Float, stat_shape).data<float>() : nullptr;
    float* inv_out = ctx.has_output(2) ? ctx.output(2, DataType::Float, stat_shape).data<float>() : nullptr;
    float* sum_out = skip_ && ctx.has_output(3) ? ctx.output(3, DataType::Float, s).data<float>() : nullptr;
    DeferredWork w;
    if (rows == 0) return w;
    const float* px = x.data<float>();
    const float* pk = skip ? skip->data<float>() : nullptr;
    float* py = y.data<float>();
    const float eps = eps_;
    w.phases = 1;
    w.n[0] = rows;
    w.grain[0] = grain(n);
    w.fn = [=](int, int, int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const float* src = px + r * n;
        float* dst = py + r * n;
        if (pk) {
          float* sum = sum_out ? sum_out + r * n : dst;
          const float* kr = pk + (r % skip_rows) * n;
          if (bias) {
            for (int64_t j = 0; j < n; ++j) sum[j] = src[j] + kr[j] + bias[j];
          } else {
            for (int64_t j = 0; j < n; ++j) sum[j] = src[j] + kr[j];
          }
          src = sum;
        }
        if (mean_out || inv_out) {
          float mean = 0.f, var = 0.f;
          for (int64_t j = 0; j < n; ++j) mean += src[j];
          mean = n > 0 ? mean / float(n) : 0.f;
          for (int64_t j = 0; j < n; ++j) var += (src[j] - mean) * (src[j] - mean);
          var = n > 0 ? var / float(n) : 0.f;
          if (mean_out) mean_out[r] = mean;
          if (inv_out) inv_out[r] = 1.f / std::sqrt(var + eps);
        }
        kernels::f32_layernorm_row(src, gamma, beta, dst, n, eps);
      }
    };
    return w;
  }

  std::string name_;
  bool skip_;
  float eps_;
  int64_t axis_ = -1;
};

std::unique_ptr<OpKernel> make_skip_ln(const OpInit& init) {
  return std::make_unique<SkipLayerNormKernel>(init, true);
}
std::unique_ptr<OpKernel> make_ln(const OpInit& init) { return std::make_unique<SkipLayerNormKernel>(init, false); }

}  // namespace

void register_contrib_layer_norm_ops(OpRegistry& r) {
  r.add(contrib::kMsDomain, "SkipLayerNormalization", 1, make_skip_ln);
  r.add(contrib::kFiDomain, "LayerNormalization", 1, make_ln);
}

}  // namespace fi
