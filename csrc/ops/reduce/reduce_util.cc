#include "ops/reduce/reduce_util.h"

#include "ops/op_util.h"

namespace fi {
namespace reduce {

ReducePlan make_reduce_plan(const Shape& in, const std::vector<bool>& reduced, bool keepdims) {
  ReducePlan p;
  p.n_out = 1;
  p.n_reduced = 1;
  for (int i = 0; i < in.rank(); ++i) {
    if (reduced[size_t(i)]) {
      p.n_reduced *= in[size_t(i)];
      if (keepdims) p.out_shape.push_back(1);
    } else {
      p.n_out *= in[size_t(i)];
      p.out_shape.push_back(in[size_t(i)]);
    }
  }
  if (p.n_out == 0 || p.n_reduced == 0) return p;
  // Merge runs of same-kind dims (size-1 dims dropped), outermost first.
  std::vector<int64_t> dims;
  std::vector<bool> red;
  for (int i = 0; i < in.rank(); ++i) {
    int64_t d = in[size_t(i)];
    if (d == 1) continue;
    bool r = reduced[size_t(i)];
    if (!red.empty() && red.back() == r) dims.back() *= d;
    else { dims.push_back(d); red.push_back(r); }
  }
  if (dims.empty()) { dims.push_back(1); red.push_back(true); }
  std::vector<int64_t> strides(dims.size());
  int64_t acc = 1;
  for (size_t i = dims.size(); i-- > 0;) { strides[i] = acc; acc *= dims[i]; }
  p.inner = dims.back();
  p.inner_reduced = red.back();
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    if (red[i]) { p.rdims.push_back(dims[i]); p.rstrides.push_back(strides[i]); p.n_rsteps *= dims[i]; }
    else { p.kdims.push_back(dims[i]); p.kstrides.push_back(strides[i]); p.n_outer *= dims[i]; }
  }
  return p;
}

std::vector<bool> axes_mask(const std::vector<int64_t>& axes, int rank) {
  std::vector<bool> mask(static_cast<size_t>(rank), false);
  for (int64_t a : normalize_axes(axes, rank))
    if (a < rank) mask[size_t(a)] = true;
  return mask;
}

std::vector<int64_t> int_input(const Tensor& t, const char* what) {
  FI_CHECK(t.dtype() == DataType::Int64 || t.dtype() == DataType::Int32, InvalidArgument, what,
           " must be int32 or int64, got ", dtype_name(t.dtype()));
  FI_CHECK(t.rank() <= 1, InvalidArgument, what, " must be a scalar or 1-D, got shape ", t.shape().str());
  return t.to_int64_vector();
}

std::vector<double> to_doubles(const Tensor& t, const char* what) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  dispatch_float(t.dtype(), what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = double(p[i]);
  });
  return v;
}

std::vector<double> broadcast_param(const Tensor& t, const Shape& target, const char* what) {
  FI_CHECK(t.rank() <= target.rank(), InvalidArgument, what, " of shape ", t.shape().str(),
           " cannot be broadcast to ", target.str());
  std::vector<double> src = to_doubles(t, what);
  if (t.shape() == target) return src;
  Shape st;
  try {
    st = broadcast_strides(t.shape(), target);
  } catch (const InvalidArgument&) {
    throw InvalidArgument(str(what, " of shape ", t.shape().str(), " cannot be broadcast to ", target.str()));
  }
  int64_t n = target.numel();
  std::vector<double> out(static_cast<size_t>(n));
  if (n == 0) return out;
  int r = target.rank();
  int64_t idx[Shape::kMaxRank] = {};
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[size_t(i)] = src[size_t(off)];
    for (int d = r; d-- > 0;) {
      off += st[size_t(d)];
      if (++idx[d] < target[size_t(d)]) break;
      off -= st[size_t(d)] * target[size_t(d)];
      idx[d] = 0;
    }
  }
  return out;
}

}  // namespace reduce
}  // namespace fi
