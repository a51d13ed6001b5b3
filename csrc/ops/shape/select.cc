// Selection and masking ops: NonZero (coordinates of non-zero elements), Compress (slices where
// a condition holds), Trilu (upper/lower triangle of the last two dims), ReverseSequence.
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

// NonZero: int64 [rank, nnz], the coordinates of non-zero elements in row-major order.
class NonZeroKernel : public OpKernel {
 public:
  explicit NonZeroKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    std::vector<int64_t> pos;
    auto collect = [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* p = x.data<T>();
      for (int64_t i = 0; i < x.numel(); ++i) {
        bool nz;
        if constexpr (std::is_integral_v<T>) nz = p[i] != 0;
        else nz = float(p[i]) != 0.f;
        if (nz) pos.push_back(i);
      }
    };
    if (x.dtype() == DataType::Bool) {
      const uint8_t* p = x.data<uint8_t>();
      for (int64_t i = 0; i < x.numel(); ++i)
        if (p[i]) pos.push_back(i);
    } else if (x.dtype() == DataType::Double) {
      const double* p = x.data<double>();
      for (int64_t i = 0; i < x.numel(); ++i)
        if (p[i] != 0) pos.push_back(i);
    } else {
      dispatch_numeric(x.dtype(), "NonZero", collect);
    }
    const int r = std::max(x.rank(), 1);
    const int64_t nnz = int64_t(pos.size());
    Tensor& y = ctx.output(0, DataType::Int64, Shape{int64_t(x.rank() == 0 ? 1 : x.rank()), nnz});
    int64_t* py = y.data<int64_t>();
    if (x.rank() == 0) {
      for (int64_t j = 0; j < nnz; ++j) py[j] = 0;
      return;
    }
    for (int64_t j = 0; j < nnz; ++j) {
      int64_t rem = pos[size_t(j)];
      for (int k = r - 1; k >= 0; --k) {
        py[k * nnz + j] = rem % x.dim(k);
        rem /= x.dim(k);
      }
    }
  }
};

// Compress: keeps the slices along axis (or elements of the flattened input) where condition is true.
class CompressKernel : public OpKernel {
 public:
  explicit CompressKernel(const OpInit& init) : has_axis_(init.attrs().has("axis")),
                                                 axis_(init.attrs().get_int("axis", 0)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& c = ctx.in(1);
    FI_CHECK(c.dtype() == DataType::Bool && c.rank() == 1, InvalidArgument, "condition must be a 1-D bool tensor");
    int64_t a = has_axis_ ? normalize_axis(axis_, x.rank()) : 0;
    int64_t dim = has_axis_ ? x.dim(int(a)) : x.numel();
    int64_t outer = has_axis_ ? x.shape().prod(0, int(a)) : 1;
    int64_t inner = has_axis_ ? x.shape().prod(int(a) + 1, x.rank()) : 1;
    const uint8_t* pc = c.data<uint8_t>();
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < c.numel(); ++i) {
      if (!pc[i]) continue;
      FI_CHECK(i < dim, InvalidArgument, "condition has a true entry at ", i, " beyond the axis size ", dim);
      keep.push_back(i);
    }
    Shape out;
    if (has_axis_) {
      out = x.shape();
      out[size_t(a)] = int64_t(keep.size());
    } else {
      out = Shape{int64_t(keep.size())};
    }
    Tensor& y = ctx.output(0, x.dtype(), out);
    const int64_t nk = int64_t(keep.size());
    dispatch_by_size(x.dtype(), "Compress", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < nk; ++j) {
          const T* s = px + (o * dim + keep[size_t(j)]) * inner;
          std::copy(s, s + inner, py + (o * nk + j) * inner);
        }
    });
  }

 private:
  bool has_axis_;
  int64_t axis_;
};

// Trilu: keeps x[..., i, j] where j - i >= k (upper) or j - i <= k (lower), zero elsewhere.
class TriluKernel : public OpKernel {
 public:
  explicit TriluKernel(const OpInit& init) : upper_(init.attrs().get_int("upper", 1) != 0) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() >= 2, InvalidArgument, "input must have rank >= 2, got ", x.shape().str());
    int64_t k = 0;
    if (const Tensor* tk = ctx.input(1)) {
      FI_CHECK(tk->numel() == 1, InvalidArgument, "k must be a scalar");
      k = read_indices(*tk, "k")[0];
    }
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    const int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
    const int64_t mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
    k = std::max<int64_t>(std::min<int64_t>(k, cols + 1), -rows - 1);
    const bool upper = upper_;
    dispatch_by_size(x.dtype(), "Trilu", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      const T zero{};
      parallel_for(ctx.pool(), mats * rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t t = b; t < e; ++t) {
                       int64_t i = t % rows;
                       const T* s = px + t * cols;
                       T* d = py + t * cols;
                       for (int64_t j = 0; j < cols; ++j) {
                         bool keep = upper ? (j - i >= k) : (j - i <= k);
                         d[j] = keep ? s[j] : zero;
                       }
                     }
                   });
    });
  }

 private:
  bool upper_;
};

// ReverseSequence: for each batch b, reverses the first sequence_lens[b] steps along time_axis.
class ReverseSequenceKernel : public OpKernel {
 public:
  explicit ReverseSequenceKernel(const OpInit& init)
      : batch_axis_(init.attrs().get_int("batch_axis", 1)), time_axis_(init.attrs().get_int("time_axis", 0)) {
    FI_CHECK((batch_axis_ == 0 && time_axis_ == 1) || (batch_axis_ == 1 && time_axis_ == 0), InvalidModel,
             "batch_axis and time_axis must be 0 and 1");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() >= 2, InvalidArgument, "input must have rank >= 2");
    std::vector<int64_t> lens = read_indices(ctx.in(1), "sequence_lens");
    const int64_t nb = x.dim(int(batch_axis_)), nt = x.dim(int(time_axis_));
    FI_CHECK(int64_t(lens.size()) == nb, InvalidArgument, "sequence_lens has ", lens.size(), " entries for batch ", nb);
    for (int64_t l : lens) FI_CHECK(l >= 0 && l <= nt, InvalidArgument, "sequence length ", l, " out of [0, ", nt, "]");
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    const int64_t inner = x.shape().prod(2, x.rank());
    const int64_t bs = (batch_axis_ == 0 ? nt : 1) * inner, ts = (time_axis_ == 0 ? nb : 1) * inner;
    dispatch_by_size(x.dtype(), "ReverseSequence", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      for (int64_t b = 0; b < nb; ++b)
        for (int64_t t = 0; t < nt; ++t) {
          int64_t src = t < lens[size_t(b)] ? lens[size_t(b)] - 1 - t : t;
          const T* s = px + b * bs + src * ts;
          std::copy(s, s + inner, py + b * bs + t * ts);
        }
    });
  }

 private:
  int64_t batch_axis_, time_axis_;
};

}  // namespace

void register_select_ops(OpRegistry& r) {
  r.add("NonZero", 9, make_kernel<NonZeroKernel>);
  r.add("Compress", 9, make_kernel<CompressKernel>);
  r.add("Trilu", 14, make_kernel<TriluKernel>);
  r.add("ReverseSequence", 10, make_kernel<ReverseSequenceKernel>);
}

}  // namespace fi
