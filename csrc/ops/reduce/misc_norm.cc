// LpNormalization (x / ||x||_p along one axis), MeanVarianceNormalization ((x - mean) /
// (std + 1e-9) over a set of axes) and LRN (local response normalisation across channels of
// [N, C, ...]). All tensors are row-major.
#include <algorithm>
#include <cmath>

#include "ops/op_util.h"
#include "ops/reduce/register.h"
#include "ops/reduce/reduce_util.h"

namespace fi {
namespace {

class LpNormKernel : public OpKernel {
 public:
  explicit LpNormKernel(const OpInit& init) {
    axis_ = init.attrs().get_int("axis", -1);
    p_ = init.attrs().get_int("p", 2);
    if (p_ != 1 && p_ != 2) throw InvalidModel(str("LpNormalization: p must be 1 or 2, got ", p_));
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() >= 1, InvalidArgument, "LpNormalization: input must have rank >= 1");
    int64_t axis = normalize_axis(axis_, x.rank());
    const Shape& s = x.shape();
    int64_t outer = s.prod(0, int(axis)), d = s[size_t(axis)], inner = s.prod(int(axis) + 1, x.rank());
    Tensor& y = ctx.output(0, x.dtype(), s);
    if (outer * d * inner == 0) return;
    dispatch_float(x.dtype(), "LpNormalization", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = reduce::FloatAcc<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      bool l1 = p_ == 1;
      int64_t grain = std::max<int64_t>(1, 8192 / (d * inner));
      parallel_for(ctx.pool(), outer, grain, [&](int64_t lo, int64_t hi) {
        std::vector<F> nrm(static_cast<size_t>(inner));
        for (int64_t o = lo; o < hi; ++o) {
          const T* blk = px + o * d * inner;
          T* out = py + o * d * inner;
          std::fill(nrm.begin(), nrm.end(), F(0));
          for (int64_t k = 0; k < d; ++k)
            for (int64_t j = 0; j < inner; ++j) {
              F v = F(blk[k * inner + j]);
              nrm[size_t(j)] += l1 ? std::fabs(v) : v * v;
            }
          for (int64_t j = 0; j < inner; ++j) {
            F n = l1 ? nrm[size_t(j)] : std::sqrt(nrm[size_t(j)]);
            nrm[size_t(j)] = n == F(0) ? F(0) : F(1) / n;
          }
          for (int64_t k = 0; k < d; ++k)
            for (int64_t j = 0; j < inner; ++j) out[k * inner + j] = T(F(blk[k * inner + j]) * nrm[size_t(j)]);
        }
      });
    });
  }

 private:
  int64_t axis_ = -1, p_ = 2;
};

class MvnKernel : public OpKernel {
 public:
  explicit MvnKernel(const OpInit& init) { axes_ = init.attrs().get_ints("axes", {0, 2, 3}); }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    int rank = x.rank();
    std::vector<bool> red = reduce::axes_mask(axes_, rank);
    reduce::ReducePlan p = reduce::make_reduce_plan(x.shape(), red, true);
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    if (p.n_out == 0 || p.n_reduced == 0) return;
    dispatch_float(x.dtype(), "MeanVarianceNormalization", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = reduce::FloatAcc<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      int64_t kin = p.inner_reduced ? 1 : p.inner, run = p.inner_reduced ? p.inner : 1;
      F cnt = F(p.n_reduced);
      int64_t grain = std::max<int64_t>(1, 8192 / (p.n_rsteps * p.inner));
      parallel_for(ctx.pool(), p.n_outer, grain, [&](int64_t lo, int64_t hi) {
        std::vector<F> mean(static_cast<size_t>(kin)), var(static_cast<size_t>(kin));
        for (int64_t o = lo; o < hi; ++o) {
          int64_t base = reduce::kept_offset(p, o);
          std::fill(mean.begin(), mean.end(), F(0));
          std::fill(var.begin(), var.end(), F(0));
          reduce::for_each_reduced(p, [&](int64_t off) {
            for (int64_t j = 0; j < kin; ++j)
              for (int64_t t = 0; t < run; ++t) mean[size_t(j)] += F(px[base + off + j + t]);
          });
          for (auto& m : mean) m /= cnt;
          reduce::for_each_reduced(p, [&](int64_t off) {
            for (int64_t j = 0; j < kin; ++j)
              for (int64_t t = 0; t < run; ++t) {
                F dv = F(px[base + off + j + t]) - mean[size_t(j)];
                var[size_t(j)] += dv * dv;
              }
          });
          for (auto& v : var) v = F(1) / (std::sqrt(v / cnt) + F(1e-9));
          reduce::for_each_reduced(p, [&](int64_t off) {
            for (int64_t j = 0; j < kin; ++j)
              for (int64_t t = 0; t < run; ++t) {
                int64_t i = base + off + j + t;
                py[i] = T((F(px[i]) - mean[size_t(j)]) * var[size_t(j)]);
              }
          });
        }
      });
    });
  }

 private:
  std::vector<int64_t> axes_;
};

class LrnKernel : public OpKernel {
 public:
  explicit LrnKernel(const OpInit& init) {
    size_ = init.attrs().require_int("size");
    if (size_ <= 0) throw InvalidModel(str("LRN: size must be positive, got ", size_));
    alpha_ = init.attrs().get_float("alpha", 1e-4f);
    beta_ = init.attrs().get_float("beta", 0.75f);
    bias_ = init.attrs().get_float("bias", 1.0f);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() >= 2, InvalidArgument, "LRN: X must have rank >= 2, got ", x.shape().str());
    int64_t n = x.dim(0), c = x.dim(1), s = x.shape().prod(2, x.rank());
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    if (n * c * s == 0) return;
    int64_t lo_off = (size_ - 1) / 2, hi_off = size_ - 1 - lo_off;
    dispatch_float(x.dtype(), "LRN", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = reduce::FloatAcc<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      F scale = F(alpha_) / F(size_), bias = F(bias_), beta = F(beta_);
      int64_t grain = std::max<int64_t>(1, 4096 / (s * size_));
      parallel_for(ctx.pool(), n * c, grain, [&](int64_t b, int64_t e) {
        std::vector<F> sq(static_cast<size_t>(s));
        for (int64_t i = b; i < e; ++i) {
          int64_t bn = i / c, ch = i % c;
          int64_t c0 = std::max<int64_t>(0, ch - lo_off), c1 = std::min<int64_t>(c - 1, ch + hi_off);
          std::fill(sq.begin(), sq.end(), F(0));
          for (int64_t k = c0; k <= c1; ++k) {
            const T* src = px + (bn * c + k) * s;
            for (int64_t j = 0; j < s; ++j) sq[size_t(j)] += F(src[j]) * F(src[j]);
          }
          const T* src = px + i * s;
          T* dst = py + i * s;
          for (int64_t j = 0; j < s; ++j) dst[j] = T(F(src[j]) / std::pow(bias + scale * sq[size_t(j)], beta));
        }
      });
    });
  }

 private:
  int64_t size_ = 1;
  float alpha_ = 1e-4f, beta_ = 0.75f, bias_ = 1.0f;
};

}  // namespace

void register_misc_norm_kernels(OpRegistry& r) {
  r.add("LpNormalization", 1, make_kernel<LpNormKernel>);
  r.add("MeanVarianceNormalization", 9, make_kernel<MvnKernel>);
  r.add("LRN", 1, make_kernel<LrnKernel>);
}

}  // namespace fi
