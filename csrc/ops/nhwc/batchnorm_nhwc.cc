// ai.fastinfer NhwcBatchNormalization: inference BatchNormalization in channels-last layout,
// X [N, H, W, C] -> Y = X * scale[c] + shift[c], with scale = gamma / sqrt(var + eps) and
// shift = beta - mean * scale folded once from the constant parameters (inputs 1-4, as the ONNX
// op), then clamped to [fi.clamp_min, fi.clamp_max] (a Relu or Clip fused by fuse_clamp_activation;
// NaN passes). Rows of C contiguous channels, split over the pool; may run in place.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "ops/nhwc/nhwc_ops.h"
#include "ops/nn/gemm_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

class NhwcBatchNormKernel : public OpKernel {
 public:
  explicit NhwcBatchNormKernel(const OpInit& init) : clamp_(init.attrs()) {
    const double eps = init.attrs().get_float("epsilon", 1e-5f);
    const Tensor* p[4];
    for (int i = 0; i < 4; ++i) {
      p[i] = init.constant_input(i + 1);
      FI_CHECK(p[i] && p[i]->dtype() == DataType::Float && p[i]->rank() == 1, InvalidModel,
               "NhwcBatchNormalization: scale, B, mean and var must be constant float32 vectors");
      FI_CHECK(p[i]->dim(0) == p[0]->dim(0), InvalidModel, "NhwcBatchNormalization: parameter sizes differ");
    }
    const int64_t c = p[0]->dim(0);
    scale_.resize(size_t(c));
    shift_.resize(size_t(c));
    for (int64_t i = 0; i < c; ++i) {
      const double s = double(p[0]->data<float>()[i]) / std::sqrt(double(p[3]->data<float>()[i]) + eps);
      scale_[size_t(i)] = float(s);
      shift_[size_t(i)] = float(double(p[1]->data<float>()[i]) - double(p[2]->data<float>()[i]) * s);
    }
  }

  int inplace_input() const override { return 0; }
  bool reads_constant_input(int i) const override { return i == 0; }

  void compute(KernelContext& ctx) const override {
    const Rows r = check(ctx);
    parallel_for(ctx.pool(), r.rows, r.grain, [&](int64_t b, int64_t e) { run_rows(r, b, e); });
  }

  // At 2+ threads the rows go to the executor's chained job: DenseNet's BN + ReLU before each
  // layer's convs, which ended the job of the convs before it (147 jobs a run at batch 1, 2
  // threads, each waking the worker again).
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    if (!ctx.pool() || ctx.pool()->num_threads() < 2) return false;
    const Rows r = check(ctx);
    work.phases = 1;
    work.n[0] = r.rows;
    work.grain[0] = deferred_grain(r.rows, r.grain, r.rows * int64_t(scale_.size() * sizeof(float)));
    work.fn = [this, r](int, int, int64_t b, int64_t e) { run_rows(r, b, e); };
    return true;
  }

 private:
  // A call's checked input, its output and the split: `rows` pixels of C channels each.
  struct Rows {
    const float* x = nullptr;
    float* y = nullptr;
    int64_t rows = 0, grain = 1;
  };

  Rows check(KernelContext& ctx) const {
    const Tensor& X = ctx.in(0);
    const int64_t C = int64_t(scale_.size());
    FI_CHECK(X.dtype() == DataType::Float && X.rank() == 4 && X.dim(3) == C, InvalidArgument,
             "NhwcBatchNormalization: X must be float32 NHWC with ", C, " channels, got ", dtype_name(X.dtype()),
             " ", X.shape().str());
    Tensor& Y = ctx.output(0, DataType::Float, X.shape());
    Rows r;
    r.x = X.data<float>();
    r.y = Y.data<float>();
    r.rows = C > 0 ? X.numel() / C : 0;
    r.grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, C));
    return r;
  }

  void run_rows(const Rows& r, int64_t b, int64_t e) const {
    const int64_t C = int64_t(scale_.size());
    const float* sc = scale_.data();
    const float* sh = shift_.data();
    const float lo = clamp_.lo, hi = clamp_.hi;
    for (int64_t i = b; i < e; ++i) {
      const float* xr = r.x + i * C;
      float* yr = r.y + i * C;
      if (!clamp_.active()) {
        for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * sc[c] + sh[c];
        continue;
      }
      for (int64_t c = 0; c < C; ++c) {
        const float v = xr[c] * sc[c] + sh[c];
        const float m = v < lo ? lo : v;  // NaN stays NaN
        yr[c] = m > hi ? hi : m;
      }
    }
  }

  nn::FusedClamp clamp_;
  std::vector<float> scale_, shift_;
};

}  // namespace

void register_nhwc_batchnorm(OpRegistry& r) {
  r.add(kNhwcDomain, "NhwcBatchNormalization", 1, make_kernel<NhwcBatchNormKernel>);
}

}  // namespace fi
