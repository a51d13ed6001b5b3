// Element copies used by the control-flow ops: whole tensors and slices along one axis, for
// any element type (strings are copied element by element, everything else by bytes).
#pragma once
#include <cstring>
#include <string>

#include "core/tensor.h"

namespace fi {

// Copies `n` elements of type `dt` from src (element offset so) to dst (element offset do_).
inline void copy_elems(DataType dt, void* dst, int64_t do_, const void* src, int64_t so, int64_t n) {
  if (n <= 0) return;
  if (dt == DataType::String) {
    auto* d = static_cast<std::string*>(dst) + do_;
    const auto* s = static_cast<const std::string*>(src) + so;
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
    return;
  }
  size_t es = dtype_size(dt);
  std::memcpy(static_cast<char*>(dst) + size_t(do_) * es, static_cast<const char*>(src) + size_t(so) * es,
              size_t(n) * es);
}

// Geometry of a tensor viewed as [outer, len, inner] around `axis`.
struct AxisView {
  int64_t outer = 1, len = 1, inner = 1;
  AxisView(const Shape& s, int axis) {
    outer = s.prod(0, axis);
    len = s[size_t(axis)];
    inner = s.prod(axis + 1, s.rank());
  }
};

// Copies slice `t` along the view's axis of src into a contiguous dst (shape without the axis).
inline void gather_slice(DataType dt, const AxisView& v, const void* src, int64_t t, void* dst) {
  for (int64_t o = 0; o < v.outer; ++o) copy_elems(dt, dst, o * v.inner, src, (o * v.len + t) * v.inner, v.inner);
}

// Copies a contiguous src (shape without the axis) into slice `t` along the view's axis of dst.
inline void scatter_slice(DataType dt, const AxisView& v, const void* src, void* dst, int64_t t) {
  for (int64_t o = 0; o < v.outer; ++o) copy_elems(dt, dst, (o * v.len + t) * v.inner, src, o * v.inner, v.inner);
}

}  // namespace fi
