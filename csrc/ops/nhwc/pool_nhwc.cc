// ai.fastinfer NhwcMaxPool / NhwcAveragePool / NhwcGlobalAveragePool: float32 2-D pooling in
// channels-last layout, X [N, H, W, C] -> Y [N, OH, OW, C] (global: [N, 1, 1, C]), attributes as
// the ONNX ops (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode, count_include_pad).
// Each output pixel reduces its valid window pixels with loops along the contiguous channels;
// max skips NaNs like MaxPool, average divides by the valid (or padded) tap count.
#include <algorithm>
#include <limits>

#include "core/thread_pool.h"
#include "ops/nhwc/nhwc_ops.h"
#include "ops/pool/pool_geometry.h"
#include "ops/registry.h"

namespace fi {

namespace {

void check_input(const Tensor& X, const char* op) {
  FI_CHECK(X.dtype() == DataType::Float && X.rank() == 4, InvalidArgument, op,
           ": X must be float32 NHWC, got ", dtype_name(X.dtype()), " ", X.shape().str());
}

class NhwcWindowPoolKernel : public OpKernel {
 public:
  NhwcWindowPoolKernel(const OpInit& init, bool max) : max_(max) {
    a_.read(init, true, true);
    FI_CHECK(a_.kernel.size() == 2, InvalidModel, name(), ": only 2-D pooling");
    include_pad_ = init.attrs().get_int("count_include_pad", 0) != 0;
  }
  const char* name() const { return max_ ? "NhwcMaxPool" : "NhwcAveragePool"; }

  void compute(KernelContext& ctx) const override {
    const Tensor& X = ctx.in(0);
    check_input(X, name());
    const int64_t N = X.dim(0), H = X.dim(1), W = X.dim(2), C = X.dim(3);
    const Shape nchw{N, C, H, W};
    PoolGeom g = resolve_pool(a_, nchw, name());
    const int64_t OH = g.out[1], OW = g.out[2];
    Tensor& Y = ctx.output(0, DataType::Float, Shape{N, OH, OW, C});
    if (Y.numel() == 0) return;
    const std::vector<PoolGeom::Taps> th = pool_taps(g, 1), tw = pool_taps(g, 2);
    const float* x = X.data<float>();
    float* y = Y.data<float>();
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, OW * C * g.k[1] * g.k[2]));
    parallel_for(ctx.pool(), N * OH, grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t n = r / OH, oy = r % OH;
        const PoolGeom::Taps& ay = th[size_t(oy)];
        for (int64_t ox = 0; ox < OW; ++ox) {
          const PoolGeom::Taps& ax = tw[size_t(ox)];
          float* dst = y + ((n * OH + oy) * OW + ox) * C;
          std::fill(dst, dst + C, max_ ? std::numeric_limits<float>::lowest() : 0.f);
          for (int64_t i = 0, iy = ay.p0; i < ay.n; ++i, iy += g.d[1])
            for (int64_t j = 0, ix = ax.p0; j < ax.n; ++j, ix += g.d[2]) {
              const float* src = x + ((n * H + iy) * W + ix) * C;
              if (max_)
                for (int64_t c = 0; c < C; ++c) dst[c] = src[c] > dst[c] ? src[c] : dst[c];
              else
                for (int64_t c = 0; c < C; ++c) dst[c] += src[c];
            }
          if (!max_) {
            const int64_t cnt = include_pad_ ? ay.npad * ax.npad : ay.n * ax.n;
            const float inv = cnt > 0 ? 1.f / float(cnt) : std::numeric_limits<float>::quiet_NaN();
            for (int64_t c = 0; c < C; ++c) dst[c] = cnt > 0 ? dst[c] * inv : inv;
          }
        }
      }
    });
  }

 private:
  bool max_;
  bool include_pad_ = false;
  PoolAttrs a_;
};

class NhwcGlobalAveragePoolKernel : public OpKernel {
 public:
  explicit NhwcGlobalAveragePoolKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& X = ctx.in(0);
    check_input(X, "NhwcGlobalAveragePool");
    const int64_t N = X.dim(0), HW = X.dim(1) * X.dim(2), C = X.dim(3);
    Tensor& Y = ctx.output(0, DataType::Float, Shape{N, 1, 1, C});
    if (Y.numel() == 0) return;
    const float* x = X.data<float>();
    float* y = Y.data<float>();
    const float inv = HW > 0 ? 1.f / float(HW) : std::numeric_limits<float>::quiet_NaN();
    parallel_for(ctx.pool(), N, 1, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) {
        float* dst = y + n * C;
        std::fill(dst, dst + C, 0.f);
        for (int64_t p = 0; p < HW; ++p) {
          const float* src = x + (n * HW + p) * C;
          for (int64_t c = 0; c < C; ++c) dst[c] += src[c];
        }
        for (int64_t c = 0; c < C; ++c) dst[c] = HW > 0 ? dst[c] * inv : inv;
      }
    });
  }
};

std::unique_ptr<OpKernel> make_max(const OpInit& init) { return std::make_unique<NhwcWindowPoolKernel>(init, true); }
std::unique_ptr<OpKernel> make_avg(const OpInit& init) { return std::make_unique<NhwcWindowPoolKernel>(init, false); }

}  // namespace

void register_nhwc_pool(OpRegistry& r) {
  r.add(kNhwcDomain, "NhwcMaxPool", 1, make_max);
  r.add(kNhwcDomain, "NhwcAveragePool", 1, make_avg);
  r.add(kNhwcDomain, "NhwcGlobalAveragePool", 1, make_kernel<NhwcGlobalAveragePoolKernel>);
}

}  // namespace fi
