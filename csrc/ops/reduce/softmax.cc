// Softmax, LogSoftmax, Hardmax. Opset < 13: the input is viewed as 2-D [prod(dims[:axis]),
// prod(dims[axis:])] (axis default 1) and each row is normalised. Opset >= 13: along one axis
// (default -1), layout outer x D x inner. Numerically stable: x - max before exp.
// float32 Softmax/LogSoftmax run the vectorised kernels/vmath.h rows (inner == 1, rows split over
// the pool) or, along an inner axis, blocks of up to kCols contiguous columns: max down the axis,
// then one vectorised exp per row of the block.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/vmath.h"
#include "ops/reduce/fast_exp.h"
#include "ops/reduce/register.h"
#include "ops/reduce/reduce_util.h"

namespace fi {
namespace {

enum class SM { Softmax, LogSoftmax, Hardmax };

// One contiguous row of d elements (the common inner == 1 case); buf holds d values of F.
// Largest of d > 0 values, NaN if any is NaN; sixteen lanes so the loop vectorises.
template <class T, class F>
F row_max(const T* src, int64_t d) {
  constexpr int kLanes = 16;
  F lane[kLanes];
  for (int j = 0; j < kLanes; ++j) lane[j] = F(src[0]);
  int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes) {
#pragma GCC unroll 1
    for (int j = 0; j < kLanes; ++j) {
      F v = F(src[i + j]);
      lane[j] = ((v > lane[j]) | (v != v)) ? v : lane[j];
    }
  }
  for (; i < d; ++i) {
    F v = F(src[i]);
    lane[0] = ((v > lane[0]) | (v != v)) ? v : lane[0];
  }
  F m = lane[0];
  for (int j = 1; j < kLanes; ++j) m = ((lane[j] > m) | (lane[j] != lane[j])) ? lane[j] : m;
  return m;
}

template <SM K, class T, class F>
void softmax_row(const T* src, T* dst, int64_t d, F* buf) {
  if constexpr (K == SM::Hardmax) {
    F m = F(src[0]);
    int64_t arg = 0;
    for (int64_t k = 1; k < d; ++k) {
      F v = F(src[k]);
      if (v > m) { m = v; arg = k; }
    }
    for (int64_t k = 0; k < d; ++k) dst[k] = T(k == arg ? 1.0f : 0.0f);
  } else {
    F m = row_max<T, F>(src, d);
    for (int64_t k = 0; k < d; ++k) buf[k] = F(src[k]) - m;
    if constexpr (K == SM::Softmax) {
      for (int64_t i = 0; i < d; ++i) buf[i] = reduce::exp_fast(buf[i]);
      F inv = F(1) / reduce::lane_sum(buf, d);
      for (int64_t i = 0; i < d; ++i) dst[i] = T(buf[i] * inv);
    } else {
      F ls = std::log(reduce::sum_exp_shifted<F, F>(buf, d, F(0)));
      for (int64_t i = 0; i < d; ++i) dst[i] = T(buf[i] - ls);
    }
  }
}

// float32 softmax / log-softmax of x [outer, d, inner] along d.
template <SM K>
void softmax_f32(ThreadPool* pool, const float* x, float* y, int64_t outer, int64_t d, int64_t inner) {
  if (inner == 1) {
    parallel_for(pool, outer, std::max<int64_t>(1, 16384 / d), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        if constexpr (K == SM::Softmax) kernels::f32_softmax_row(x + o * d, y + o * d, d);
        else kernels::f32_log_softmax_row(x + o * d, y + o * d, d);
      }
    });
    return;
  }
  constexpr int64_t kCols = 256;
  const int64_t blocks = (inner + kCols - 1) / kCols;
  parallel_for(pool, outer * blocks, std::max<int64_t>(1, 16384 / (d * std::min(inner, kCols))),
               [&](int64_t b, int64_t e) {
    float m[kCols], sum[kCols], t[kCols];
    for (int64_t task = b; task < e; ++task) {
      const int64_t o = task / blocks, j0 = task % blocks * kCols, w = std::min(kCols, inner - j0);
      const float* xs = x + o * d * inner + j0;
      float* ys = y + o * d * inner + j0;
      for (int64_t j = 0; j < w; ++j) { m[j] = xs[j]; sum[j] = 0.f; }
      for (int64_t k = 1; k < d; ++k)
        for (int64_t j = 0; j < w; ++j) m[j] = xs[k * inner + j] > m[j] ? xs[k * inner + j] : m[j];
      for (int64_t k = 0; k < d; ++k) {
        float* yr = ys + k * inner;
        for (int64_t j = 0; j < w; ++j) yr[j] = xs[k * inner + j] - m[j];
        float* ex = K == SM::Softmax ? yr : t;
        kernels::f32_exp(yr, ex, w);
        for (int64_t j = 0; j < w; ++j) sum[j] += ex[j];
      }
      for (int64_t j = 0; j < w; ++j) sum[j] = K == SM::Softmax ? 1.f / sum[j] : -std::log(sum[j]);
      for (int64_t k = 0; k < d; ++k) {
        float* yr = ys + k * inner;
        if constexpr (K == SM::Softmax) for (int64_t j = 0; j < w; ++j) yr[j] *= sum[j];
        else for (int64_t j = 0; j < w; ++j) yr[j] += sum[j];
      }
    }
  });
}

template <SM K>
class SoftmaxKernel : public OpKernel {
 public:
  explicit SoftmaxKernel(const OpInit& init) : name_(init.op_type()) {
    coerce_2d_ = init.opset() < 13;
    axis_ = init.attrs().get_int("axis", coerce_2d_ ? 1 : -1);
  }

  // Every path reads a row (or column block) of x before writing that part of y, and afterwards
  // reads only y: y may take x's memory.
  int inplace_input() const override { return 0; }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Shape& s = x.shape();
    int rank = x.rank();
    Tensor& y = ctx.output(0, x.dtype(), s);
    int64_t outer, d, inner;
    if (rank == 0) {
      FI_CHECK(axis_ == 0 || axis_ == -1, InvalidArgument, name_, ": axis ", axis_, " out of range for a scalar");
      outer = 1; d = 1; inner = 1;
    } else if (coerce_2d_) {
      int64_t a = axis_ < 0 ? axis_ + rank : axis_;  // the 2-D view also allows axis == rank
      FI_CHECK(a >= 0 && a <= rank, InvalidArgument, name_, ": axis ", axis_, " out of range for rank ", rank);
      outer = s.prod(0, int(a)); d = s.prod(int(a), rank); inner = 1;
    } else {
      int64_t a = normalize_axis(axis_, rank);
      outer = s.prod(0, int(a)); d = s[size_t(a)]; inner = s.prod(int(a) + 1, rank);
    }
    if (outer * d * inner == 0) return;
    if constexpr (K != SM::Hardmax) {
      if (x.dtype() == DataType::Float)
        return softmax_f32<K>(ctx.pool(), x.data<float>(), y.data<float>(), outer, d, inner);
    }
    dispatch_float(x.dtype(), name_.c_str(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using F = reduce::FloatAcc<T>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      int64_t grain = std::max<int64_t>(1, 8192 / (d * inner));
      if (inner == 1) {
        parallel_for(ctx.pool(), outer, grain, [&](int64_t b, int64_t e) {
          std::vector<F> buf(static_cast<size_t>(d));
          for (int64_t o = b; o < e; ++o) softmax_row<K, T, F>(px + o * d, py + o * d, d, buf.data());
        });
        return;
      }
      parallel_for(ctx.pool(), outer, grain, [&](int64_t b, int64_t e) {
        std::vector<F> m(static_cast<size_t>(inner)), sum(static_cast<size_t>(inner));
        std::vector<int64_t> arg(static_cast<size_t>(inner));
        std::vector<F> buf(static_cast<size_t>(d * inner));
        for (int64_t o = b; o < e; ++o) {
          const T* blk = px + o * d * inner;
          T* out = py + o * d * inner;
          for (int64_t j = 0; j < inner; ++j) { m[size_t(j)] = F(blk[j]); arg[size_t(j)] = 0; }
          for (int64_t k = 1; k < d; ++k)
            for (int64_t j = 0; j < inner; ++j) {
              F v = F(blk[k * inner + j]);
              if (v > m[size_t(j)]) { m[size_t(j)] = v; arg[size_t(j)] = k; }
            }
          if constexpr (K == SM::Hardmax) {
            for (int64_t i = 0; i < d * inner; ++i) out[i] = T(0.0f);
            for (int64_t j = 0; j < inner; ++j) out[arg[size_t(j)] * inner + j] = T(1.0f);
          } else {
            std::fill(sum.begin(), sum.end(), F(0));
            for (int64_t k = 0; k < d; ++k)
              for (int64_t j = 0; j < inner; ++j) {
                F t = F(blk[k * inner + j]) - m[size_t(j)];
                F ex = reduce::exp_fast(t);
                sum[size_t(j)] += ex;
                buf[size_t(k * inner + j)] = K == SM::Softmax ? ex : t;
              }
            if constexpr (K == SM::Softmax) {
              for (int64_t j = 0; j < inner; ++j) sum[size_t(j)] = F(1) / sum[size_t(j)];
              for (int64_t k = 0; k < d; ++k)
                for (int64_t j = 0; j < inner; ++j)
                  out[k * inner + j] = T(buf[size_t(k * inner + j)] * sum[size_t(j)]);
            } else {
              for (int64_t j = 0; j < inner; ++j) sum[size_t(j)] = std::log(sum[size_t(j)]);
              for (int64_t k = 0; k < d; ++k)
                for (int64_t j = 0; j < inner; ++j)
                  out[k * inner + j] = T(buf[size_t(k * inner + j)] - sum[size_t(j)]);
            }
          }
        }
      });
    });
  }

 private:
  std::string name_;
  bool coerce_2d_ = false;
  int64_t axis_ = -1;
};

}  // namespace

void register_softmax_kernels(OpRegistry& r) {
  r.add("Softmax", 1, make_kernel<SoftmaxKernel<SM::Softmax>>);
  r.add("LogSoftmax", 1, make_kernel<SoftmaxKernel<SM::LogSoftmax>>);
  r.add("Hardmax", 1, make_kernel<SoftmaxKernel<SM::Hardmax>>);
}

}  // namespace fi
