// ai.fastinfer ChannelShuffle and NhwcChannelShuffle (attribute group = G): ShuffleNet's channel
// shuffle, which the graph pass fuse_channel_shuffle makes of Reshape [N, G, C/G, H, W] ->
// Transpose (0, 2, 1, 3, 4) -> Reshape [N, C, H, W]: output channel j*G + i is input channel
// i*(C/G) + j.
//   ChannelShuffle:     X [N, C, H, W], any type: a strided copy of whole planes.
//   NhwcChannelShuffle: X [N, H, W, C] (assign_layout's channels-last form), 4-byte types: each
//                       pixel's [G, C/G] channels transposed (kernels::x32_transpose_batch).
#include "kernels/transpose.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

class ChannelShuffleKernel : public OpKernel {
 public:
  ChannelShuffleKernel(const OpInit& init, bool nhwc) : group_(init.attrs().get_int("group", 0)), nhwc_(nhwc) {
    FI_CHECK(group_ >= 1, InvalidModel, op(), ": group must be at least 1, got ", group_);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& X = ctx.in(0);
    FI_CHECK(X.rank() == 4, InvalidArgument, op(), ": X must have rank 4, got ", X.shape().str());
    const int64_t C = X.dim(nhwc_ ? 3 : 1), G = group_;
    FI_CHECK(C % G == 0, InvalidArgument, op(), ": group ", G, " does not divide the ", C, " channels");
    Tensor& Y = ctx.output(0, X.dtype(), X.shape());
    if (Y.numel() == 0) return;
    const int64_t N = X.dim(0), Cg = C / G;
    if (nhwc_) {
      FI_CHECK(dtype_size(X.dtype()) == 4 && X.dtype() != DataType::String, NotImplemented, op(),
               ": only 4-byte element types");
      kernels::x32_transpose_batch(static_cast<const float*>(X.raw()), static_cast<float*>(Y.raw()),
                                   N * X.dim(1) * X.dim(2), G, Cg, ctx.pool());
      return;
    }
    // Y viewed as [N, Cg, G, HW] reads X [N, G, Cg, HW] with G and Cg swapped.
    const int64_t HW = X.dim(2) * X.dim(3);
    Tensor view = Y.reshaped(Shape{N, Cg, G, HW});
    strided_copy_tensor(ctx.pool(), view, X, 0, Shape{C * HW, HW, Cg * HW, 1});
  }

 private:
  const char* op() const { return nhwc_ ? "NhwcChannelShuffle" : "ChannelShuffle"; }
  int64_t group_;
  bool nhwc_;
};

std::unique_ptr<OpKernel> make_nchw(const OpInit& init) { return std::make_unique<ChannelShuffleKernel>(init, false); }
std::unique_ptr<OpKernel> make_nhwc(const OpInit& init) { return std::make_unique<ChannelShuffleKernel>(init, true); }

}  // namespace

void register_channel_shuffle_ops(OpRegistry& r) {
  r.add("ai.fastinfer", "ChannelShuffle", 1, make_nchw);
  r.add("ai.fastinfer", "NhwcChannelShuffle", 1, make_nhwc);
}

}  // namespace fi
