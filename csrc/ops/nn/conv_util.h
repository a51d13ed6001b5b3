// Attributes and output geometry shared by Conv and ConvTranspose (any number of spatial dims).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/shape.h"
#include "kernels/dwconv.h"
#include "ops/kernel.h"

namespace fi::nn {

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

struct ConvAttrs {
  std::vector<int64_t> kernel_shape, strides, dilations, pads, output_padding, output_shape;
  AutoPad auto_pad = AutoPad::NotSet;
  int64_t group = 1;
  explicit ConvAttrs(const OpInit& init);
};

// Resolved geometry of one call: per spatial dim d, kernel, stride, dilation, begin pad, input
// and output size.
struct ConvGeom {
  int nd = 0;
  std::vector<int64_t> k, s, d, pad, in, out;
  int64_t kernel_size() const;  // prod(k)
  int64_t in_size() const;      // prod(in)
  int64_t out_size() const;     // prod(out)
};

// Conv: X [N, C, in...], W [M, C/group, k...].
ConvGeom conv_geometry(const ConvAttrs& a, const Shape& x, const Shape& w, const char* op);
// The plane geometry the depthwise kernels take, from a 2-D conv's geometry.
kernels::DwConvGeom dw_conv_geometry(const ConvGeom& g);
// ConvTranspose: X [N, C, in...], W [C, M/group, k...].
ConvGeom conv_transpose_geometry(const ConvAttrs& a, const Shape& x, const Shape& w, const char* op);

}  // namespace fi::nn
