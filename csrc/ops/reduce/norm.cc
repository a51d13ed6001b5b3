// BatchNormalization (inference, and training_mode=1 from opset 14) and InstanceNormalization.
// Layout: X is [N, C, D1, ...] row-major; per-channel parameters of shape [C].
#include <algorithm>
#include <cmath>

#include "ops/reduce/register.h"
#include "ops/reduce/reduce_util.h"

namespace fi {
namespace {

// y[n, c, s] = x[n, c, s] * a[c] + b[c] over N x C x S, parallel over (n, c) blocks.
template <class T>
void apply_affine(const T* x, T* y, int64_t n, int64_t c, int64_t s, const std::vector<double>& a,
                  const std::vector<double>& b, ThreadPool* pool) {
  using F = reduce::FloatAcc<T>;
  int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, s));
  parallel_for(pool, n * c, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      F sa = F(a[size_t(i % c)]), sb = F(b[size_t(i % c)]);
      const T* src = x + i * s;
      T* dst = y + i * s;
      for (int64_t j = 0; j < s; ++j) dst[j] = T(F(src[j]) * sa + sb);
    }
  });
}

// Per-channel mean and (population) variance of x over N and S, in double.
template <class T>
void channel_moments(const T* x, int64_t n, int64_t c, int64_t s, std::vector<double>& mean,
                     std::vector<double>& var, ThreadPool* pool) {
  mean.assign(size_t(c), 0.0);
  var.assign(size_t(c), 0.0);
  parallel_for(pool, c, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      double sum = 0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t j = 0; j < s; ++j) sum += double(x[(b * c + ch) * s + j]);
      double cnt = double(n * s);
      double m = cnt > 0 ? sum / cnt : 0.0, ss = 0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t j = 0; j < s; ++j) {
          double d = double(x[(b * c + ch) * s + j]) - m;
          ss += d * d;
        }
      mean[size_t(ch)] = m;
      var[size_t(ch)] = cnt > 0 ? ss / cnt : 0.0;
    }
  });
}

template <class T>
void write_vec(Tensor& t, const std::vector<double>& v) {
  T* p = t.data<T>();
  for (size_t i = 0; i < v.size(); ++i) p[i] = T(v[i]);
}

class BatchNormKernel : public OpKernel {
 public:
  explicit BatchNormKernel(const OpInit& init) {
    opset_ = init.opset();
    eps_ = init.attrs().get_float("epsilon", 1e-5f);
    momentum_ = init.attrs().get_float("momentum", 0.9f);
    spatial_ = opset_ < 9 ? init.attrs().get_int("spatial", 1) != 0 : true;
    training_ = opset_ >= 14 && init.attrs().get_int("training_mode", 0) != 0;
    if (opset_ < 14)
      for (int i = 1; i < init.num_outputs(); ++i)
        if (init.has_output(i))
          throw NotImplemented("BatchNormalization: training outputs (mean, var, saved_mean, saved_var) before opset 14");
    // Inference with constant parameters: fold them into y = x * a + b once.
    if (!training_) {
      const Tensor* p[4];
      for (int i = 0; i < 4; ++i) p[i] = init.constant_input(i + 1);
      if (p[0] && p[1] && p[2] && p[3]) {
        int64_t pc = p[0]->numel();
        for (int i = 1; i < 4; ++i)
          if (p[i]->numel() != pc)
            throw InvalidModel(str("BatchNormalization: parameters have ", pc, " and ", p[i]->numel(), " elements"));
        std::vector<std::vector<double>> v(4);
        for (int i = 0; i < 4; ++i) v[size_t(i)] = reduce::to_doubles(*p[i], "BatchNormalization");
        fold(v[0], v[1], v[2], v[3], a_, b_);
        folded_ = true;
      }
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() >= 2, InvalidArgument, "BatchNormalization: X must have rank >= 2, got ", x.shape().str());
    int64_t n = x.dim(0), c = x.dim(1), s = x.shape().prod(2, x.rank());
    int64_t pc = c;
    if (!spatial_) { pc = c * s; c = pc; s = 1; }
    if (folded_) {
      FI_CHECK(int64_t(a_.size()) == pc, InvalidArgument, "BatchNormalization: parameters have ", a_.size(),
               " elements, expected ", pc);
      Tensor& y = ctx.output(0, x.dtype(), x.shape());
      dispatch_float(x.dtype(), "BatchNormalization", [&](auto tag) {
        using T = typename decltype(tag)::type;
        apply_affine<T>(x.data<T>(), y.data<T>(), n, c, s, a_, b_, ctx.pool());
      });
      return;
    }
    const char* names[] = {"scale", "B", "mean", "var"};
    std::vector<std::vector<double>> prm(4);
    for (int i = 0; i < 4; ++i) {
      const Tensor& t = ctx.in(i + 1);
      FI_CHECK(t.numel() == pc, InvalidArgument, "BatchNormalization: ", names[i], " has ", t.numel(),
               " elements, expected ", pc);
      prm[size_t(i)] = reduce::to_doubles(t, "BatchNormalization");
    }
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    dispatch_float(x.dtype(), "BatchNormalization", [&](auto tag) {
      using T = typename decltype(tag)::type;
      std::vector<double> mean = prm[2], var = prm[3];
      if (training_) {
        channel_moments<T>(x.data<T>(), n, c, s, mean, var, ctx.pool());
        for (int out = 1; out <= 2; ++out) {
          if (!ctx.has_output(out)) continue;
          const std::vector<double>& run = prm[size_t(out + 1)];
          const std::vector<double>& cur = out == 1 ? mean : var;
          std::vector<double> v(static_cast<size_t>(c));
          for (size_t i = 0; i < v.size(); ++i) v[i] = run[i] * momentum_ + cur[i] * (1.0 - momentum_);
          const Tensor& pt = ctx.in(out + 2);
          Tensor& o = ctx.output(out, pt.dtype(), pt.shape());
          dispatch_float(pt.dtype(), "BatchNormalization", [&](auto t2) {
            write_vec<typename decltype(t2)::type>(o, v);
          });
        }
      }
      std::vector<double> a, b;
      fold(prm[0], prm[1], mean, var, a, b);
      apply_affine<T>(x.data<T>(), y.data<T>(), n, c, s, a, b, ctx.pool());
    });
  }

 private:
  // a = scale / sqrt(var + eps), b = bias - mean * a.
  void fold(const std::vector<double>& scale, const std::vector<double>& bias, const std::vector<double>& mean,
            const std::vector<double>& var, std::vector<double>& a, std::vector<double>& b) const {
    a.resize(scale.size());
    b.resize(scale.size());
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = scale[i] / std::sqrt(var[i] + double(eps_));
      b[i] = bias[i] - mean[i] * a[i];
    }
  }

  std::vector<double> a_, b_;
  bool folded_ = false;
  int opset_ = 15;
  float eps_ = 1e-5f, momentum_ = 0.9f;
  bool spatial_ = true, training_ = false;
};

class InstanceNormKernel : public OpKernel {
 public:
  explicit InstanceNormKernel(const OpInit& init) { eps_ = init.attrs().get_float("epsilon", 1e-5f); }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() >= 2, InvalidArgument, "InstanceNormalization: X must have rank >= 2, got ", x.shape().str());
    int64_t n = x.dim(0), c = x.dim(1), s = x.shape().prod(2, x.rank());
    const Tensor& sc = ctx.in(1);
    const Tensor& bt = ctx.in(2);
    FI_CHECK(sc.numel() == c && bt.numel() == c, InvalidArgument, "InstanceNormalization: scale and B must have ",
             c, " elements, got ", sc.numel(), " and ", bt.numel());
    std::vector<double> scale = reduce::to_doubles(sc, "InstanceNormalization");
    std::vector<double> bias = reduce::to_doubles(bt, "InstanceNormalization");
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    if (n * c * s == 0) return;
    dispatch_float(x.dtype(), "InstanceNormalization", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = reduce::FloatAcc<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      double eps = double(eps_);
      int64_t grain = std::max<int64_t>(1, 8192 / s);
      parallel_for(ctx.pool(), n * c, grain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          const T* src = px + i * s;
          T* dst = py + i * s;
          F m, var;
          reduce::row_moments<F>(src, s, m, var);
          double a = scale[size_t(i % c)] / std::sqrt(double(var) + eps);
          F fa = F(a), fb = F(bias[size_t(i % c)] - double(m) * a);
          for (int64_t j = 0; j < s; ++j) dst[j] = T(F(src[j]) * fa + fb);
        }
      });
    });
  }

 private:
  float eps_ = 1e-5f;
};

}  // namespace

void register_norm_kernels(OpRegistry& r) {
  r.add("BatchNormalization", 6, make_kernel<BatchNormKernel>);
  r.add("InstanceNormalization", 1, make_kernel<InstanceNormKernel>);
}

}  // namespace fi
