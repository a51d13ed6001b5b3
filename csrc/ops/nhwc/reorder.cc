// ai.fastinfer NchwToNhwc / NhwcToNchw: the layout reorders at the edges of a channels-last region.
// NchwToNhwc: X [N, C, H, W] -> Y [N, H, W, C]; NhwcToNchw: X [N, H, W, C] -> Y [N, C, H, W]. Both
// transpose each image's [rows, cols] matrix (C x HW or HW x C) in kernels::X32TransposeTasks tiles;
// any 4-byte type.
#include <memory>

#include "core/thread_pool.h"
#include "kernels/transpose.h"
#include "ops/nhwc/nhwc_ops.h"
#include "ops/registry.h"

namespace fi {

namespace {

class ReorderKernel : public OpKernel {
 public:
  ReorderKernel(const OpInit&, bool to_nhwc) : to_nhwc_(to_nhwc) {}
  void compute(KernelContext& ctx) const override {
    const kernels::X32TransposeTasks t = plan(ctx);
    parallel_for(ctx.pool(), t.count(), t.grain(), [&](int64_t b, int64_t e) { t.run(b, e); });
  }
  // At 2+ threads the tiles go to the executor's chained job (YOLOv8n's heads leave the
  // channels-last region between its convs).
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    if (!ctx.pool() || ctx.pool()->num_threads() < 2) return false;
    auto t = std::make_shared<const kernels::X32TransposeTasks>(plan(ctx));
    work.phases = 1;
    work.n[0] = t->count();
    work.grain[0] = t->grain();
    work.fn = [t](int, int, int64_t b, int64_t e) { t->run(b, e); };
    return true;
  }

 private:
  // Checks X, takes Y and cuts the transpose of each image's [rows, cols] matrix into tasks.
  kernels::X32TransposeTasks plan(KernelContext& ctx) const {
    const Tensor& X = ctx.in(0);
    const char* op = to_nhwc_ ? "NchwToNhwc" : "NhwcToNchw";
    FI_CHECK(X.rank() == 4, InvalidArgument, op, ": input must have rank 4, got ", X.shape().str());
    FI_CHECK(dtype_size(X.dtype()) == 4 && X.dtype() != DataType::String, NotImplemented, op,
             ": only 4-byte element types");
    const int64_t N = X.dim(0), a = X.dim(1), b = X.dim(2), c = X.dim(3);
    Shape ys = to_nhwc_ ? Shape{N, b, c, a} : Shape{N, c, a, b};
    Tensor& Y = ctx.output(0, X.dtype(), ys);
    const float* src = static_cast<const float*>(X.raw());
    float* dst = static_cast<float*>(Y.raw());
    if (to_nhwc_) return kernels::X32TransposeTasks(src, dst, N, a, b * c);  // [C, HW] -> [HW, C]
    return kernels::X32TransposeTasks(src, dst, N, a * b, c);                 // [HW, C] -> [C, HW]
  }

  bool to_nhwc_;
};

std::unique_ptr<OpKernel> make_to_nhwc(const OpInit& init) { return std::make_unique<ReorderKernel>(init, true); }
std::unique_ptr<OpKernel> make_to_nchw(const OpInit& init) { return std::make_unique<ReorderKernel>(init, false); }

}  // namespace

void register_nhwc_reorder(OpRegistry& r) {
  r.add(kNhwcDomain, "NchwToNhwc", 1, make_to_nhwc);
  r.add(kNhwcDomain, "NhwcToNchw", 1, make_to_nchw);
}

}  // namespace fi
