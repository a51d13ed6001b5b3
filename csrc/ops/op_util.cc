#include "ops/op_util.h"

#include <algorithm>

namespace fi {

Shape contiguous_strides(const Shape& shape) {
  Shape s;
  s.resize(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

Shape broadcast_strides(const Shape& in, const Shape& out) {
  Shape s;
  s.resize(out.size(), 0);
  Shape cs = contiguous_strides(in);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == out[off + i]) s[off + i] = in[i] == 1 ? 0 : cs[i];
    else if (in[i] == 1) s[off + i] = 0;
    else throw InvalidArgument(str("shape ", in.str(), " cannot be broadcast to ", out.str()));
  }
  return s;
}

std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t rank, const char* what) {
  std::vector<int64_t> out;
  out.reserve(axes.size());
  for (int64_t a : axes) {
    int64_t n = normalize_axis(a, rank, what);
    if (std::find(out.begin(), out.end(), n) != out.end())
      throw InvalidArgument(str(what, " contains axis ", a, " twice"));
    out.push_back(n);
  }
  return out;
}

}  // namespace fi
