// Unary ops outside the math table: Not, BitwiseNot, IsNaN, IsInf (bool output), Clip (bounds from
// attributes before opset 11, optional scalar inputs after) and Dropout (inference: identity).
#include <cmath>
#include <limits>

#include "core/dispatch_type.h"
#include "ops/elementwise/engine.h"
#include "ops/registry.h"

namespace fi {
namespace {

// Not: logical negation of a bool tensor.
class NotKernel : public OpKernel {
 public:
  explicit NotKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.dtype() == DataType::Bool, NotImplemented, "Not: element type ", dtype_name(x.dtype()),
             " is not supported");
    Tensor& y = ctx.output(0, DataType::Bool, x.shape());
    ew::map_unary(ctx.pool(), x.data<bool>(), y.data<bool>(), x.numel(), [](bool v) { return !v; });
  }
};

// BitwiseNot: ~x on integer tensors.
class BitwiseNotKernel : public OpKernel {
 public:
  explicit BitwiseNotKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    dispatch_integer(x.dtype(), "BitwiseNot", [&](auto tag) {
      using T = typename decltype(tag)::type;
      ew::map_unary(ctx.pool(), x.data<T>(), y.data<T>(), x.numel(), [](T v) { return T(~v); });
    });
  }
};

// Calls fn(TypeTag<T>) for the float types including the 8-bit ones (IsNaN/IsInf, opset 20).
template <class Fn>
void dispatch_float_f8(DataType dt, const char* what, Fn&& fn) {
  switch (dt) {
    case DataType::Float8E4M3FN: return fn(TypeTag<Float8E4M3FN>{});
    case DataType::Float8E4M3FNUZ: return fn(TypeTag<Float8E4M3FNUZ>{});
    case DataType::Float8E5M2: return fn(TypeTag<Float8E5M2>{});
    case DataType::Float8E5M2FNUZ: return fn(TypeTag<Float8E5M2FNUZ>{});
    default: return dispatch_float(dt, what, fn);
  }
}

// IsNaN / IsInf (with detect_positive / detect_negative): bool tensors of x's shape.
class IsNaNKernel : public OpKernel {
 public:
  explicit IsNaNKernel(const OpInit& init) {
    is_inf_ = init.op_type() == "IsInf";
    pos_ = init.attrs().get_int("detect_positive", 1) != 0;
    neg_ = init.attrs().get_int("detect_negative", 1) != 0;
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.output(0, DataType::Bool, x.shape());
    const bool inf = is_inf_, pos = pos_, neg = neg_;
    dispatch_float_f8(x.dtype(), is_inf_ ? "IsInf" : "IsNaN", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      bool* py = y.data<bool>();
      parallel_for(ctx.pool(), x.numel(), ew::kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const double v = double(ew::load(px[i]));
          py[i] = inf ? (std::isinf(v) && (v > 0 ? pos : neg)) : std::isnan(v);
        }
      });
    });
  }

 private:
  bool is_inf_ = false, pos_ = true, neg_ = true;
};

// Clip: y = min(max(x, lo), hi). Opset < 11: float attributes min/max; later optional scalar
// inputs 1 (min) and 2 (max) of x's type. Missing bounds are the type's limits.
class ClipKernel : public OpKernel {
 public:
  explicit ClipKernel(const OpInit& init) : attr_bounds_(init.opset() < 11) {
    lo_ = init.attrs().get_float("min", -std::numeric_limits<float>::max());
    hi_ = init.attrs().get_float("max", std::numeric_limits<float>::max());
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    dispatch_numeric(x.dtype(), "Clip", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = ew::Compute<T>;
      C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
      if (attr_bounds_) {
        lo = C(lo_);
        hi = C(hi_);
      } else {
        for (int k = 1; k <= 2; ++k) {
          const Tensor* b = ctx.num_inputs() > k ? ctx.input(k) : nullptr;
          if (!b) continue;
          FI_CHECK(b->dtype() == x.dtype(), InvalidArgument, "Clip: bound ", k, " has type ",
                   dtype_name(b->dtype()), ", input has ", dtype_name(x.dtype()));
          FI_CHECK(b->numel() == 1, InvalidArgument, "Clip: bound ", k, " must be a scalar, got shape ",
                   b->shape().str());
          (k == 1 ? lo : hi) = ew::load(b->data<T>()[0]);
        }
      }
      ew::map_unary(ctx.pool(), x.data<T>(), y.data<T>(), x.numel(), [lo, hi](C v) {
        C r = v < lo ? lo : v;
        return r > hi ? hi : r;
      });
    });
  }

 private:
  bool attr_bounds_;
  float lo_, hi_;
};

// Dropout in inference: output = input; the optional mask is all ones (bool since opset 10).
// training_mode = true with a non-zero ratio would need random numbers: NotImplemented.
class DropoutKernel : public OpKernel {
 public:
  explicit DropoutKernel(const OpInit& init) : opset_(init.opset()) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    if (opset_ >= 12) {
      const Tensor* tm = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
      bool training = false;
      if (tm) {
        FI_CHECK(tm->dtype() == DataType::Bool && tm->numel() == 1, InvalidArgument,
                 "Dropout: training_mode must be a bool scalar");
        training = tm->data<bool>()[0];
      }
      if (training) {
        double ratio = 0.5;
        const Tensor* rt = ctx.num_inputs() > 1 ? ctx.input(1) : nullptr;
        if (rt) {
          FI_CHECK(rt->numel() == 1 && dtype_is_float(rt->dtype()), InvalidArgument,
                   "Dropout: ratio must be a float scalar");
          ratio = rt->scalar_as_double();
        }
        FI_CHECK(ratio == 0.0, NotImplemented, "Dropout: training mode with a non-zero ratio is not supported");
      }
    }
    ctx.output_alias(0, 0, x.shape());
    if (ctx.num_outputs() > 1 && ctx.has_output(1)) {
      if (opset_ >= 10) {
        Tensor& m = ctx.output(1, DataType::Bool, x.shape());
        bool* pm = m.data<bool>();
        for (int64_t i = 0; i < x.numel(); ++i) pm[i] = true;
      } else {
        Tensor& m = ctx.output(1, x.dtype(), x.shape());
        dispatch_float(x.dtype(), "Dropout", [&](auto tag) {
          using T = typename decltype(tag)::type;
          T* pm = m.data<T>();
          for (int64_t i = 0; i < x.numel(); ++i) pm[i] = T(1.0f);
        });
      }
    }
  }

 private:
  int opset_;
};

}  // namespace

void register_misc_unary_ops(OpRegistry& r) {
  r.add("Not", 1, make_kernel<NotKernel>);
  r.add("BitwiseNot", 18, make_kernel<BitwiseNotKernel>);
  r.add("IsNaN", 9, make_kernel<IsNaNKernel>);
  r.add("IsInf", 10, make_kernel<IsNaNKernel>);
  r.add("Clip", 1, make_kernel<ClipKernel>);
  r.add("Dropout", 1, make_kernel<DropoutKernel>);
}

}  // namespace fi
