// ScatterElements / Scatter (element-wise writes along an axis) and ScatterND (slice writes at
// index tuples), with the optional reductions add, mul (opset 16), max, min (opset 18).
// y starts as a copy of data; updates are applied in index order, so later duplicates win.
#include <type_traits>

#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

enum class Reduction { None, Add, Mul, Max, Min };

Reduction parse_reduction(const OpInit& init) {
  std::string s = init.attrs().get_string("reduction", "none");
  if (s == "none") return Reduction::None;
  if (s == "add") return Reduction::Add;
  if (s == "mul") return Reduction::Mul;
  if (s == "max") return Reduction::Max;
  if (s == "min") return Reduction::Min;
  throw InvalidModel(str("unknown reduction '", s, "'"));
}

template <class T>
T reduce(Reduction m, T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    switch (m) {
      case Reduction::Add: case Reduction::Max: return a || b;
      case Reduction::Mul: case Reduction::Min: return a && b;
      default: return b;
    }
  } else if constexpr (std::is_arithmetic_v<T>) {
    switch (m) {
      case Reduction::Add: return T(a + b);
      case Reduction::Mul: return T(a * b);
      case Reduction::Max: return a < b ? b : a;
      case Reduction::Min: return b < a ? b : a;
      default: return b;
    }
  } else {
    float fa = float(a), fb = float(b);
    switch (m) {
      case Reduction::Add: return T(fa + fb);
      case Reduction::Mul: return T(fa * fb);
      case Reduction::Max: return fa < fb ? b : a;
      case Reduction::Min: return fb < fa ? b : a;
      default: return b;
    }
  }
}

// Applies fn(TypeTag<T>) with a real element type for reductions, an opaque one otherwise.
template <class Fn>
void dispatch_scatter(DataType dt, Reduction m, const char* what, Fn&& fn) {
  if (m == Reduction::None) {
    dispatch_by_size(dt, what, fn);
  } else if (dt == DataType::Bool) {
    fn(TypeTag<bool>{});
  } else {
    dispatch_numeric(dt, what, fn);
  }
}

// ScatterElements: y = data; y[i... with i_axis = indices[i...]] (op)= updates[i...].
class ScatterElementsKernel : public OpKernel {
 public:
  explicit ScatterElementsKernel(const OpInit& init)
      : axis_(init.attrs().get_int("axis", 0)), red_(parse_reduction(init)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& it = ctx.in(1);
    const Tensor& up = ctx.in(2);
    const int r = x.rank();
    FI_CHECK(r >= 1 && it.rank() == r, InvalidArgument, "data ", x.shape().str(), " and indices ",
             it.shape().str(), " must have the same rank >= 1");
    FI_CHECK(up.shape() == it.shape(), InvalidArgument, "updates ", up.shape().str(), " must have the shape of indices ",
             it.shape().str());
    FI_CHECK(up.dtype() == x.dtype(), InvalidArgument, "updates and data types differ");
    int64_t a = normalize_axis(axis_, r);
    for (int k = 0; k < r; ++k)
      FI_CHECK(k == a || it.dim(k) <= x.dim(k), InvalidArgument, "indices ", it.shape().str(), " exceed data ",
               x.shape().str(), " on axis ", k);
    std::vector<int64_t> idx = read_indices(it, "indices");
    const int64_t dim = x.dim(int(a));
    Shape xs = contiguous_strides(x.shape());
    std::vector<int64_t> offs(idx.size());
    Shape pos;
    pos.resize(size_t(r), 0);
    for (size_t p = 0; p < idx.size(); ++p) {
      int64_t v = idx[p];
      FI_CHECK(v >= -dim && v < dim, InvalidArgument, "index ", v, " out of range [", -dim, ", ", dim - 1, "]");
      if (v < 0) v += dim;
      int64_t off = 0;
      for (int k = 0; k < r; ++k) off += (k == a ? v : pos[size_t(k)]) * xs[size_t(k)];
      offs[p] = off;
      for (int k = r - 1; k >= 0; --k) {
        if (++pos[size_t(k)] < it.dim(k)) break;
        pos[size_t(k)] = 0;
      }
    }
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    copy_tensor_data(y, x);
    Reduction m = red_;
    dispatch_scatter(x.dtype(), m, "ScatterElements", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* py = y.data<T>();
      const T* pu = up.data<T>();
      for (size_t p = 0; p < offs.size(); ++p) {
        if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>)
          py[offs[p]] = reduce<T>(m, py[offs[p]], pu[p]);
        else
          py[offs[p]] = pu[p];
      }
    });
  }

 private:
  int64_t axis_;
  Reduction red_;
};

// ScatterND: y = data; y[indices[j..., :]] (op)= updates[j...] (a slice of data.shape[k:]).
class ScatterNDKernel : public OpKernel {
 public:
  explicit ScatterNDKernel(const OpInit& init) : red_(parse_reduction(init)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& it = ctx.in(1);
    const Tensor& up = ctx.in(2);
    const int r = x.rank(), q = it.rank();
    FI_CHECK(q >= 1 && r >= 1, InvalidArgument, "data and indices must have rank >= 1");
    const int64_t k = it.dim(q - 1);
    FI_CHECK(k >= 1 && k <= r, InvalidArgument, "indices last dim ", k, " must be in [1, ", r, "]");
    FI_CHECK(up.dtype() == x.dtype(), InvalidArgument, "updates and data types differ");
    Shape ushape;
    for (int i = 0; i < q - 1; ++i) ushape.push_back(it.dim(i));
    for (int i = int(k); i < r; ++i) ushape.push_back(x.dim(i));
    FI_CHECK(up.shape() == ushape, InvalidArgument, "updates shape ", up.shape().str(), ", expected ", ushape.str());
    std::vector<int64_t> idx = read_indices(it, "indices");
    Shape xs = contiguous_strides(x.shape());
    const int64_t n = it.shape().prod(0, q - 1), slice = x.shape().prod(int(k), r);
    std::vector<int64_t> offs(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) {
      int64_t off = 0;
      for (int64_t j = 0; j < k; ++j) {
        int64_t v = idx[size_t(t * k + j)], d = x.dim(int(j));
        FI_CHECK(v >= -d && v < d, InvalidArgument, "index ", v, " out of range for dim ", d);
        if (v < 0) v += d;
        off += v * xs[size_t(j)];
      }
      offs[size_t(t)] = off;
    }
    Tensor& y = ctx.output(0, x.dtype(), x.shape());
    copy_tensor_data(y, x);
    Reduction m = red_;
    dispatch_scatter(x.dtype(), m, "ScatterND", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* py = y.data<T>();
      const T* pu = up.data<T>();
      for (int64_t t = 0; t < n; ++t) {
        T* d = py + offs[size_t(t)];
        const T* s = pu + t * slice;
        for (int64_t j = 0; j < slice; ++j) {
          if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>)
            d[j] = reduce<T>(m, d[j], s[j]);
          else
            d[j] = s[j];
        }
      }
    });
  }

 private:
  Reduction red_;
};

// TensorScatter (KV-cache update): y = past; for each prefix (dims before axis, batch = dim 0),
// y[prefix, (w[batch] + s) (mod max in circular mode), ...] = update[prefix, s, ...].
class TensorScatterKernel : public OpKernel {
 public:
  explicit TensorScatterKernel(const OpInit& init) : axis_(init.attrs().get_int("axis", -2)) {
    std::string m = init.attrs().get_string("mode", "linear");
    FI_CHECK(m == "linear" || m == "circular", InvalidModel, "unknown mode '", m, "'");
    circular_ = m == "circular";
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& past = ctx.in(0);
    const Tensor& up = ctx.in(1);
    const int r = past.rank();
    FI_CHECK(r >= 2 && up.rank() == r && up.dtype() == past.dtype(), InvalidArgument, "past_cache ",
             past.shape().str(), " and update ", up.shape().str(), " must have the same rank >= 2 and type");
    int64_t a = normalize_axis(axis_, r);
    FI_CHECK(a != 0, InvalidArgument, "axis cannot be the batch dimension");
    for (int k = 0; k < r; ++k)
      FI_CHECK(k == a || up.dim(k) == past.dim(k), InvalidArgument, "update ", up.shape().str(),
               " does not match past_cache ", past.shape().str());
    const int64_t maxlen = past.dim(int(a)), seq = up.dim(int(a)), nb = past.dim(0);
    FI_CHECK(seq <= maxlen, InvalidArgument, "update sequence ", seq, " longer than the cache ", maxlen);
    std::vector<int64_t> w(static_cast<size_t>(nb), 0);
    if (const Tensor* wi = ctx.input(2)) {
      w = read_indices(*wi, "write_indices");
      FI_CHECK(int64_t(w.size()) == nb, InvalidArgument, "write_indices has ", w.size(), " entries for batch ", nb);
    }
    for (int64_t v : w) {
      FI_CHECK(v >= 0 && v <= maxlen, InvalidArgument, "write index ", v, " out of [0, ", maxlen, "]");
      FI_CHECK(circular_ || v + seq <= maxlen, InvalidArgument, "write index ", v, " + sequence ", seq,
               " exceeds the cache length ", maxlen);
    }
    Tensor& y = ctx.output(0, past.dtype(), past.shape());
    copy_tensor_data(y, past);
    const int64_t outer = past.shape().prod(0, int(a)), per_batch = past.shape().prod(1, int(a));
    const int64_t inner = past.shape().prod(int(a) + 1, r);
    if (maxlen == 0) return;
    dispatch_by_size(past.dtype(), "TensorScatter", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* pu = up.data<T>();
      T* py = y.data<T>();
      for (int64_t o = 0; o < outer; ++o) {
        int64_t b = o / per_batch;
        for (int64_t s = 0; s < seq; ++s) {
          int64_t d = (w[size_t(b)] + s) % maxlen;
          const T* src = pu + (o * seq + s) * inner;
          std::copy(src, src + inner, py + (o * maxlen + d) * inner);
        }
      }
    });
  }

 private:
  int64_t axis_;
  bool circular_ = false;
};

}  // namespace

void register_scatter_ops(OpRegistry& r) {
  r.add("Scatter", 9, make_kernel<ScatterElementsKernel>);
  r.add("ScatterElements", 11, make_kernel<ScatterElementsKernel>);
  r.add("ScatterND", 11, make_kernel<ScatterNDKernel>);
  r.add("TensorScatter", 24, make_kernel<TensorScatterKernel>);
}

}  // namespace fi
