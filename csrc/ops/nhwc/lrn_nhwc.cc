// ai.fastinfer NhwcLRN: LRN (local response normalisation across channels) of float32 channels-last
// X [N, H, W, C], made by assign_layout from an ONNX LRN inside a CNN region (AlexNet, GoogLeNet):
//   y[c] = x[c] / (bias + alpha / size * sum of x[c']^2)^beta
// over the channels c' in [c - (size-1)/2, c + size/2] that exist.
// A pixel's channels are contiguous: its squares go into a row padded with zeros at both ends, each
// window sum is `size` shifted adds over that row, and the power is 1 / (sqrt(t) sqrt(sqrt(t))) for
// beta = 0.75 (those models' value) or exp(-beta log t) (kernels/vmath.h) for others, over a block
// of pixels at a time. Attributes as LRN.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/vmath.h"
#include "ops/nhwc/nhwc_ops.h"
#include "ops/registry.h"

namespace fi {

namespace {

constexpr int64_t kBlockFloats = 4096;  // t of a block of pixels stays in L1

class NhwcLrnKernel : public OpKernel {
 public:
  explicit NhwcLrnKernel(const OpInit& init) {
    size_ = init.attrs().require_int("size");
    FI_CHECK(size_ > 0, InvalidModel, "NhwcLRN: size must be positive, got ", size_);
    alpha_ = init.attrs().get_float("alpha", 1e-4f);
    beta_ = init.attrs().get_float("beta", 0.75f);
    bias_ = init.attrs().get_float("bias", 1.0f);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& X = ctx.in(0);
    FI_CHECK(X.dtype() == DataType::Float && X.rank() == 4, InvalidArgument, "NhwcLRN: X must be float32 NHWC, got ",
             dtype_name(X.dtype()), " ", X.shape().str());
    Tensor& Y = ctx.output(0, DataType::Float, X.shape());
    if (Y.numel() == 0) return;
    const int64_t C = X.dim(3), pixels = X.numel() / C, lo = (size_ - 1) / 2;
    const int64_t block = std::max<int64_t>(1, kBlockFloats / C);  // pixels per step
    const float* x = X.data<float>();
    float* y = Y.data<float>();
    const float scale = alpha_ / float(size_);
    const bool three_quarters = beta_ == 0.75f;
    parallel_for(ctx.pool(), pixels, std::max<int64_t>(1, 16384 / (C * size_)), [&](int64_t p0, int64_t p1) {
      std::vector<float> sq(size_t(C + size_), 0.f), t(size_t(std::min(block, p1 - p0) * C));
      for (int64_t b = p0; b < p1; b += block) {
        const int64_t np = std::min(block, p1 - b);
        for (int64_t i = 0; i < np; ++i) {
          const float* xp = x + (b + i) * C;
          float* tp = t.data() + i * C;
          float* s = sq.data() + lo;  // sq[lo + c] = x[c]^2; zeros before and after
          for (int64_t c = 0; c < C; ++c) s[c] = xp[c] * xp[c];
          for (int64_t c = 0; c < C; ++c) tp[c] = 0.f;
          for (int64_t k = 0; k < size_; ++k) {
            const float* w = sq.data() + k;
            for (int64_t c = 0; c < C; ++c) tp[c] += w[c];
          }
          for (int64_t c = 0; c < C; ++c) tp[c] = bias_ + scale * tp[c];
        }
        const int64_t n = np * C;
        float* tp = t.data();
        if (three_quarters) {
          for (int64_t j = 0; j < n; ++j) {
            const float r = std::sqrt(tp[j]);
            tp[j] = 1.f / (r * std::sqrt(r));
          }
        } else {
          kernels::f32_log(tp, tp, n);
          for (int64_t j = 0; j < n; ++j) tp[j] *= -beta_;
          kernels::f32_exp(tp, tp, n);
        }
        const float* xb = x + b * C;
        float* yb = y + b * C;
        for (int64_t j = 0; j < n; ++j) yb[j] = xb[j] * tp[j];
      }
    });
  }

 private:
  int64_t size_ = 1;
  float alpha_ = 1e-4f, beta_ = 0.75f, bias_ = 1.0f;
};

}  // namespace

void register_nhwc_lrn(OpRegistry& r) { r.add(kNhwcDomain, "NhwcLRN", 1, make_kernel<NhwcLrnKernel>); }

}  // namespace fi
