// Unary math and activation ops, y[i] = f(x[i]) with y of x's type and shape. Each op is one
// compile-time case of UnaryKernel<U>; attributes (alpha, beta, gamma...) are read once in the
// constructor. Float-only ops accept float, double, float16, bfloat16 (16-bit ones computed in
// float); Abs, Neg, Sign, Relu and Shrink also accept integer types. float32 Exp, Log, Sigmoid,
// Tanh, Erf, Gelu, HardSwish, Softplus, Elu, Selu, Celu, Swish and Mish run the vectorised kernels/vmath.h
// functions over chunks split across the thread pool.
#include <algorithm>
#include <cmath>
#include <string>

#include "core/dispatch_type.h"
#include "kernels/vmath.h"
#include "ops/elementwise/engine.h"
#include "ops/registry.h"

namespace fi {
namespace {

enum class U {
  Abs, Neg, Exp, Log, Sqrt, Reciprocal, Floor, Ceil, Round, Sign,
  Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, Erf,
  Relu, LeakyRelu, Elu, Selu, Celu, Sigmoid, HardSigmoid, HardSwish, Softplus, Softsign, Tanh,
  Gelu, Mish, Swish, ThresholdedRelu, Shrink,
};

constexpr bool accepts_integers(U u) {
  return u == U::Abs || u == U::Neg || u == U::Sign || u == U::Relu || u == U::Shrink;
}

template <class C> inline C softplus(C x) {
  return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
// tanh for float through one double exp (glibc's tanhf is several times slower); accurate to
// float rounding: small |x| uses the series, large |x| saturates.
inline float tanh_fast(float x) {
  const double d = x, a = std::fabs(d);
  if (a < 1e-3) return float(d - d * d * d / 3.0);
  if (a > 20.0) return x > 0 ? 1.0f : -1.0f;
  const double e = std::exp(2.0 * d);
  return float((e - 1.0) / (e + 1.0));
}
template <class C> inline C tanh_(C x) {
  if constexpr (std::is_same_v<C, float>) return tanh_fast(x);
  else return std::tanh(x);
}

template <class C> inline C sigmoid(C x) {
  if (x >= C(0)) return C(1) / (C(1) + std::exp(-x));
  C e = std::exp(x);
  return e / (C(1) + e);
}

constexpr bool has_f32_vec(U u) {
  return u == U::Exp || u == U::Log || u == U::Softplus || u == U::Sigmoid || u == U::Tanh || u == U::Erf || u == U::Gelu || u == U::HardSwish ||
         u == U::Elu || u == U::Selu || u == U::Celu || u == U::Swish || u == U::Mish;
}

template <U Op>
class UnaryKernel : public OpKernel {
 public:
  explicit UnaryKernel(const OpInit& init) : name_(init.op_type()) {
    const Attributes& at = init.attrs();
    switch (Op) {
      case U::LeakyRelu: alpha_ = at.get_float("alpha", 0.01f); break;
      case U::Elu: case U::Celu: case U::ThresholdedRelu: case U::Swish:
        alpha_ = at.get_float("alpha", 1.0f);
        break;
      case U::Selu:
        alpha_ = at.get_float("alpha", 1.67326319217681884765625f);
        gamma_ = at.get_float("gamma", 1.05070102214813232421875f);
        break;
      case U::HardSigmoid:
        alpha_ = at.get_float("alpha", 0.2f);
        beta_ = at.get_float("beta", 0.5f);
        break;
      case U::Shrink:
        alpha_ = at.get_float("lambd", 0.5f);
        beta_ = at.get_float("bias", 0.0f);
        break;
      case U::Gelu: {
        std::string a = at.get_string("approximate", "none");
        FI_CHECK(a == "none" || a == "tanh", InvalidModel, "Gelu: approximate must be 'none' or 'tanh', got '", a, "'");
        tanh_approx_ = a == "tanh";
        break;
      }
      default: break;
    }
    FI_CHECK(Op != U::Celu || alpha_ != 0.0f, InvalidModel, "Celu: alpha must not be 0");
  }

  // y[i] = f(x[i]) reads each element before writing it: y may take x's memory.
  int inplace_input() const override { return 0; }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    if constexpr (has_f32_vec(Op)) {
      if (x.dtype() == DataType::Float) {
        const float* px = x.data<float>();
        float* py = y.data<float>();
        parallel_for(ctx.pool(), x.numel(), ew::kGrain, [&](int64_t b, int64_t e) { f32_vec(px + b, py + b, e - b); });
        return;
      }
    }
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = ew::Compute<T>;
      ew::map_unary(ctx.pool(), x.data<T>(), y.data<T>(), x.numel(), [this](C v) { return C(apply(v)); });
    };
    if constexpr (accepts_integers(Op)) dispatch_numeric(x.dtype(), name_.c_str(), run);
    else dispatch_float(x.dtype(), name_.c_str(), run);
  }

 private:
  template <class C> C apply(C x) const {
    if constexpr (std::is_integral_v<C>) {
      if constexpr (Op == U::Abs) return x < 0 ? C(0 - uint64_t(x)) : x;
      else if constexpr (Op == U::Neg) return C(0 - uint64_t(x));
      else if constexpr (Op == U::Sign) return C((x > 0) - (x < 0));
      else if constexpr (Op == U::Relu) return x > 0 ? x : C(0);
      else return shrink(x);
    } else {
      const C a = C(alpha_);
      if constexpr (Op == U::Abs) return std::fabs(x);
      else if constexpr (Op == U::Neg) return -x;
      else if constexpr (Op == U::Exp) return std::exp(x);
      else if constexpr (Op == U::Log) return std::log(x);
      else if constexpr (Op == U::Sqrt) return std::sqrt(x);
      else if constexpr (Op == U::Reciprocal) return C(1) / x;
      else if constexpr (Op == U::Floor) return std::floor(x);
      else if constexpr (Op == U::Ceil) return std::ceil(x);
      else if constexpr (Op == U::Round) return std::nearbyint(x);
      else if constexpr (Op == U::Sign) return std::isnan(x) ? x : C((x > 0) - (x < 0));
      else if constexpr (Op == U::Sin) return std::sin(x);
      else if constexpr (Op == U::Cos) return std::cos(x);
      else if constexpr (Op == U::Tan) return std::tan(x);
      else if constexpr (Op == U::Asin) return std::asin(x);
      else if constexpr (Op == U::Acos) return std::acos(x);
      else if constexpr (Op == U::Atan) return std::atan(x);
      else if constexpr (Op == U::Sinh) return std::sinh(x);
      else if constexpr (Op == U::Cosh) return std::cosh(x);
      else if constexpr (Op == U::Asinh) return std::asinh(x);
      else if constexpr (Op == U::Acosh) return std::acosh(x);
      else if constexpr (Op == U::Atanh) return std::atanh(x);
      else if constexpr (Op == U::Erf) return std::erf(x);
      else if constexpr (Op == U::Relu) return x < C(0) ? C(0) : x;  // NaN stays NaN, as in ORT
      else if constexpr (Op == U::LeakyRelu) return x < C(0) ? a * x : x;
      else if constexpr (Op == U::Elu) return x < C(0) ? a * (std::exp(x) - C(1)) : x;
      else if constexpr (Op == U::Selu)
        return C(gamma_) * (x > C(0) ? x : a * std::exp(x) - a);
      else if constexpr (Op == U::Celu)
        return std::fmax(C(0), x) + std::fmin(C(0), a * (std::exp(x / a) - C(1)));
      else if constexpr (Op == U::Sigmoid) return sigmoid(x);
      else if constexpr (Op == U::HardSigmoid) {  // NaN stays NaN, as in ORT (fmax/fmin would drop it)
        const C v = a * x + C(beta_);
        return v < C(0) ? C(0) : v > C(1) ? C(1) : v;
      }
      else if constexpr (Op == U::HardSwish)
        return x * std::fmax(C(0), std::fmin(C(1), x / C(6) + C(0.5)));
      else if constexpr (Op == U::Softplus) return softplus(x);
      else if constexpr (Op == U::Softsign) return x / (C(1) + std::fabs(x));
      else if constexpr (Op == U::Tanh) return tanh_(x);
      else if constexpr (Op == U::Gelu) {
        if (tanh_approx_) {
          const C k = C(0.7978845608028654);  // sqrt(2 / pi)
          return C(0.5) * x * (C(1) + tanh_(k * (x + C(0.044715) * x * x * x)));
        }
        return C(0.5) * x * (C(1) + std::erf(x * C(0.7071067811865476)));
      } else if constexpr (Op == U::Mish) return x * tanh_(softplus(x));
      else if constexpr (Op == U::Swish) return x * sigmoid(a * x);
      else if constexpr (Op == U::ThresholdedRelu) return x > a ? x : C(0);
      else return shrink(x);
    }
  }

  // The float32 path of the ops with a vmath kernel: y[i] = f(x[i]) for i < n (y may be x).
  void f32_vec(const float* x, float* y, int64_t n) const {
    namespace k = kernels;
    if constexpr (Op == U::Exp) k::f32_exp(x, y, n);
    else if constexpr (Op == U::Log) k::f32_log(x, y, n);
    else if constexpr (Op == U::Softplus) k::f32_softplus(x, y, n);
    else if constexpr (Op == U::Sigmoid) k::f32_sigmoid(x, y, n);
    else if constexpr (Op == U::Tanh) k::f32_tanh(x, y, n);
    else if constexpr (Op == U::Erf) k::f32_erf(x, y, n);
    else if constexpr (Op == U::Gelu)
      k::f32_activation(tanh_approx_ ? k::Activation::GeluTanh : k::Activation::GeluErf, x, y, n);
    else if constexpr (Op == U::HardSwish) k::f32_activation(k::Activation::HardSwish, x, y, n);
    else if constexpr (Op == U::Elu) k::f32_elu(x, y, n, alpha_, 1.f, 1.f);
    else if constexpr (Op == U::Selu) k::f32_elu(x, y, n, alpha_, gamma_, 1.f);
    else if constexpr (Op == U::Celu) k::f32_elu(x, y, n, alpha_, 1.f, 1.f / alpha_);
    else {
      // The rest combine one vmath function of x (in buf) with x itself, a chunk at a time.
      constexpr int64_t kBuf = 1024;
      float buf[kBuf];
      const float a = alpha_;
      for (int64_t c = 0; c < n; c += kBuf) {
        const int64_t m = std::min(kBuf, n - c);
        const float* xc = x + c;
        float* yc = y + c;
        if constexpr (Op == U::Swish) {
          for (int64_t i = 0; i < m; ++i) buf[i] = a * xc[i];
          k::f32_sigmoid(buf, buf, m);
          for (int64_t i = 0; i < m; ++i) yc[i] = xc[i] * buf[i];
        } else {
          // Mish: tanh(log(1 + e)) = e (e + 2) / (e (e + 2) + 2), e = exp(x), exactly 1 from x = 20 on.
          for (int64_t i = 0; i < m; ++i) buf[i] = xc[i] < 20.f ? xc[i] : 20.f;
          k::f32_exp(buf, buf, m);
          for (int64_t i = 0; i < m; ++i) {
            const float t = buf[i] * (buf[i] + 2.f);
            yc[i] = xc[i] * (t / (t + 2.f));
          }
        }
      }
    }
  }

  template <class C> C shrink(C x) const {
    const double v = double(x);
    if (v < -double(alpha_)) return C(v + double(beta_));
    if (v > double(alpha_)) return C(v - double(beta_));
    return C(0);
  }

  std::string name_;
  float alpha_ = 0, beta_ = 0, gamma_ = 0;
  bool tanh_approx_ = false;
};

}  // namespace

void register_unary_ops(OpRegistry& r) {
  r.add("Abs", 1, make_kernel<UnaryKernel<U::Abs>>);
  r.add("Neg", 1, make_kernel<UnaryKernel<U::Neg>>);
  r.add("Exp", 1, make_kernel<UnaryKernel<U::Exp>>);
  r.add("Log", 1, make_kernel<UnaryKernel<U::Log>>);
  r.add("Sqrt", 1, make_kernel<UnaryKernel<U::Sqrt>>);
  r.add("Reciprocal", 1, make_kernel<UnaryKernel<U::Reciprocal>>);
  r.add("Floor", 1, make_kernel<UnaryKernel<U::Floor>>);
  r.add("Ceil", 1, make_kernel<UnaryKernel<U::Ceil>>);
  r.add("Round", 11, make_kernel<UnaryKernel<U::Round>>);
  r.add("Sign", 9, make_kernel<UnaryKernel<U::Sign>>);
  r.add("Sin", 7, make_kernel<UnaryKernel<U::Sin>>);
  r.add("Cos", 7, make_kernel<UnaryKernel<U::Cos>>);
  r.add("Tan", 7, make_kernel<UnaryKernel<U::Tan>>);
  r.add("Asin", 7, make_kernel<UnaryKernel<U::Asin>>);
  r.add("Acos", 7, make_kernel<UnaryKernel<U::Acos>>);
  r.add("Atan", 7, make_kernel<UnaryKernel<U::Atan>>);
  r.add("Sinh", 9, make_kernel<UnaryKernel<U::Sinh>>);
  r.add("Cosh", 9, make_kernel<UnaryKernel<U::Cosh>>);
  r.add("Asinh", 9, make_kernel<UnaryKernel<U::Asinh>>);
  r.add("Acosh", 9, make_kernel<UnaryKernel<U::Acosh>>);
  r.add("Atanh", 9, make_kernel<UnaryKernel<U::Atanh>>);
  r.add("Erf", 9, make_kernel<UnaryKernel<U::Erf>>);
  r.add("Relu", 1, make_kernel<UnaryKernel<U::Relu>>);
  r.add("LeakyRelu", 1, make_kernel<UnaryKernel<U::LeakyRelu>>);
  r.add("Elu", 1, make_kernel<UnaryKernel<U::Elu>>);
  r.add("Selu", 1, make_kernel<UnaryKernel<U::Selu>>);
  r.add("Celu", 12, make_kernel<UnaryKernel<U::Celu>>);
  r.add("Sigmoid", 1, make_kernel<UnaryKernel<U::Sigmoid>>);
  r.add("HardSigmoid", 1, make_kernel<UnaryKernel<U::HardSigmoid>>);
  r.add("HardSwish", 14, make_kernel<UnaryKernel<U::HardSwish>>);
  r.add("Softplus", 1, make_kernel<UnaryKernel<U::Softplus>>);
  r.add("Softsign", 1, make_kernel<UnaryKernel<U::Softsign>>);
  r.add("Tanh", 1, make_kernel<UnaryKernel<U::Tanh>>);
  r.add("Gelu", 20, make_kernel<UnaryKernel<U::Gelu>>);
  r.add("Mish", 18, make_kernel<UnaryKernel<U::Mish>>);
  r.add("Swish", 24, make_kernel<UnaryKernel<U::Swish>>);
  r.add("ThresholdedRelu", 10, make_kernel<UnaryKernel<U::ThresholdedRelu>>);
  r.add("Shrink", 9, make_kernel<UnaryKernel<U::Shrink>>);
}

}  // namespace fi
