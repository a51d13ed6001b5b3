// Slice: y = x[starts:ends:steps] on the given axes, numpy clamping, negative steps reverse.
// Attributes starts/ends/axes before opset 10, inputs (with steps) from 10. One strided copy.
#include <climits>

#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

class SliceKernel : public OpKernel {
 public:
  explicit SliceKernel(const OpInit& init) : from_inputs_(init.opset() >= 10) {
    if (!from_inputs_) {
      starts_ = init.attrs().require_ints("starts");
      ends_ = init.attrs().require_ints("ends");
      axes_ = init.attrs().get_ints("axes");
      FI_CHECK(starts_.size() == ends_.size(), InvalidModel, "starts and ends differ in length");
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const int r = x.rank();
    std::vector<int64_t> starts = starts_, ends = ends_, axes = axes_, steps;
    if (from_inputs_) {
      starts = read_indices(ctx.in(1), "starts");
      ends = read_indices(ctx.in(2), "ends");
      axes.clear();
      if (ctx.input(3)) axes = read_indices(*ctx.input(3), "axes");
      if (ctx.input(4)) steps = read_indices(*ctx.input(4), "steps");
    }
    FI_CHECK(starts.size() == ends.size(), InvalidArgument, "starts has ", starts.size(), " entries, ends ",
             ends.size());
    if (axes.empty()) {
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    FI_CHECK(axes.size() == starts.size() && steps.size() == starts.size(), InvalidArgument,
             "starts, ends, axes and steps must have the same length");
    std::vector<int64_t> ax = normalize_axes(axes, r);
    Shape xs = contiguous_strides(x.shape());
    Shape out = x.shape(), st = xs;
    int64_t offset = 0;
    for (size_t i = 0; i < ax.size(); ++i) {
      size_t k = size_t(ax[i]);
      int64_t d = x.dim(int(k)), s = starts[i], e = ends[i], step = steps[i];
      FI_CHECK(step != 0, InvalidArgument, "slice step cannot be 0");
      if (s < 0) s += d;
      if (e < 0) e += d;
      int64_t count;
      if (step > 0) {
        s = std::min(std::max<int64_t>(s, 0), d);
        e = std::min(std::max<int64_t>(e, 0), d);
        count = e > s ? 1 + (e - s - 1) / step : 0;
      } else {
        s = std::min(std::max<int64_t>(s, -1), d - 1);
        e = std::min(std::max<int64_t>(e, -1), d - 1);
        uint64_t astep = uint64_t(0) - uint64_t(step);
        count = s > e ? int64_t(1 + uint64_t(s - e - 1) / astep) : 0;
      }
      out[k] = count;
      if (count > 0) offset += s * xs[k];
      st[k] = count > 1 ? step * xs[k] : 0;
    }
    Tensor& y = ctx.output(0, x.dtype(), out);
    if (y.numel() == 0) return;
    strided_copy_tensor(ctx.pool(), y, x, offset, st);
  }

 private:
  bool from_inputs_;
  std::vector<int64_t> starts_, ends_, axes_;
};

}  // namespace

void register_slice_ops(OpRegistry& r) { r.add("Slice", 1, make_kernel<SliceKernel>); }

}  // namespace fi
