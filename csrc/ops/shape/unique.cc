// Unique: the distinct elements (or slices along `axis`) of the input, sorted or in order of
// first occurrence, with first-occurrence indices, inverse indices and counts (all int64).
#include <cmath>
#include <numeric>

#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

// A strict weak order: NaNs compare equal to each other and above every number.
template <class T>
bool less_value(const T& a, const T& b) {
  if constexpr (std::is_integral_v<T> || std::is_same_v<T, std::string>) {
    return a < b;
  } else {
    double fa = double(a), fb = double(b);
    if (std::isnan(fb)) return !std::isnan(fa);
    return !std::isnan(fa) && fa < fb;
  }
}

class UniqueKernel : public OpKernel {
 public:
  explicit UniqueKernel(const OpInit& init)
      : sorted_(init.attrs().get_int("sorted", 1) != 0), has_axis_(init.attrs().has("axis")),
        axis_(init.attrs().get_int("axis", 0)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    if (x.dtype() == DataType::String) run(ctx, x, TypeTag<std::string>{});
    else if (x.dtype() == DataType::Bool) run(ctx, x, TypeTag<bool>{});
    else dispatch_numeric(x.dtype(), "Unique", [&](auto tag) { run(ctx, x, tag); });
  }

 private:
  template <class Tag>
  void run(KernelContext& ctx, const Tensor& x, Tag) const {
    using T = typename Tag::type;
    int64_t a = has_axis_ ? normalize_axis(axis_, x.rank()) : 0;
    const int64_t n = has_axis_ ? x.dim(int(a)) : x.numel();
    const int64_t outer = has_axis_ ? x.shape().prod(0, int(a)) : 1;
    const int64_t inner = has_axis_ ? x.shape().prod(int(a) + 1, x.rank()) : 1;
    const T* px = x.data<T>();
    // Compares slices i and j lexicographically: -1, 0, 1.
    auto cmp = [&](int64_t i, int64_t j) {
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < inner; ++k) {
          const T& u = px[(o * n + i) * inner + k];
          const T& v = px[(o * n + j) * inner + k];
          if (less_value(u, v)) return -1;
          if (less_value(v, u)) return 1;
        }
      return 0;
    };
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return cmp(i, j) < 0; });
    // Groups of equal slices in sorted order: first occurrence and count of each.
    std::vector<int64_t> first, count, group_of(static_cast<size_t>(n));
    for (size_t p = 0; p < order.size(); ++p) {
      if (p == 0 || cmp(order[p - 1], order[p]) != 0) {
        first.push_back(order[p]);
        count.push_back(0);
      }
      count.back()++;
      group_of[size_t(order[p])] = int64_t(first.size()) - 1;
    }
    const int64_t u = int64_t(first.size());
    std::vector<int64_t> rank(static_cast<size_t>(u));  // output position of each group
    std::iota(rank.begin(), rank.end(), 0);
    if (!sorted_) {
      std::vector<int64_t> g(static_cast<size_t>(u));
      std::iota(g.begin(), g.end(), 0);
      std::sort(g.begin(), g.end(), [&](int64_t p, int64_t q) { return first[size_t(p)] < first[size_t(q)]; });
      for (int64_t i = 0; i < u; ++i) rank[size_t(g[size_t(i)])] = i;
    }
    std::vector<int64_t> out_first(static_cast<size_t>(u)), out_count(static_cast<size_t>(u));
    for (int64_t gi = 0; gi < u; ++gi) {
      out_first[size_t(rank[size_t(gi)])] = first[size_t(gi)];
      out_count[size_t(rank[size_t(gi)])] = count[size_t(gi)];
    }
    Shape ys = has_axis_ ? x.shape() : Shape{u};
    if (has_axis_) ys[size_t(a)] = u;
    Tensor& y = ctx.output(0, x.dtype(), ys);
    T* py = y.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < u; ++i) {
        const T* s = px + (o * n + out_first[size_t(i)]) * inner;
        std::copy(s, s + inner, py + (o * u + i) * inner);
      }
    if (ctx.has_output(1)) {
      Tensor& t = ctx.output(1, DataType::Int64, Shape{u});
      std::copy(out_first.begin(), out_first.end(), t.data<int64_t>());
    }
    if (ctx.has_output(2)) {
      Tensor& t = ctx.output(2, DataType::Int64, Shape{n});
      for (int64_t i = 0; i < n; ++i) t.data<int64_t>()[i] = rank[size_t(group_of[size_t(i)])];
    }
    if (ctx.has_output(3)) {
      Tensor& t = ctx.output(3, DataType::Int64, Shape{u});
      std::copy(out_count.begin(), out_count.end(), t.data<int64_t>());
    }
  }

  bool sorted_;
  bool has_axis_;
  int64_t axis_;
};

}  // namespace

void register_unique_ops(OpRegistry& r) { r.add("Unique", 11, make_kernel<UniqueKernel>); }

}  // namespace fi
