// Window geometry shared by the pooling kernels: kernel_shape, strides, dilations, pads,
// auto_pad and ceil_mode, resolved against an input's spatial dims into output dims and
// head paddings. Spatial ranks up to 3 are handled by padding dims to 3 with size 1.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/kernel.h"

namespace fi {

struct PoolAttrs {
  std::vector<int64_t> kernel, strides, dilations, pads;  // pads: heads then tails
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;

  // Reads the attributes; `with_dilations`/`with_ceil` say whether the op's opset has them.
  void read(const OpInit& init, bool with_dilations, bool with_ceil, bool kernel_required = true);
};

// Resolved 3-D window geometry (leading dims of size 1 when the spatial rank is below 3).
struct PoolGeom {
  // Per output index along one dim: the first valid input position, the number of valid
  // taps (positions p0, p0 + d, ...) and the number of taps inside the padded extent.
  struct Taps { int64_t p0, n, npad; };

  int nsp = 0;                 // real spatial rank
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1};
  int64_t d[3] = {1, 1, 1};
  int64_t pad_head[3] = {0, 0, 0};
  int64_t pad_tail[3] = {0, 0, 0};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

// Resolves the geometry for input shape x (N, C, spatial...). Throws InvalidArgument on a
// rank or size mismatch, NotImplemented for spatial rank above 3.
PoolGeom resolve_pool(const PoolAttrs& a, const Shape& x, const char* op);

// Output shape N, C, out...
Shape pool_output_shape(const PoolGeom& g, const Shape& x);

// The taps of every output index along dim j of g.
std::vector<PoolGeom::Taps> pool_taps(const PoolGeom& g, int j);

}  // namespace fi
