// ai.fastinfer NhwcMaxPool / NhwcAveragePool / NhwcGlobalAveragePool: float32 2-D pooling in
// channels-last layout, X [N, H, W, C] -> Y [N, OH, OW, C] (global: [N, 1, 1, C]), attributes as
// the ONNX ops (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode, count_include_pad).
// Each output row folds its valid input rows (whole rows of W*C contiguous floats) into a row
// buffer that carries the column padding, then reduces the buffer's windows along the channel
// vectors (kernels/pool.h, one implementation per ISA): kh + kw operations per output instead of
// kh * kw, and no bounds check in either inner loop. Max skips NaNs like MaxPool, average divides
// by the valid (or padded) tap count. Pads far beyond the input (a huge row buffer) take a direct
// per-pixel loop instead.
#include <algorithm>
#include <limits>

#include "core/thread_pool.h"
#include "kernels/pool.h"
#include "ops/nhwc/nhwc_ops.h"
#include "ops/pool/pool_geometry.h"
#include "ops/registry.h"

namespace fi {

namespace {

void check_input(const Tensor& X, const char* op) {
  FI_CHECK(X.dtype() == DataType::Float && X.rank() == 4, InvalidArgument, op,
           ": X must be float32 NHWC, got ", dtype_name(X.dtype()), " ", X.shape().str());
}

// Rows of work [0, n) each costing `work` element operations: one chunk (inline) when the whole job
// is below kPoolMinOps, else chunks of at least a quarter of that. An element operation here is a
// load and a max or add, bound by memory, several times an FMA's cost: ResNet-50's 3x3 stride-2
// max pool (1.8 M of them, 0.2 ms) ran on one thread under kParallelMinFlops.
constexpr double kPoolMinOps = kParallelMinFlops / 8;
int64_t pool_grain(int64_t n, int64_t work) {
  work = std::max<int64_t>(1, work);
  if (double(n) * double(work) < kPoolMinOps) return std::max<int64_t>(1, n);
  return std::max<int64_t>(1, int64_t(kPoolMinOps / 4) / work);
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
    const float* x = X.data<float>();
    float* y = Y.data<float>();
    if (fits_separable(g, W)) {
      run_deferred(separable(g, N, H, W, C, x, y), ctx, ctx.pool());
      return;
    }
    const std::vector<PoolGeom::Taps> th = pool_taps(g, 1), tw = pool_taps(g, 2);
    const int64_t grain = pool_grain(N * OH, OW * C * g.k[1] * g.k[2]);
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

  // The separable form, when it splits over the threads, is handed to the executor (chained
  // with the convs around it: SqueezeNet's and ResNet's max pools at batch 1).
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    const Tensor& X = ctx.in(0);
    if (!ctx.pool() || ctx.pool()->num_threads() < 2 || X.dtype() != DataType::Float || X.rank() != 4) return false;
    const int64_t N = X.dim(0), H = X.dim(1), W = X.dim(2), C = X.dim(3);
    PoolGeom g = resolve_pool(a_, Shape{N, C, H, W}, name());
    const int64_t OH = g.out[1], OW = g.out[2];
    if (!fits_separable(g, W) || pool_grain(N * OH, separable_work(g, W, C)) >= N * OH) return false;
    Tensor& Y = ctx.output(0, DataType::Float, Shape{N, OH, OW, C});
    if (Y.numel() > 0) work = separable(g, N, H, W, C, X.data<float>(), Y.data<float>());
    return true;
  }

 private:
  // The row buffer (head padding, the W input pixels, then padding up to the last window's end)
  // stays small: else (pads far beyond the input) the direct per-pixel loop.
  static bool fits_separable(const PoolGeom& g, int64_t W) {
    const int64_t ph = g.pad_head[2];
    const int64_t bw = std::max((g.out[2] - 1) * g.s[2] + (g.k[2] - 1) * g.d[2] + 1, ph + W);
    return ph <= 64 && bw <= 2 * W + 256;
  }
  static int64_t separable_work(const PoolGeom& g, int64_t W, int64_t C) {
    return W * C * g.k[1] + g.out[2] * C * g.k[2];
  }

  // Output columns go in blocks whose buffer (their windows' pixels) stays in L1 between the
  // fold and the window pass: a whole row's buffer (112 x 64 floats for ResNet-50's max pool)
  // left L1 before the window pass read it. One phase over the output rows.
  DeferredWork separable(const PoolGeom& g, int64_t N, int64_t H, int64_t W, int64_t C, const float* x,
                         float* y) const {
    const int64_t OH = g.out[1], OW = g.out[2], ph = g.pad_head[2];
    const int64_t sw = g.s[2], span = (g.k[2] - 1) * g.d[2] + 1;  // buffer pixels one window covers
    const int64_t blk_budget = std::max<int64_t>(span, kBlockBytes / (4 * C));  // buffer pixels
    const int64_t ob = std::min(OW, std::max<int64_t>(1, (blk_budget - span) / sw + 1));  // outputs per block
    const int64_t blk_px = (ob - 1) * sw + span;
    const float init = max_ ? std::numeric_limits<float>::lowest() : 0.f;
    const std::vector<PoolGeom::Taps> tw = pool_taps(g, 2);
    std::vector<float> inv_cols(static_cast<size_t>(OW));
    for (int64_t o = 0; o < OW; ++o) {
      const PoolGeom::Taps& t = tw[size_t(o)];
      inv_cols[size_t(o)] = 1.f / float(include_pad_ ? t.npad : t.n);  // inf for an empty window: 0 * inf = NaN
    }
    auto th = std::make_shared<const std::vector<PoolGeom::Taps>>(pool_taps(g, 1));
    DeferredWork w;
    w.phases = 1;
    w.n[0] = N * OH;
    w.grain[0] = pool_grain(N * OH, separable_work(g, W, C));
    w.fn = [this, g, th, inv_cols, N, H, W, C, x, y, OH, OW, ph, sw, span, ob, blk_px, init](int, int, int64_t b,
                                                                                              int64_t e) {
      const kernels::F32PoolKernel& k = kernels::select_f32_pool();
      std::vector<float> buf(size_t(blk_px * C));
      std::vector<float> scale(max_ ? 0 : size_t(OW));
      std::vector<const float*> rows(static_cast<size_t>(g.k[1])), shifted(rows.size());
      for (int64_t r = b; r < e; ++r) {
        const int64_t n = r / OH, oy = r % OH;
        const PoolGeom::Taps& ay = (*th)[size_t(oy)];
        for (int64_t i = 0; i < ay.n; ++i) rows[size_t(i)] = x + (n * H + ay.p0 + i * g.d[1]) * W * C;
        if (!max_) {
          const float inv_rows = 1.f / float(include_pad_ ? ay.npad : ay.n);
          for (int64_t o = 0; o < OW; ++o) scale[size_t(o)] = inv_rows * inv_cols[size_t(o)];
        }
        float* yrow = y + (n * OH + oy) * OW * C;
        for (int64_t ox0 = 0; ox0 < OW; ox0 += ob) {
          const int64_t ox1 = std::min(OW, ox0 + ob);
          // Buffer pixels [b0, b1) (pixel p is input column p - ph); [i0, i1) of them are inside.
          const int64_t b0 = ox0 * sw, b1 = (ox1 - 1) * sw + span;
          const int64_t i0 = std::min(b1, std::max(b0, ph)), i1 = std::max(i0, std::min(b1, ph + W));
          std::fill(buf.data(), buf.data() + (i0 - b0) * C, init);
          std::fill(buf.data() + (i1 - b0) * C, buf.data() + (b1 - b0) * C, init);
          if (i1 > i0) {
            for (int64_t i = 0; i < ay.n; ++i) shifted[size_t(i)] = rows[size_t(i)] + (i0 - ph) * C;
            k.fold(max_, shifted.data(), ay.n, (i1 - i0) * C, buf.data() + (i0 - b0) * C);
          }
          k.hwin_nhwc(max_, buf.data(), C, ox1 - ox0, g.k[2], sw, g.d[2], max_ ? nullptr : scale.data() + ox0,
                      yrow + ox0 * C);
        }
      }
    };
    return w;
  }

  // Bytes of one column block's buffer (half of Zen 4's 32 KiB L1).
  static constexpr int64_t kBlockBytes = 16 * 1024;

  bool max_;
  bool include_pad_ = false;
  PoolAttrs a_;
};

// Y[n, 0, 0, c] = mean over the H*W pixels of X[n, :, :, c].
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
    const kernels::F32PoolKernel& k = kernels::select_f32_pool();
    parallel_for(ctx.pool(), N, pool_grain(N, HW * C), [&](int64_t b, int64_t e) {
      std::vector<const float*> rows(static_cast<size_t>(HW));
      for (int64_t n = b; n < e; ++n) {
        float* dst = y + n * C;
        for (int64_t p = 0; p < HW; ++p) rows[size_t(p)] = x + (n * HW + p) * C;
        k.fold(false, rows.data(), HW, C, dst);
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
