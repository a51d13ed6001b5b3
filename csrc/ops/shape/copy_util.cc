#include "ops/shape/copy_util.h"

namespace fi {

int64_t checked_numel(const Shape& s, const char* what) {
  int64_t n = 1;
  bool zero = false;
  for (int64_t d : s) {
    FI_CHECK(d >= 0, InvalidArgument, what, ": negative dimension ", d, " in shape ", s.str());
    if (d == 0) zero = true;
  }
  if (zero) return 0;
  for (int64_t d : s) {
    FI_CHECK(d <= kMaxOutputElements / n, InvalidArgument, what, ": output shape ", s.str(), " is too large");
    n *= d;
  }
  return n;
}

void coalesce_dims(Shape& shape, Shape& strides) {
  Shape s, st;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!s.empty() && st.back() == strides[i] * shape[i]) {
      s.back() *= shape[i];
      st.back() = strides[i];
    } else {
      s.push_back(shape[i]);
      st.push_back(strides[i]);
    }
  }
  shape = s;
  strides = st;
}

void strided_copy_tensor(ThreadPool* pool, Tensor& dst, const Tensor& src, int64_t offset, const Shape& strides) {
  dispatch_by_size(src.dtype(), "copy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    strided_copy<T>(pool, dst.data<T>(), src.data<T>() + offset, dst.shape(), strides);
  });
}

void copy_tensor_data(Tensor& dst, const Tensor& src) {
  FI_CHECK(dst.numel() == src.numel() && dst.dtype() == src.dtype(), InvalidArgument, "copy: mismatched tensors");
  if (src.dtype() == DataType::String) {
    std::copy(src.data<std::string>(), src.data<std::string>() + src.numel(), dst.data<std::string>());
  } else if (src.nbytes() && dst.raw() != src.raw()) {
    std::memcpy(dst.raw(), src.raw(), src.nbytes());
  }
}

std::vector<int64_t> read_indices(const Tensor& t, const char* what) {
  FI_CHECK(t.dtype() == DataType::Int64 || t.dtype() == DataType::Int32, InvalidArgument, what,
           " must be int32 or int64, got ", dtype_name(t.dtype()));
  return t.to_int64_vector();
}

}  // namespace fi
