// Expand (numpy broadcast of x against a requested shape) and Tile (x repeated along each
// axis). Both are one strided copy: broadcast dims and tile repeats get stride 0.
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

// Expand: y = x broadcast to broadcast_shapes(x.shape, shape).
class ExpandKernel : public OpKernel {
 public:
  explicit ExpandKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& st = ctx.in(1);
    FI_CHECK(st.dtype() == DataType::Int64 && st.rank() == 1, InvalidArgument, "shape must be a 1-D int64 tensor");
    std::vector<int64_t> req = st.to_int64_vector();
    FI_CHECK(int64_t(req.size()) <= Shape::kMaxRank, NotImplemented, "Expand: rank ", req.size(), " too large");
    for (int64_t d : req) FI_CHECK(d >= 0, InvalidArgument, "invalid dimension ", d, " in shape");
    Shape out = broadcast_shapes(x.shape(), Shape(req));
    checked_numel(out, "Expand");
    Tensor& y = ctx.output(0, x.dtype(), out);
    strided_copy_tensor(ctx.pool(), y, x, 0, broadcast_strides(x.shape(), out));
  }
};

// Tile: y dim k = x dim k * repeats[k]; y[t*d + i] = x[i] on each axis.
class TileKernel : public OpKernel {
 public:
  explicit TileKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    std::vector<int64_t> rep = read_indices(ctx.in(1), "repeats");
    FI_CHECK(int(rep.size()) == x.rank(), InvalidArgument, "repeats has ", rep.size(), " entries for rank ", x.rank());
    Shape out, view, st;
    Shape xs = contiguous_strides(x.shape());
    for (int k = 0; k < x.rank(); ++k) {
      FI_CHECK(rep[size_t(k)] >= 0, InvalidArgument, "negative repeat ", rep[size_t(k)]);
      FI_CHECK(x.dim(k) == 0 || rep[size_t(k)] <= kMaxOutputElements / x.dim(k), InvalidArgument,
               "Tile output is too large");
      out.push_back(x.dim(k) * rep[size_t(k)]);
    }
    checked_numel(out, "Tile");
    Tensor& y = ctx.output(0, x.dtype(), out);
    if (y.numel() == 0) return;
    for (int k = 0; k < x.rank(); ++k) {
      if (rep[size_t(k)] != 1 && x.dim(k) != 1) {
        view.push_back(rep[size_t(k)]);
        st.push_back(0);
      }
      view.push_back(x.dim(k) == 1 ? rep[size_t(k)] : x.dim(k));
      st.push_back(x.dim(k) == 1 ? 0 : xs[size_t(k)]);
    }
    Tensor yv = y.reshaped(view);
    strided_copy_tensor(ctx.pool(), yv, x, 0, st);
  }
};

}  // namespace

void register_expand_ops(OpRegistry& r) {
  r.add("Expand", 8, make_kernel<ExpandKernel>);
  r.add("Tile", 6, make_kernel<TileKernel>);
}

}  // namespace fi
