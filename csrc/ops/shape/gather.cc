// Gather (whole slices along an axis), GatherElements (one element per index, same rank) and
// GatherND (index tuples into the leading dims, with batch_dims). Indices may be negative and
// are all validated before anything is read.
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

// Indices normalised to [0, dim): negative values count from the end; others throw.
std::vector<int64_t> checked_indices(const Tensor& t, int64_t dim, const char* what) {
  std::vector<int64_t> idx = read_indices(t, what);
  for (int64_t& v : idx) {
    FI_CHECK(v >= -dim && v < dim, InvalidArgument, what, " value ", v, " out of range [", -dim, ", ", dim - 1, "]");
    if (v < 0) v += dim;
  }
  return idx;
}

// Gather: y[outer, j..., inner] = x[outer, indices[j...], inner].
class GatherKernel : public OpKernel {
 public:
  explicit GatherKernel(const OpInit& init) : axis_(init.attrs().get_int("axis", 0)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& it = ctx.in(1);
    FI_CHECK(x.rank() > 0, InvalidArgument, "Gather needs data of rank >= 1");
    int64_t a = normalize_axis(axis_, x.rank());
    int64_t dim = x.dim(int(a));
    std::vector<int64_t> idx = checked_indices(it, dim, "indices");
    Shape out;
    for (int i = 0; i < a; ++i) out.push_back(x.dim(i));
    for (int64_t d : it.shape()) out.push_back(d);
    for (int i = int(a) + 1; i < x.rank(); ++i) out.push_back(x.dim(i));
    Tensor& y = ctx.output(0, x.dtype(), out);
    int64_t outer = x.shape().prod(0, int(a)), inner = x.shape().prod(int(a) + 1, x.rank());
    int64_t ni = int64_t(idx.size());
    if (y.numel() == 0) return;
    dispatch_by_size(x.dtype(), "Gather", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      parallel_for(ctx.pool(), outer * ni, copy_grain(inner * int64_t(sizeof(T))), [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          int64_t o = t / ni, j = t % ni;
          const T* s = px + (o * dim + idx[size_t(j)]) * inner;
          std::copy(s, s + inner, py + t * inner);
        }
      });
    });
  }

 private:
  int64_t axis_;
};

// GatherElements: y[i...] = x[i... with i_axis replaced by indices[i...]]; y has indices' shape.
class GatherElementsKernel : public OpKernel {
 public:
  explicit GatherElementsKernel(const OpInit& init) : axis_(init.attrs().get_int("axis", 0)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& it = ctx.in(1);
    FI_CHECK(x.rank() > 0 && it.rank() == x.rank(), InvalidArgument, "data ", x.shape().str(), " and indices ",
             it.shape().str(), " must have the same rank >= 1");
    int64_t a = normalize_axis(axis_, x.rank());
    for (int k = 0; k < x.rank(); ++k)
      FI_CHECK(k == a || it.dim(k) <= x.dim(k), InvalidArgument, "indices ", it.shape().str(),
               " exceed data ", x.shape().str(), " on axis ", k);
    std::vector<int64_t> idx = checked_indices(it, x.dim(int(a)), "indices");
    Tensor& y = ctx.output(0, x.dtype(), it.shape());
    if (y.numel() == 0) return;
    Shape xs = contiguous_strides(x.shape());
    const int r = x.rank();
    const int64_t inner = it.dim(r - 1);
    const int64_t rows = it.numel() / inner;
    dispatch_by_size(x.dtype(), "GatherElements", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      parallel_for(ctx.pool(), rows, std::max<int64_t>(1, 4096 / inner), [&](int64_t b, int64_t e) {
        for (int64_t row = b; row < e; ++row) {
          int64_t rem = row, base = 0;
          for (int k = r - 2; k >= 0; --k) {
            int64_t i = rem % it.dim(k);
            rem /= it.dim(k);
            if (k != a) base += i * xs[size_t(k)];
          }
          for (int64_t j = 0; j < inner; ++j) {
            int64_t p = row * inner + j;
            int64_t off = base + idx[size_t(p)] * xs[size_t(a)] + (a == r - 1 ? 0 : j);
            py[p] = px[off];
          }
        }
      });
    });
  }

 private:
  int64_t axis_;
};

// GatherND: indices [..., k] select slices x[b..., i_1..i_k, ...]; the first batch_dims dims of
// x and indices are shared. y shape = indices.shape[:-1] + x.shape[batch_dims + k:].
class GatherNDKernel : public OpKernel {
 public:
  explicit GatherNDKernel(const OpInit& init) : batch_dims_(init.attrs().get_int("batch_dims", 0)) {
    FI_CHECK(batch_dims_ >= 0, InvalidModel, "batch_dims must be >= 0");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& it = ctx.in(1);
    const int64_t b = batch_dims_, r = x.rank(), q = it.rank();
    FI_CHECK(q >= 1 && r >= 1 && b < std::min(r, q), InvalidArgument, "invalid ranks: data ", x.shape().str(),
             ", indices ", it.shape().str(), ", batch_dims ", b);
    const int64_t k = it.dim(int(q - 1));
    FI_CHECK(k >= 1 && k <= r - b, InvalidArgument, "indices last dim ", k, " must be in [1, ", r - b, "]");
    for (int i = 0; i < b; ++i)
      FI_CHECK(x.dim(i) == it.dim(i), InvalidArgument, "batch dim ", i, " differs: data ", x.shape().str(),
               ", indices ", it.shape().str());
    std::vector<int64_t> idx = read_indices(it, "indices");
    Shape out;
    for (int i = 0; i < q - 1; ++i) out.push_back(it.dim(i));
    for (int i = int(b + k); i < r; ++i) out.push_back(x.dim(i));
    Shape xs = contiguous_strides(x.shape());
    const int64_t slice = x.shape().prod(int(b + k), int(r));
    const int64_t nbatch = x.shape().prod(0, int(b));
    const int64_t per_batch = it.shape().prod(int(b), int(q - 1));
    const int64_t batch_stride = x.shape().prod(int(b), int(r));
    std::vector<int64_t> offs(static_cast<size_t>(nbatch * per_batch));
    for (int64_t t = 0; t < nbatch * per_batch; ++t) {
      int64_t off = (t / std::max<int64_t>(per_batch, 1)) * batch_stride;
      for (int64_t j = 0; j < k; ++j) {
        int64_t v = idx[size_t(t * k + j)], d = x.dim(int(b + j));
        FI_CHECK(v >= -d && v < d, InvalidArgument, "index ", v, " out of range for dim ", d);
        if (v < 0) v += d;
        off += v * xs[size_t(b + j)];
      }
      offs[size_t(t)] = off;
    }
    Tensor& y = ctx.output(0, x.dtype(), out);
    if (y.numel() == 0) return;
    dispatch_by_size(x.dtype(), "GatherND", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      parallel_for(ctx.pool(), int64_t(offs.size()), copy_grain(slice * int64_t(sizeof(T))), [&](int64_t s, int64_t e) {
        for (int64_t t = s; t < e; ++t) std::copy(px + offs[size_t(t)], px + offs[size_t(t)] + slice, py + t * slice);
      });
    });
  }

 private:
  int64_t batch_dims_;
};

}  // namespace

void register_gather_ops(OpRegistry& r) {
  r.add("Gather", 1, make_kernel<GatherKernel>);
  r.add("GatherElements", 11, make_kernel<GatherElementsKernel>);
  r.add("GatherND", 11, make_kernel<GatherNDKernel>);
}

}  // namespace fi
