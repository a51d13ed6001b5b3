// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum,
// ReduceLogSumExp, ReduceSumSquare over any set of axes of a contiguous row-major tensor.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/op_util.h"
#include "ops/reduce/fast_exp.h"
#include "ops/reduce/reduce_util.h"
#include "ops/reduce/register.h"

namespace fi {
namespace {

using reduce::Acc;
using reduce::ReducePlan;

constexpr int64_t kChunk = 32768;  // elements per parallel chunk of one long reduction

enum class RK { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

// Per-reduction element ops: init (empty-set value before finish), map (per element),
// combine (associative), finish (accumulator and count to the stored value).
template <RK K, class T, class A>
struct ROp {
  static A init() {
    if constexpr (K == RK::Prod) return A(1);
    else if constexpr (K == RK::Max || K == RK::LogSumExp) {
      if constexpr (std::is_floating_point<A>::value) return -std::numeric_limits<A>::infinity();
      else return A(std::numeric_limits<T>::lowest());
    } else if constexpr (K == RK::Min) {
      if constexpr (std::is_floating_point<A>::value) return std::numeric_limits<A>::infinity();
      else return A(std::numeric_limits<T>::max());
    } else return A(0);
  }
  static A map(A x) {
    if constexpr (K == RK::L1) {
      if constexpr (std::is_signed<A>::value || std::is_floating_point<A>::value)
        return x < A(0) ? reduce::wrap_neg(x) : x;
      else return x;
    } else if constexpr (K == RK::L2 || K == RK::SumSquare) return reduce::wrap_mul(x, x);
    else return x;
  }
  static A combine(A a, A b) {
    if constexpr (K == RK::Max || K == RK::LogSumExp) return ((b > a) | reduce::is_nan(b)) ? b : a;
    else if constexpr (K == RK::Min) return ((b < a) | reduce::is_nan(b)) ? b : a;
    else if constexpr (K == RK::Prod) return reduce::wrap_mul(a, b);
    else return reduce::wrap_add(a, b);
  }
  static T finish(A a, int64_t n) {
    if constexpr (K == RK::Mean) {
      if (n == 0) {
        if constexpr (std::is_floating_point<A>::value) return reduce::to_storage<T>(std::numeric_limits<A>::quiet_NaN());
        else return T(0);
      }
      return reduce::to_storage<T>(A(a / A(n)));
    } else if constexpr (K == RK::L2) {
      return reduce::to_storage<T>(std::sqrt(double(a)));
    } else if constexpr (K == RK::LogSum) {
      return reduce::to_storage<T>(std::log(double(a)));
    } else {
      return reduce::to_storage<T>(a);
    }
  }
};

// Reduces n contiguous elements into acc. Sixteen independent lane accumulators, updated
// element-wise, let the compiler vectorise even max/min with NaN checks (a scalar reduction
// with a select is not vectorised under strict IEEE flags); lanes are combined pairwise.
template <class O, class T, class A>
A reduce_run(const T* x, int64_t n, A acc) {
  constexpr int kLanes = 16;
  A lane[kLanes];
  for (int j = 0; j < kLanes; ++j) lane[j] = O::init();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    // Kept as a loop (not unrolled into scalar code) so the loop vectoriser if-converts max/min.
#pragma GCC unroll 1
    for (int j = 0; j < kLanes; ++j) lane[j] = O::combine(lane[j], O::map(A(x[i + j])));
  }
  for (; i < n; ++i) lane[0] = O::combine(lane[0], O::map(A(x[i])));
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) lane[j] = O::combine(lane[j], lane[j + w]);
  return O::combine(acc, lane[0]);
}

template <RK K, class T>
void reduce_generic(const ReducePlan& p, const T* x, T* y, ThreadPool* pool) {
  using A = Acc<T>;
  using O = ROp<K, T, A>;
  int64_t work = std::max<int64_t>(1, p.n_rsteps * p.inner);
  if (p.inner_reduced && p.rdims.empty() && p.inner >= 2 * kChunk && p.n_outer < 16) {
    // Few long contiguous rows: fixed-size chunks reduced in parallel, combined in order, so
    // the result does not depend on the number of threads.
    int64_t nc = (p.inner + kChunk - 1) / kChunk;
    std::vector<A> part(static_cast<size_t>(p.n_outer * nc));
    parallel_for(pool, p.n_outer * nc, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        int64_t o = i / nc, c = i % nc;
        int64_t len = std::min(kChunk, p.inner - c * kChunk);
        part[size_t(i)] = reduce_run<O, T, A>(x + reduce::kept_offset(p, o) + c * kChunk, len, O::init());
      }
    });
    for (int64_t o = 0; o < p.n_outer; ++o) {
      A acc = O::init();
      for (int64_t c = 0; c < nc; ++c) acc = O::combine(acc, part[size_t(o * nc + c)]);
      y[o] = O::finish(acc, p.n_reduced);
    }
    return;
  }
  if (p.inner_reduced) {
    int64_t grain = std::max<int64_t>(1, 16384 / work);
    parallel_for(pool, p.n_outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* base = x + reduce::kept_offset(p, o);
        A acc = O::init();
        reduce::for_each_reduced(p, [&](int64_t off) { acc = reduce_run<O, T, A>(base + off, p.inner, acc); });
        y[o] = O::finish(acc, p.n_reduced);
      }
    });
  } else {
    // Inner kept run split into blocks of at most kBlock outputs: (outer, block) pairs run in
    // parallel, each accumulating its block row by row.
    constexpr int64_t kBlock = 1024;
    int64_t kin = p.inner, nb = (kin + kBlock - 1) / kBlock;
    int64_t grain = std::max<int64_t>(1, 16384 / (p.n_rsteps * std::min(kin, kBlock)));
    parallel_for(pool, p.n_outer * nb, grain, [&](int64_t b, int64_t e) {
      std::vector<A> acc(static_cast<size_t>(std::min(kin, kBlock)));
      for (int64_t i = b; i < e; ++i) {
        int64_t o = i / nb, j0 = (i % nb) * kBlock, len = std::min(kBlock, kin - j0);
        const T* base = x + reduce::kept_offset(p, o) + j0;
        std::fill(acc.begin(), acc.begin() + len, O::init());
        reduce::for_each_reduced(p, [&](int64_t off) {
          const T* row = base + off;
          for (int64_t j = 0; j < len; ++j) acc[size_t(j)] = O::combine(acc[size_t(j)], O::map(A(row[j])));
        });
        T* out = y + o * kin + j0;
        for (int64_t j = 0; j < len; ++j) out[j] = O::finish(acc[size_t(j)], p.n_reduced);
      }
    });
  }
}

// log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m the maximum.
template <class T>
void reduce_log_sum_exp(const ReducePlan& p, const T* x, T* y, ThreadPool* pool) {
  using F = typename std::conditional<std::is_same<T, float>::value || std::is_same<T, Float16>::value ||
                                          std::is_same<T, BFloat16>::value,
                                      float, double>::type;
  auto lse = [](F m, F s) -> F {
    if (std::isinf(m) || std::isnan(m)) return m;
    return m + std::log(s);
  };
  int64_t work = std::max<int64_t>(1, p.n_rsteps * p.inner);
  int64_t grain = std::max<int64_t>(1, 8192 / work);
  int64_t kin = p.inner_reduced ? 1 : p.inner;
  parallel_for(pool, p.n_outer, grain, [&](int64_t b, int64_t e) {
    std::vector<F> m(static_cast<size_t>(kin)), s(static_cast<size_t>(kin));
    for (int64_t o = b; o < e; ++o) {
      const T* base = x + reduce::kept_offset(p, o);
      std::fill(m.begin(), m.end(), -std::numeric_limits<F>::infinity());
      std::fill(s.begin(), s.end(), F(0));
      if (p.inner_reduced) {
        reduce::for_each_reduced(p, [&](int64_t off) {
          m[0] = ROp<RK::Max, F, F>::combine(m[0], reduce_run<ROp<RK::Max, T, F>, T, F>(base + off, p.inner,
                                                                                       ROp<RK::Max, T, F>::init()));
        });
        F mm = m[0];
        if (!std::isinf(mm) && !std::isnan(mm))
          reduce::for_each_reduced(p, [&](int64_t off) { s[0] += reduce::sum_exp_shifted(base + off, p.inner, mm); });
        y[o] = reduce::to_storage<T>(lse(mm, s[0]));
      } else {
        reduce::for_each_reduced(p, [&](int64_t off) {
          for (int64_t j = 0; j < kin; ++j) {
            F v = F(base[off + j]);
            if (v > m[size_t(j)] || std::isnan(v)) m[size_t(j)] = v;
          }
        });
        reduce::for_each_reduced(p, [&](int64_t off) {
          for (int64_t j = 0; j < kin; ++j) {
            F mm = m[size_t(j)];
            if (!std::isinf(mm) && !std::isnan(mm)) s[size_t(j)] += reduce::exp_fast(F(base[off + j]) - mm);
          }
        });
        for (int64_t j = 0; j < kin; ++j) y[o * kin + j] = reduce::to_storage<T>(lse(m[size_t(j)], s[size_t(j)]));
      }
    }
  });
}

template <RK K>
class ReduceKernel : public OpKernel {
 public:
  explicit ReduceKernel(const OpInit& init) : name_(init.op_type()) {
    int since = K == RK::Sum ? 13 : 18;
    axes_from_input_ = init.opset() >= since;
    keepdims_ = init.attrs().get_int("keepdims", 1) != 0;
    noop_ = axes_from_input_ && init.attrs().get_int("noop_with_empty_axes", 0) != 0;
    if (!axes_from_input_) axes_ = init.attrs().get_ints("axes");
    else if (init.attrs().has("axes"))
      throw InvalidModel(str(name_, ": 'axes' is an input from opset ", since, ", not an attribute"));
    small_ints_ = (K == RK::Max || K == RK::Min) && init.opset() >= 12;
    with_bool_ = (K == RK::Max || K == RK::Min) && init.opset() >= 20;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    std::vector<int64_t> axes = axes_;
    if (axes_from_input_ && ctx.input(1)) axes = reduce::int_input(*ctx.input(1), "axes");
    int rank = x.rank();
    std::vector<bool> reduced = reduce::axes_mask(axes, rank);
    if (axes.empty() && !noop_) std::fill(reduced.begin(), reduced.end(), true);
    ReducePlan p = reduce::make_reduce_plan(x.shape(), reduced, keepdims_);
    Tensor& y = ctx.output(0, x.dtype(), p.out_shape);
    constexpr bool kMinMax = K == RK::Max || K == RK::Min;
    reduce::dispatch_reduce_types<kMinMax, kMinMax>(x.dtype(), name_.c_str(), small_ints_, with_bool_, [&](auto tag) {
      using T = typename decltype(tag)::type;
      {
        T* py = y.data<T>();
        if (p.n_out == 0) return;
        if (p.n_reduced == 0) {
          T v;
          if constexpr (K == RK::LogSumExp) v = reduce::to_storage<T>(-std::numeric_limits<double>::infinity());
          else v = ROp<K, T, Acc<T>>::finish(ROp<K, T, Acc<T>>::init(), 0);
          std::fill(py, py + p.n_out, v);
          return;
        }
        if constexpr (K == RK::LogSumExp) reduce_log_sum_exp<T>(p, x.data<T>(), py, ctx.pool());
        else reduce_generic<K, T>(p, x.data<T>(), py, ctx.pool());
      }
    });
  }

 private:
  std::string name_;
  bool axes_from_input_ = false, keepdims_ = true, noop_ = false, small_ints_ = false, with_bool_ = false;
  std::vector<int64_t> axes_;
};

}  // namespace

void register_reduce_kernels(OpRegistry& r) {
  r.add("ReduceSum", 1, make_kernel<ReduceKernel<RK::Sum>>);
  r.add("ReduceMean", 1, make_kernel<ReduceKernel<RK::Mean>>);
  r.add("ReduceMax", 1, make_kernel<ReduceKernel<RK::Max>>);
  r.add("ReduceMin", 1, make_kernel<ReduceKernel<RK::Min>>);
  r.add("ReduceProd", 1, make_kernel<ReduceKernel<RK::Prod>>);
  r.add("ReduceL1", 1, make_kernel<ReduceKernel<RK::L1>>);
  r.add("ReduceL2", 1, make_kernel<ReduceKernel<RK::L2>>);
  r.add("ReduceLogSum", 1, make_kernel<ReduceKernel<RK::LogSum>>);
  r.add("ReduceLogSumExp", 1, make_kernel<ReduceKernel<RK::LogSumExp>>);
  r.add("ReduceSumSquare", 1, make_kernel<ReduceKernel<RK::SumSquare>>);
}

}  // namespace fi
