// Zero-copy shape ops (outputs alias their input): Identity, Reshape, Flatten, Squeeze,
// Unsqueeze; and the shape queries Shape and Size.
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

// Identity: the output is the input.
class IdentityKernel : public OpKernel {
 public:
  explicit IdentityKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override { ctx.output_alias(0, 0, ctx.in(0).shape()); }
};

// Reshape: output shape from input 1 (0 copies the input dim unless allowzero, -1 is inferred).
class ReshapeKernel : public OpKernel {
 public:
  explicit ReshapeKernel(const OpInit& init) : allowzero_(init.attrs().get_int("allowzero", 0) != 0) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& st = ctx.in(1);
    FI_CHECK(st.dtype() == DataType::Int64, InvalidArgument, "shape must be int64, got ", dtype_name(st.dtype()));
    FI_CHECK(st.rank() == 1, InvalidArgument, "shape must be 1-D, got rank ", st.rank());
    std::vector<int64_t> req = st.to_int64_vector();
    FI_CHECK(int64_t(req.size()) <= Shape::kMaxRank, NotImplemented, "Reshape: rank ", req.size(), " too large");
    Shape out;
    int infer = -1;
    int64_t known = 1;
    bool has_zero = false;
    for (size_t i = 0; i < req.size(); ++i) {
      int64_t v = req[i];
      if (v == 0 && !allowzero_) {
        FI_CHECK(int(i) < x.rank(), InvalidArgument, "shape[", i, "] = 0 copies a dim the input (rank ", x.rank(),
                 ") lacks");
        v = x.dim(int(i));
      }
      if (v == -1) {
        FI_CHECK(infer < 0, InvalidArgument, "shape ", Shape(req).str(), " has more than one -1");
        infer = int(i);
        out.push_back(1);
        continue;
      }
      FI_CHECK(v >= 0, InvalidArgument, "invalid dimension ", v, " in shape ", Shape(req).str());
      if (v == 0) has_zero = true;
      else FI_CHECK(known <= kMaxOutputElements / v, InvalidArgument, "shape ", Shape(req).str(), " is too large");
      if (v != 0) known *= v;
      out.push_back(v);
    }
    if (has_zero) known = 0;
    const int64_t n = x.numel();
    if (infer >= 0) {
      FI_CHECK(known != 0 || n == 0, InvalidArgument, "cannot infer -1 in shape ", Shape(req).str(), " for ",
               x.shape().str());
      FI_CHECK(known != 0, InvalidArgument, "cannot infer -1 in shape ", Shape(req).str(), " with a zero dim");
      FI_CHECK(n % known == 0, InvalidArgument, "cannot reshape ", x.shape().str(), " to ", Shape(req).str());
      out[size_t(infer)] = n / known;
    } else {
      FI_CHECK(known == n, InvalidArgument, "cannot reshape ", x.shape().str(), " (", n, " elements) to ",
               out.str());
    }
    ctx.output_alias(0, 0, out);
  }

 private:
  bool allowzero_;
};

// Flatten: 2-D view [prod(dims < axis), prod(dims >= axis)].
class FlattenKernel : public OpKernel {
 public:
  explicit FlattenKernel(const OpInit& init) : axis_(init.attrs().get_int("axis", 1)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    int64_t a = axis_ < 0 ? axis_ + x.rank() : axis_;
    FI_CHECK(a >= 0 && a <= x.rank(), InvalidArgument, "axis ", axis_, " out of range for rank ", x.rank());
    ctx.output_alias(0, 0, Shape{x.shape().prod(0, int(a)), x.shape().prod(int(a), x.rank())});
  }

 private:
  int64_t axis_;
};

// Squeeze: removes the listed size-1 axes (attribute before opset 13, input after), or all.
class SqueezeKernel : public OpKernel {
 public:
  explicit SqueezeKernel(const OpInit& init) : from_input_(init.opset() >= 13) {
    if (!from_input_ && init.attrs().has("axes")) {
      axes_ = init.attrs().get_ints("axes");
      has_axes_ = true;
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    std::vector<int64_t> axes = axes_;
    bool has = has_axes_;
    if (from_input_ && ctx.input(1)) {
      axes = read_indices(*ctx.input(1), "axes");
      has = !axes.empty();  // an empty axes input squeezes every size-1 dim, as onnxruntime does
    }
    Shape out;
    if (!has) {
      for (int64_t d : x.shape())
        if (d != 1) out.push_back(d);
    } else {
      std::vector<int64_t> ax = normalize_axes(axes, x.rank());
      std::vector<bool> drop(size_t(x.rank()), false);
      for (int64_t a : ax) {
        FI_CHECK(x.dim(int(a)) == 1, InvalidArgument, "cannot squeeze axis ", a, " of size ", x.dim(int(a)));
        drop[size_t(a)] = true;
      }
      for (int i = 0; i < x.rank(); ++i)
        if (!drop[size_t(i)]) out.push_back(x.dim(i));
    }
    ctx.output_alias(0, 0, out);
  }

 private:
  bool from_input_;
  bool has_axes_ = false;
  std::vector<int64_t> axes_;
};

// Unsqueeze: inserts size-1 axes at the listed output positions.
class UnsqueezeKernel : public OpKernel {
 public:
  explicit UnsqueezeKernel(const OpInit& init) : from_input_(init.opset() >= 13) {
    if (!from_input_) axes_ = init.attrs().require_ints("axes");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    std::vector<int64_t> axes = from_input_ ? read_indices(ctx.in(1), "axes") : axes_;
    int64_t r = x.rank() + int64_t(axes.size());
    FI_CHECK(r <= Shape::kMaxRank, NotImplemented, "Unsqueeze: rank ", r, " too large");
    std::vector<int64_t> ax = normalize_axes(axes, r);
    std::vector<bool> ins(size_t(r), false);
    for (int64_t a : ax) ins[size_t(a)] = true;
    Shape out;
    int j = 0;
    for (int64_t i = 0; i < r; ++i) out.push_back(ins[size_t(i)] ? 1 : x.dim(j++));
    ctx.output_alias(0, 0, out);
  }

 private:
  bool from_input_;
  std::vector<int64_t> axes_;
};

// Shape: the input's dims [start, end) as int64 (start/end from opset 15, clamped).
class ShapeKernel : public OpKernel {
 public:
  explicit ShapeKernel(const OpInit& init)
      : start_(init.attrs().get_int("start", 0)), end_(init.attrs().get_int("end", INT64_MAX)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    int64_t r = x.rank();
    auto clampi = [&](int64_t v) {
      if (v < 0) v += r;
      return std::min(std::max<int64_t>(v, 0), r);
    };
    int64_t s = clampi(start_), e = clampi(end_);
    int64_t n = std::max<int64_t>(e - s, 0);
    Tensor& y = ctx.output(0, DataType::Int64, Shape{n});
    for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = x.dim(int(s + i));
  }

 private:
  int64_t start_, end_;
};

// Size: the input's element count as an int64 scalar.
class SizeKernel : public OpKernel {
 public:
  explicit SizeKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    int64_t n = ctx.in(0).numel();
    ctx.output(0, DataType::Int64, Shape{}).data<int64_t>()[0] = n;
  }
};

}  // namespace

void register_reshape_ops(OpRegistry& r) {
  r.add("Identity", 1, make_kernel<IdentityKernel>);
  r.add("Reshape", 5, make_kernel<ReshapeKernel>);
  r.add("Flatten", 1, make_kernel<FlattenKernel>);
  r.add("Squeeze", 1, make_kernel<SqueezeKernel>);
  r.add("Unsqueeze", 1, make_kernel<UnsqueezeKernel>);
  r.add("Shape", 1, make_kernel<ShapeKernel>);
  r.add("Size", 1, make_kernel<SizeKernel>);
}

}  // namespace fi
