// ai.fastinfer NchwToNhwc / NhwcToNchw: the layout reorders at the edges of a channels-last region.
// NchwToNhwc: X [N, C, H, W] -> Y [N, H, W, C]; NhwcToNchw: X [N, H, W, C] -> Y [N, C, H, W]. Both
// transpose each image's [rows, cols] matrix (C x HW or HW x C) with kernels::x32_transpose_batch;
// any 4-byte type.
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
    const Tensor& X = ctx.in(0);
    const char* op = to_nhwc_ ? "NchwToNhwc" : "NhwcToNchw";
    FI_CHECK(X.rank() == 4, InvalidArgument, op, ": input must have rank 4, got ", X.shape().str());
    FI_CHECK(dtype_size(X.dtype()) == 4 && X.dtype() != DataType::String, NotImplemented, op,
             ": only 4-byte element types");
    const int64_t N = X.dim(0), a = X.dim(1), b = X.dim(2), c = X.dim(3);
    Shape ys = to_nhwc_ ? Shape{N, b, c, a} : Shape{N, c, a, b};
    Tensor& Y = ctx.output(0, X.dtype(), ys);
    if (Y.numel() == 0) return;
    const float* src = static_cast<const float*>(X.raw());
    float* dst = static_cast<float*>(Y.raw());
    if (to_nhwc_) kernels::x32_transpose_batch(src, dst, N, a, b * c, ctx.pool());  // [C, HW] -> [HW, C]
    else kernels::x32_transpose_batch(src, dst, N, a * b, c, ctx.pool());           // [HW, C] -> [C, HW]
  }

 private:
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
