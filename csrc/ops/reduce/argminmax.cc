// ArgMax / ArgMin: int64 index of the largest / smallest element along one axis
// (first occurrence, or last with select_last_index). Layout: outer x D x inner, row-major.
#include <algorithm>

#include "ops/reduce/register.h"
#include "ops/reduce/reduce_util.h"

namespace fi {
namespace {

template <bool kMax>
class ArgKernel : public OpKernel {
 public:
  explicit ArgKernel(const OpInit& init) : name_(init.op_type()) {
    axis_ = init.attrs().get_int("axis", 0);
    keepdims_ = init.attrs().get_int("keepdims", 1) != 0;
    last_ = init.attrs().get_int("select_last_index", 0) != 0;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    int64_t axis = normalize_axis(axis_, std::max(1, x.rank()));
    FI_CHECK(x.rank() >= 1, InvalidArgument, name_, ": input must have rank >= 1");
    const Shape& s = x.shape();
    int64_t outer = s.prod(0, int(axis)), d = s[size_t(axis)], inner = s.prod(int(axis) + 1, x.rank());
    Shape os;
    for (int i = 0; i < x.rank(); ++i) {
      if (i == axis) { if (keepdims_) os.push_back(1); }
      else os.push_back(s[size_t(i)]);
    }
    Tensor& y = ctx.output(0, DataType::Int64, os);
    int64_t* py = y.data<int64_t>();
    if (outer * inner == 0) return;
    FI_CHECK(d > 0, InvalidArgument, name_, ": cannot reduce an empty axis ", axis);
    dispatch_numeric(x.dtype(), name_.c_str(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = reduce::Acc<T>;
      const T* px = x.data<T>();
      bool last = last_;
      int64_t grain = std::max<int64_t>(1, 16384 / (d * inner));
      parallel_for(ctx.pool(), outer, grain, [&](int64_t b, int64_t e) {
        std::vector<A> best(static_cast<size_t>(inner));
        for (int64_t o = b; o < e; ++o) {
          const T* blk = px + o * d * inner;
          int64_t* out = py + o * inner;
          for (int64_t j = 0; j < inner; ++j) { best[size_t(j)] = A(blk[j]); out[j] = 0; }
          for (int64_t k = 1; k < d; ++k) {
            const T* row = blk + k * inner;
            for (int64_t j = 0; j < inner; ++j) {
              A v = A(row[j]);
              A bv = best[size_t(j)];
              bool take = kMax ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
              if (take) { best[size_t(j)] = v; out[j] = k; }
            }
          }
        }
      });
    });
  }

 private:
  std::string name_;
  int64_t axis_ = 0;
  bool keepdims_ = true, last_ = false;
};

}  // namespace

void register_argminmax_kernels(OpRegistry& r) {
  r.add("ArgMax", 1, make_kernel<ArgKernel<true>>);
  r.add("ArgMin", 1, make_kernel<ArgKernel<false>>);
}

}  // namespace fi
