// Transpose and the block rearrangements DepthToSpace / SpaceToDepth, all as one strided copy
// of the input into a contiguous output (batched 2-D transposes use tiles, see copy_util.h).
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

// Transpose: y[i_perm...] = x[i...], out dim k = in dim perm[k]; default perm reverses the axes.
class TransposeKernel : public OpKernel {
 public:
  explicit TransposeKernel(const OpInit& init) {
    if (init.attrs().has("perm")) {
      perm_ = init.attrs().get_ints("perm");
      has_perm_ = true;
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const int r = x.rank();
    std::vector<int64_t> perm = perm_;
    if (!has_perm_) {
      for (int i = r - 1; i >= 0; --i) perm.push_back(i);
    }
    FI_CHECK(int(perm.size()) == r, InvalidArgument, "perm has ", perm.size(), " entries for rank ", r);
    std::vector<bool> seen(size_t(r), false);
    for (int64_t p : perm) {
      FI_CHECK(p >= 0 && p < r && !seen[size_t(p)], InvalidArgument, "perm is not a permutation of 0..", r - 1);
      seen[size_t(p)] = true;
    }
    Shape xs = contiguous_strides(x.shape()), out, st;
    for (int64_t p : perm) {
      out.push_back(x.dim(int(p)));
      st.push_back(xs[size_t(p)]);
    }
    Tensor& y = ctx.output(0, x.dtype(), out);
    strided_copy_tensor(ctx.pool(), y, x, 0, st);
  }

 private:
  bool has_perm_ = false;
  std::vector<int64_t> perm_;
};

// Output of a reshape of x to `view` followed by a transpose by `perm`, reshaped to `final_shape`.
void reshape_transpose(KernelContext& ctx, const Tensor& x, const Shape& view, const std::vector<int>& perm,
                       const Shape& final_shape) {
  Shape vs = contiguous_strides(view), out, st;
  for (int p : perm) {
    out.push_back(view[size_t(p)]);
    st.push_back(vs[size_t(p)]);
  }
  Tensor& y = ctx.output(0, x.dtype(), final_shape);
  Tensor view_y = y.reshaped(out);
  strided_copy_tensor(ctx.pool(), view_y, x, 0, st);
}

// Attributes shared by DepthToSpace and SpaceToDepth: blocksize and mode (DCR or CRD).
class BlockRearrangeKernel : public OpKernel {
 protected:
  explicit BlockRearrangeKernel(const OpInit& init)
      : b_(init.attrs().require_int("blocksize")), crd_(init.attrs().get_string("mode", "DCR") == "CRD") {
    FI_CHECK(b_ > 0 && b_ <= (1 << 20), InvalidModel, "invalid blocksize ", b_);
    std::string m = init.attrs().get_string("mode", "DCR");
    FI_CHECK(m == "DCR" || m == "CRD", InvalidModel, "unknown mode '", m, "'");
  }
  int64_t b_;
  bool crd_;
};

// DepthToSpace: [N, C, H, W] -> [N, C/b², H*b, W*b]; DCR takes depth as (b, b, C'), CRD as (C', b, b).
class DepthToSpaceKernel : public BlockRearrangeKernel {
 public:
  explicit DepthToSpaceKernel(const OpInit& init) : BlockRearrangeKernel(init) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() == 4, InvalidArgument, "input must be 4-D, got ", x.shape().str());
    int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), b = b_;
    FI_CHECK(c % (b * b) == 0, InvalidArgument, "channels ", c, " not divisible by blocksize² ", b * b);
    int64_t c2 = c / (b * b);
    Shape final_shape{n, c2, h * b, w * b};
    if (crd_) reshape_transpose(ctx, x, Shape{n, c2, b, b, h, w}, {0, 1, 4, 2, 5, 3}, final_shape);
    else reshape_transpose(ctx, x, Shape{n, b, b, c2, h, w}, {0, 3, 4, 1, 5, 2}, final_shape);
  }
};

// SpaceToDepth: [N, C, H, W] -> [N, C*b², H/b, W/b], depth ordered as (b, b, C) (DCR) or
// (C, b, b) (CRD, opset 28).
class SpaceToDepthKernel : public BlockRearrangeKernel {
 public:
  explicit SpaceToDepthKernel(const OpInit& init) : BlockRearrangeKernel(init) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() == 4, InvalidArgument, "input must be 4-D, got ", x.shape().str());
    int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), b = b_;
    FI_CHECK(h % b == 0 && w % b == 0, InvalidArgument, "spatial dims ", h, "x", w, " not divisible by ", b);
    Shape view{n, c, h / b, b, w / b, b}, final_shape{n, c * b * b, h / b, w / b};
    if (crd_) reshape_transpose(ctx, x, view, {0, 1, 3, 5, 2, 4}, final_shape);
    else reshape_transpose(ctx, x, view, {0, 3, 5, 1, 2, 4}, final_shape);
  }
};

}  // namespace

void register_transpose_ops(OpRegistry& r) {
  r.add("Transpose", 1, make_kernel<TransposeKernel>);
  r.add("DepthToSpace", 1, make_kernel<DepthToSpaceKernel>);
  r.add("SpaceToDepth", 1, make_kernel<SpaceToDepthKernel>);
}

}  // namespace fi
