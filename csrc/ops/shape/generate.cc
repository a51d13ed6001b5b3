// Ops that create tensors from attributes or small inputs: Constant, ConstantOfShape, Range,
// EyeLike, OneHot. Sizes read from inputs are checked against kMaxOutputElements.
#include <cmath>

#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

// Writes `v` converted to dt into the element at p (numeric and bool types).
void store_value(DataType dt, void* p, double v, const char* what) {
  if (dt == DataType::Bool) {
    *static_cast<bool*>(p) = v != 0;
    return;
  }
  dispatch_numeric(dt, what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T t = T(static_cast<float>(v));
    if constexpr (std::is_integral_v<T>) t = T(v);
    else if constexpr (std::is_same_v<T, double>) t = v;
    std::memcpy(p, &t, sizeof(T));
  });
}

// Constant: the tensor given by exactly one of value / value_float(s) / value_int(s) / value_string(s).
class ConstantKernel : public OpKernel {
 public:
  explicit ConstantKernel(const OpInit& init) {
    const Attributes& a = init.attrs();
    int count = 0;
    for (const char* n : {"value", "value_float", "value_floats", "value_int", "value_ints", "value_string",
                          "value_strings", "sparse_value"})
      count += a.has(n) ? 1 : 0;
    FI_CHECK(count == 1, InvalidModel, "Constant needs exactly one value attribute, got ", count);
    if (a.has("sparse_value")) throw NotImplemented("Constant: sparse_value is not supported");
    if (const Tensor* t = a.get_tensor("value")) {
      value_ = t->clone();
    } else if (a.has("value_float")) {
      value_ = Tensor::empty(DataType::Float, Shape{});
      value_.data<float>()[0] = a.get_float("value_float", 0);
    } else if (a.has("value_floats")) {
      auto v = a.get_floats("value_floats");
      value_ = Tensor::empty(DataType::Float, Shape{int64_t(v.size())});
      std::copy(v.begin(), v.end(), value_.data<float>());
    } else if (a.has("value_int")) {
      value_ = Tensor::empty(DataType::Int64, Shape{});
      value_.data<int64_t>()[0] = a.get_int("value_int", 0);
    } else if (a.has("value_ints")) {
      auto v = a.get_ints("value_ints");
      value_ = Tensor::empty(DataType::Int64, Shape{int64_t(v.size())});
      std::copy(v.begin(), v.end(), value_.data<int64_t>());
    } else if (a.has("value_string")) {
      value_ = Tensor::empty(DataType::String, Shape{});
      value_.data<std::string>()[0] = a.get_string("value_string", "");
    } else {
      auto v = a.get_strings("value_strings");
      value_ = Tensor::empty(DataType::String, Shape{int64_t(v.size())});
      std::copy(v.begin(), v.end(), value_.data<std::string>());
    }
  }
  void compute(KernelContext& ctx) const override {
    Tensor& y = ctx.output(0, value_.dtype(), value_.shape());
    copy_tensor_data(y, value_);
  }

 private:
  Tensor value_;
};

// ConstantOfShape: a tensor of the given shape filled with `value` (default float 0).
class ConstantOfShapeKernel : public OpKernel {
 public:
  explicit ConstantOfShapeKernel(const OpInit& init) {
    if (const Tensor* t = init.attrs().get_tensor("value")) {
      FI_CHECK(t->numel() == 1, InvalidModel, "value must have one element");
      value_ = t->clone();
    } else {
      value_ = Tensor::empty(DataType::Float, Shape{1});
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& s = ctx.in(0);
    FI_CHECK(s.dtype() == DataType::Int64 && s.rank() == 1, InvalidArgument, "shape must be a 1-D int64 tensor");
    std::vector<int64_t> dims = s.to_int64_vector();
    FI_CHECK(int64_t(dims.size()) <= Shape::kMaxRank, NotImplemented, "rank ", dims.size(), " too large");
    Shape out(dims);
    checked_numel(out, "ConstantOfShape");
    Tensor& y = ctx.output(0, value_.dtype(), out);
    dispatch_by_size(value_.dtype(), "ConstantOfShape", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T v = value_.data<T>()[0];
      std::fill(y.data<T>(), y.data<T>() + y.numel(), v);
    });
  }

 private:
  Tensor value_;
};

// Range: start, start+delta, ... below limit (above it for negative delta).
class RangeKernel : public OpKernel {
 public:
  explicit RangeKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& ts = ctx.in(0);
    const Tensor& tl = ctx.in(1);
    const Tensor& td = ctx.in(2);
    FI_CHECK(ts.numel() == 1 && tl.numel() == 1 && td.numel() == 1, InvalidArgument,
             "start, limit and delta must be scalars");
    FI_CHECK(ts.dtype() == tl.dtype() && ts.dtype() == td.dtype(), InvalidArgument, "start, limit, delta types differ");
    DataType dt = ts.dtype();
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      T s, l, d;
      std::memcpy(&s, ts.raw(), sizeof(T));
      std::memcpy(&l, tl.raw(), sizeof(T));
      std::memcpy(&d, td.raw(), sizeof(T));
      if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
        FI_CHECK(float(d) != 0.f, InvalidArgument, "delta cannot be 0");
      } else {
        FI_CHECK(d != T(0), InvalidArgument, "delta cannot be 0");
      }
      int64_t n;
      if constexpr (std::is_integral_v<T>) {
        __int128 diff = __int128(l) - __int128(s), dd = d;
        __int128 c = diff / dd + ((diff % dd != 0) && ((diff > 0) == (dd > 0)) ? 1 : 0);
        if (c < 0) c = 0;
        FI_CHECK(c <= kMaxOutputElements, InvalidArgument, "Range output is too large");
        n = int64_t(c);
      } else {
        double c = std::ceil((double(l) - double(s)) / double(d));
        FI_CHECK(!std::isnan(c), InvalidArgument, "Range bounds are not finite");
        if (c < 0) c = 0;
        FI_CHECK(c <= double(kMaxOutputElements), InvalidArgument, "Range output is too large");
        n = int64_t(c);
      }
      Tensor& y = ctx.output(0, dt, Shape{n});
      T* py = y.data<T>();
      if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
        for (int64_t i = 0; i < n; ++i) py[i] = T(float(s) + float(i) * float(d));
      } else {
        for (int64_t i = 0; i < n; ++i) py[i] = T(s + T(i) * d);
      }
    };
    switch (dt) {
      case DataType::Float: run(TypeTag<float>{}); break;
      case DataType::Double: run(TypeTag<double>{}); break;
      case DataType::Int16: run(TypeTag<int16_t>{}); break;
      case DataType::Int32: run(TypeTag<int32_t>{}); break;
      case DataType::Int64: run(TypeTag<int64_t>{}); break;
      case DataType::Float16: run(TypeTag<Float16>{}); break;
      case DataType::BFloat16: run(TypeTag<BFloat16>{}); break;
      default: throw NotImplemented(str("Range: element type ", dtype_name(dt), " is not supported"));
    }
  }
};

// EyeLike: a 2-D tensor shaped like the input, ones on diagonal k, zeros elsewhere.
class EyeLikeKernel : public OpKernel {
 public:
  explicit EyeLikeKernel(const OpInit& init)
      : k_(init.attrs().get_int("k", 0)), dtype_(DataType(init.attrs().get_int("dtype", 0))) {
    FI_CHECK(dtype_ == DataType::Undefined || dtype_valid(int32_t(dtype_)), InvalidModel, "invalid dtype ", int32_t(dtype_));
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() == 2, InvalidArgument, "input must be 2-D, got ", x.shape().str());
    DataType dt = dtype_ == DataType::Undefined ? x.dtype() : dtype_;
    FI_CHECK(dt != DataType::String, NotImplemented, "EyeLike: strings are not supported");
    Tensor& y = ctx.output(0, dt, x.shape());
    size_t es = dtype_size(dt);
    std::memset(y.raw(), 0, y.nbytes());
    int64_t rows = x.dim(0), cols = x.dim(1);
    char one[16] = {};
    store_value(dt, one, 1.0, "EyeLike");
    for (int64_t i = 0; i < rows; ++i) {
      int64_t j = i + k_;
      if (j >= 0 && j < cols) std::memcpy(static_cast<char*>(y.raw()) + size_t(i * cols + j) * es, one, es);
    }
  }

 private:
  int64_t k_;
  DataType dtype_;
};

// OneHot: y[..., d, ...] = on where d == indices[...] (mod depth), else off; d inserted at axis.
class OneHotKernel : public OpKernel {
 public:
  explicit OneHotKernel(const OpInit& init) : axis_(init.attrs().get_int("axis", -1)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& it = ctx.in(0);
    const Tensor& td = ctx.in(1);
    const Tensor& tv = ctx.in(2);
    FI_CHECK(td.numel() == 1, InvalidArgument, "depth must have one element");
    FI_CHECK(tv.numel() == 2 && tv.rank() == 1, InvalidArgument, "values must be [off, on]");
    double dd = td.scalar_as_double();
    FI_CHECK(std::isfinite(dd) && dd >= 1 && dd <= double(kMaxOutputElements), InvalidArgument,
             "invalid depth ", dd);
    int64_t depth = int64_t(dd);
    std::vector<int64_t> idx;
    if (dtype_is_integer(it.dtype())) {
      idx = it.to_int64_vector();
    } else {
      dispatch_float(it.dtype(), "OneHot indices", [&](auto tag) {
        using T = typename decltype(tag)::type;
        for (int64_t i = 0; i < it.numel(); ++i) {
          double v = double(it.data<T>()[i]);
          idx.push_back(std::isfinite(v) && std::fabs(v) < 9e18 ? int64_t(v) : INT64_MAX);
        }
      });
    }
    int64_t r = it.rank() + 1;
    int64_t a = normalize_axis(axis_, r);
    Shape out = it.shape();
    out.insert(size_t(a), depth);
    checked_numel(out, "OneHot");
    Tensor& y = ctx.output(0, tv.dtype(), out);
    const int64_t outer = it.shape().prod(0, int(a)), inner = it.shape().prod(int(a), it.rank());
    dispatch_by_size(tv.dtype(), "OneHot", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T off = tv.data<T>()[0], on = tv.data<T>()[1];
      T* py = y.data<T>();
      std::fill(py, py + y.numel(), off);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t v = idx[size_t(o * inner + i)];
          if (v < -depth || v >= depth) continue;
          if (v < 0) v += depth;
          py[(o * depth + v) * inner + i] = on;
        }
    });
  }

 private:
  int64_t axis_;
};

}  // namespace

void register_generate_ops(OpRegistry& r) {
  r.add("Constant", 1, make_kernel<ConstantKernel>);
  r.add("ConstantOfShape", 9, make_kernel<ConstantOfShapeKernel>);
  r.add("Range", 11, make_kernel<RangeKernel>);
  r.add("EyeLike", 9, make_kernel<EyeLikeKernel>);
  r.add("OneHot", 9, make_kernel<OneHotKernel>);
}

}  // namespace fi
