// LayerNormalization, RMSNormalization and GroupNormalization: normalise contiguous rows of
// a row-major tensor and apply a broadcast scale (and bias).
//   Layer/RMS: rows are X.shape[axis:], one per index of X.shape[:axis].
//   Group: X is [N, C, ...]; each row is one group of C/num_groups channels of one sample.
// float32 Layer/RMS rows run the vectorised kernels/vmath.h rows (two-pass float moments), split
// over the pool by rows; a scale/bias of exactly the normalised shape is read in place.
#include <algorithm>
#include <cmath>

#include "kernels/vmath.h"
#include "ops/reduce/register.h"
#include "ops/reduce/reduce_util.h"

namespace fi {
namespace {

template <bool kRms>
class LayerNormKernel : public OpKernel {
 public:
  explicit LayerNormKernel(const OpInit& init) : name_(init.op_type()) {
    axis_ = init.attrs().get_int("axis", -1);
    eps_ = init.attrs().get_float("epsilon", 1e-5f);
    stash_ = init.attrs().get_int("stash_type", 1);
  }

  // Each row's statistics are taken before the row is written: Y may take X's memory.
  int inplace_input() const override { return 0; }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    int rank = x.rank();
    FI_CHECK(rank >= 1, InvalidArgument, name_, ": X must have rank >= 1");
    int64_t axis = normalize_axis(axis_, rank);
    const Shape& s = x.shape();
    int64_t outer = s.prod(0, int(axis)), d = s.prod(int(axis), rank);
    Shape norm_shape(s.begin() + axis, s.end());
    if (x.dtype() == DataType::Float) return compute_f32(ctx, x, axis, outer, d, norm_shape);
    std::vector<double> scale = reduce::broadcast_param(ctx.in(1), norm_shape, "scale");
    std::vector<double> bias;
    if (!kRms && ctx.input(2)) bias = reduce::broadcast_param(*ctx.input(2), norm_shape, "B");
    Tensor& y = ctx.output(0, x.dtype(), s);
    Tensor* mean_t = nullptr;
    Tensor* inv_t = nullptr;
    if (!kRms) {
      Shape ms(s.begin(), s.begin() + axis);
      for (int i = int(axis); i < rank; ++i) ms.push_back(1);
      DataType mdt = stash_ == 1 ? DataType::Float : x.dtype();
      if (ctx.has_output(1)) mean_t = &ctx.output(1, mdt, ms);
      if (ctx.has_output(2)) inv_t = &ctx.output(2, mdt, ms);
    }
    if (outer == 0) return;
    dispatch_float(x.dtype(), name_.c_str(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = reduce::FloatAcc<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      std::vector<F> fs(scale.begin(), scale.end()), fb(bias.begin(), bias.end());
      F eps = F(eps_);
      int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, d));
      parallel_for(ctx.pool(), outer, grain, [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) {
          const T* src = px + r * d;
          T* dst = py + r * d;
          F mean = 0, var = 0;
          if (d > 0) {
            if constexpr (kRms) {
              var = reduce::lane_accumulate<F>(d, [src](int64_t j) { return F(src[j]) * F(src[j]); }) / F(d);
            } else {
              reduce::row_moments<F>(src, d, mean, var);
            }
          }
          F inv = F(1) / std::sqrt(var + eps);
          const F* sc = fs.data();
          if (fb.empty()) {
            for (int64_t j = 0; j < d; ++j) dst[j] = T((F(src[j]) - mean) * inv * sc[j]);
          } else {
            const F* bi = fb.data();
            for (int64_t j = 0; j < d; ++j) dst[j] = T((F(src[j]) - mean) * inv * sc[j] + bi[j]);
          }
          if (mean_t) dispatch_float(mean_t->dtype(), name_.c_str(), [&](auto t2) {
              using M = typename decltype(t2)::type;
              mean_t->data<M>()[r] = M(mean);
            });
          if (inv_t) dispatch_float(inv_t->dtype(), name_.c_str(), [&](auto t2) {
              using M = typename decltype(t2)::type;
              inv_t->data<M>()[r] = M(inv);
            });
        }
      });
    });
  }

 private:
  // A float parameter broadcast to the normalised shape: in place when it already has that shape,
  // else copied into store.
  static const float* param_f32(const Tensor& t, const Shape& norm_shape, const char* what, std::vector<float>& store) {
    if (t.dtype() == DataType::Float && t.shape() == norm_shape) return t.data<float>();
    std::vector<double> v = reduce::broadcast_param(t, norm_shape, what);
    store.assign(v.begin(), v.end());
    return store.data();
  }

  void compute_f32(KernelContext& ctx, const Tensor& x, int64_t axis, int64_t outer, int64_t d,
                   const Shape& norm_shape) const {
    const Shape& s = x.shape();
    std::vector<float> scale_store, bias_store;
    const float* scale = param_f32(ctx.in(1), norm_shape, "scale", scale_store);
    const float* bias = !kRms && ctx.input(2) ? param_f32(*ctx.input(2), norm_shape, "B", bias_store) : nullptr;
    Tensor& y = ctx.output(0, DataType::Float, s);
    float* mean = nullptr;
    float* inv = nullptr;
    if (!kRms) {
      Shape ms(s.begin(), s.begin() + axis);
      for (int i = int(axis); i < x.rank(); ++i) ms.push_back(1);
      if (ctx.has_output(1)) mean = ctx.output(1, DataType::Float, ms).data<float>();
      if (ctx.has_output(2)) inv = ctx.output(2, DataType::Float, ms).data<float>();
    }
    if (outer == 0) return;
    const float* px = x.data<float>();
    float* py = y.data<float>();
    // Chunks of at least 64K values (some 15 us here): a BERT's 128 x 384 embedding norm (12 us on
    // one thread) took 37-40 us at 2 threads with 16K, a worker's wake-up for a few us of work.
    parallel_for(ctx.pool(), outer, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, d)), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        if constexpr (kRms) kernels::f32_rmsnorm_row(px + r * d, scale, nullptr, py + r * d, d, eps_);
        else
          kernels::f32_layernorm_row_stats(px + r * d, scale, bias, py + r * d, d, eps_, mean ? mean + r : nullptr,
                                           inv ? inv + r : nullptr);
      }
    });
  }

  std::string name_;
  int64_t axis_ = -1, stash_ = 1;
  float eps_ = 1e-5f;
};

class GroupNormKernel : public OpKernel {
 public:
  explicit GroupNormKernel(const OpInit& init) {
    groups_ = init.attrs().require_int("num_groups");
    if (groups_ <= 0) throw InvalidModel(str("GroupNormalization: num_groups must be positive, got ", groups_));
    eps_ = init.attrs().get_float("epsilon", 1e-5f);
    per_channel_ = init.opset() >= 21;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() >= 2, InvalidArgument, "GroupNormalization: X must have rank >= 2, got ", x.shape().str());
    int64_t n = x.dim(0), c = x.dim(1), s = x.shape().prod(2, x.rank());
    int64_t g = groups_;
    FI_CHECK(c % g == 0, InvalidArgument, "GroupNormalization: channels ", c, " not divisible by num_groups ", g);
    int64_t cg = c / g;
    int64_t pn = per_channel_ ? c : g;
    const Tensor& st = ctx.in(1);
    const Tensor& bt = ctx.in(2);
    FI_CHECK(st.numel() == pn && bt.numel() == pn, InvalidArgument, "GroupNormalization: scale and bias must have ",
             pn, " elements, got ", st.numel(), " and ", bt.numel());
    std::vector<double> scale = reduce::to_doubles(st, "GroupNormalization");
    std::vector<double> bias = reduce::to_doubles(bt, "GroupNormalization");
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    if (n * c * s == 0) return;
    dispatch_float(x.dtype(), "GroupNormalization", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = reduce::FloatAcc<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      F eps = F(eps_);
      int64_t len = cg * s;
      int64_t grain = std::max<int64_t>(1, 8192 / len);
      parallel_for(ctx.pool(), n * g, grain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          const T* src = px + i * len;
          T* dst = py + i * len;
          F mean, var;
          reduce::row_moments<F>(src, len, mean, var);
          F inv = F(1) / std::sqrt(var + eps);
          int64_t grp = i % g;
          for (int64_t k = 0; k < cg; ++k) {
            size_t pi = size_t(per_channel_ ? grp * cg + k : grp);
            F a = F(scale[pi]) * inv, b = F(bias[pi]) - mean * a;
            for (int64_t j = 0; j < s; ++j) dst[k * s + j] = T(F(src[k * s + j]) * a + b);
          }
        }
      });
    });
  }

 private:
  int64_t groups_ = 1;
  float eps_ = 1e-5f;
  bool per_channel_ = true;
};

}  // namespace

void register_layer_norm_kernels(OpRegistry& r) {
  r.add("LayerNormalization", 17, make_kernel<LayerNormKernel<false>>);
  r.add("RMSNormalization", 23, make_kernel<LayerNormKernel<true>>);
  r.add("GroupNormalization", 18, make_kernel<GroupNormKernel>);
}

}  // namespace fi
