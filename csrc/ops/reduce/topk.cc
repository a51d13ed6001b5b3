// TopK: the k largest (or smallest) elements along one axis and their int64 indices, sorted
// (ties: lower index first; NaN counts as larger than any number). Layout: outer x D x inner.
#include <algorithm>
#include <cmath>

#include "ops/reduce/register.h"
#include "ops/reduce/reduce_util.h"

namespace fi {
namespace {

class TopKKernel : public OpKernel {
 public:
  explicit TopKKernel(const OpInit& init) {
    k_from_input_ = init.opset() >= 10;
    if (!k_from_input_) k_attr_ = init.attrs().require_int("k");
    axis_ = init.attrs().get_int("axis", -1);
    largest_ = init.attrs().get_int("largest", 1) != 0;
    sorted_ = init.attrs().get_int("sorted", 1) != 0;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    int64_t k = k_attr_;
    if (k_from_input_) {
      const Tensor& kt = ctx.in(1);
      FI_CHECK(kt.numel() == 1 && kt.rank() <= 1, InvalidArgument, "TopK: K must hold one value, got shape ",
               kt.shape().str());
      k = reduce::int_input(kt, "K")[0];
    }
    FI_CHECK(x.rank() >= 1, InvalidArgument, "TopK: input must have rank >= 1");
    int64_t axis = normalize_axis(axis_, x.rank());
    const Shape& s = x.shape();
    int64_t outer = s.prod(0, int(axis)), d = s[size_t(axis)], inner = s.prod(int(axis) + 1, x.rank());
    FI_CHECK(k >= 0 && k <= d, InvalidArgument, "TopK: k = ", k, " is out of range for axis of size ", d);
    Shape os = s;
    os[size_t(axis)] = k;
    Tensor& vals = ctx.output(0, x.dtype(), os);
    Tensor& idxs = ctx.output(1, DataType::Int64, os);
    if (outer * inner * k == 0) return;
    dispatch_numeric(x.dtype(), "TopK", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = typename std::conditional<std::is_same<T, Float16>::value || std::is_same<T, BFloat16>::value,
                                          float, T>::type;
      const T* px = x.data<T>();
      T* pv = vals.data<T>();
      int64_t* pi = idxs.data<int64_t>();
      bool largest = largest_;
      // Strict weak order "a comes before b" over (value, index) pairs.
      auto before = [largest](const std::pair<A, int64_t>& a, const std::pair<A, int64_t>& b) {
        bool an = reduce::is_nan(a.first), bn = reduce::is_nan(b.first);
        if (an || bn) {
          if (an && bn) return a.second < b.second;
          return largest ? an : bn;
        }
        if (a.first != b.first) return largest ? a.first > b.first : a.first < b.first;
        return a.second < b.second;
      };
      int64_t lines = outer * inner;
      int64_t grain = std::max<int64_t>(1, 4096 / d);
      parallel_for(ctx.pool(), lines, grain, [&](int64_t b, int64_t e) {
        std::vector<std::pair<A, int64_t>> buf(static_cast<size_t>(d));
        for (int64_t l = b; l < e; ++l) {
          int64_t o = l / inner, j = l % inner;
          const T* src = px + o * d * inner + j;
          for (int64_t i = 0; i < d; ++i) buf[size_t(i)] = {A(src[i * inner]), i};
          if (k < d) std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), before);
          else std::sort(buf.begin(), buf.end(), before);
          T* dv = pv + o * k * inner + j;
          int64_t* di = pi + o * k * inner + j;
          for (int64_t i = 0; i < k; ++i) {
            dv[i * inner] = src[buf[size_t(i)].second * inner];
            di[i * inner] = buf[size_t(i)].second;
          }
        }
      });
    });
  }

 private:
  bool k_from_input_ = true, largest_ = true, sorted_ = true;
  int64_t k_attr_ = 0, axis_ = -1;
};

}  // namespace

void register_topk_kernels(OpRegistry& r) { r.add("TopK", 1, make_kernel<TopKKernel>); }

}  // namespace fi
