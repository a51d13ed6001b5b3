// Small helpers shared by op families.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace fi {

// Row-major strides (in elements) of a contiguous tensor of `shape`.
Shape contiguous_strides(const Shape& shape);
// Strides (in elements) for reading a tensor of shape `in` broadcast to `out` (numpy rules):
// result has out.rank() entries, 0 where `in` is broadcast. `in` must be broadcastable to `out`.
Shape broadcast_strides(const Shape& in, const Shape& out);
// Axes from an attribute or input, normalised to [0, rank), checked for range and repeats.
std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t rank, const char* what = "axes");

}  // namespace fi
