#include "ops/pool/pool_geometry.h"

#include <algorithm>

namespace fi {

void PoolAttrs::read(const OpInit& init, bool with_dilations, bool with_ceil, bool kernel_required) {
  const Attributes& at = init.attrs();
  if (kernel_required) kernel = at.require_ints("kernel_shape");
  strides = at.get_ints("strides");
  pads = at.get_ints("pads");
  if (with_dilations) dilations = at.get_ints("dilations");
  auto_pad = at.get_string("auto_pad", "NOTSET");
  if (with_ceil) ceil_mode = at.get_int("ceil_mode", 0) != 0;
  FI_CHECK(auto_pad == "NOTSET" || auto_pad == "VALID" || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER",
           InvalidModel, "unknown auto_pad '", auto_pad, "'");
  const int64_t kMax = int64_t(1) << 31;  // keeps window arithmetic far from overflow
  for (int64_t v : kernel) FI_CHECK(v >= 1 && v <= kMax, InvalidModel, "kernel_shape values must be in [1, 2^31]");
  for (int64_t v : strides) FI_CHECK(v >= 1 && v <= kMax, InvalidModel, "strides must be in [1, 2^31]");
  for (int64_t v : dilations) FI_CHECK(v >= 1 && v <= kMax, InvalidModel, "dilations must be in [1, 2^31]");
  for (int64_t v : pads) FI_CHECK(v >= 0 && v <= kMax, InvalidModel, "pads must be in [0, 2^31]");
  if (!kernel.empty()) {
    size_t n = kernel.size();
    FI_CHECK(strides.empty() || strides.size() == n, InvalidModel, "strides has ", strides.size(),
             " values for a kernel of rank ", n);
    FI_CHECK(dilations.empty() || dilations.size() == n, InvalidModel, "dilations has ", dilations.size(),
             " values for a kernel of rank ", n);
    FI_CHECK(pads.empty() || pads.size() == 2 * n, InvalidModel, "pads has ", pads.size(),
             " values for a kernel of rank ", n);
  }
}

PoolGeom resolve_pool(const PoolAttrs& a, const Shape& x, const char* op) {
  FI_CHECK(x.rank() >= 3, InvalidArgument, op, ": input must have rank >= 3 (N, C, spatial...), got ", x.str());
  size_t nsp = size_t(x.rank() - 2);
  FI_CHECK(a.kernel.size() == nsp, InvalidArgument, op, ": kernel_shape has rank ", a.kernel.size(),
           " but the input has ", nsp, " spatial dims");
  FI_CHECK(nsp <= 3, NotImplemented, op, ": more than 3 spatial dims are not supported");
  PoolGeom g;
  g.nsp = int(nsp);
  int off = 3 - int(nsp);
  for (size_t i = 0; i < nsp; ++i) {
    int j = off + int(i);
    int64_t in = x[2 + i];
    int64_t k = a.kernel[i];
    int64_t s = a.strides.empty() ? 1 : a.strides[i];
    int64_t d = a.dilations.empty() ? 1 : a.dilations[i];
    int64_t ph = a.pads.empty() ? 0 : a.pads[i];
    int64_t pt = a.pads.empty() ? 0 : a.pads[i + nsp];
    int64_t ext = (k - 1) * d + 1;
    int64_t out;
    if (a.auto_pad == "VALID") {
      ph = pt = 0;
      out = in >= ext ? (in - ext) / s + 1 : 0;
    } else if (a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
      out = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (out - 1) * s + ext - in);
      if (a.auto_pad == "SAME_UPPER") {
        ph = total / 2;
      } else {
        ph = total - total / 2;
      }
      pt = total - ph;
    } else {
      int64_t span = in + ph + pt - ext;
      if (span < 0) {
        out = 0;
      } else if (a.ceil_mode) {
        out = (span + s - 1) / s + 1;
        if ((out - 1) * s >= in + ph) --out;  // the last window must start inside the input or head pad
      } else {
        out = span / s + 1;
      }
    }
    g.in[j] = in;
    g.out[j] = out;
    g.k[j] = k;
    g.s[j] = s;
    g.d[j] = d;
    g.pad_head[j] = ph;
    g.pad_tail[j] = pt;
  }
  return g;
}

Shape pool_output_shape(const PoolGeom& g, const Shape& x) {
  Shape y;
  y.push_back(x[0]);
  y.push_back(x[1]);
  for (int i = 3 - g.nsp; i < 3; ++i) y.push_back(g.out[i]);
  return y;
}

std::vector<PoolGeom::Taps> pool_taps(const PoolGeom& g, int j) {
  std::vector<PoolGeom::Taps> t(size_t(g.out[j]));
  int64_t in = g.in[j], d = g.d[j];
  for (int64_t o = 0; o < g.out[j]; ++o) {
    int64_t start = o * g.s[j] - g.pad_head[j];
    int64_t kmin = start >= 0 ? 0 : (-start + d - 1) / d;
    int64_t kmax = in - 1 - start < 0 ? -1 : std::min(g.k[j] - 1, (in - 1 - start) / d);
    int64_t n = std::max<int64_t>(0, kmax - kmin + 1);
    // taps inside [-pad_head, in + pad_tail): start >= -pad_head, so only the tail bounds them
    int64_t room = in + g.pad_tail[j] - 1 - start;
    int64_t np = room < 0 ? 0 : std::min(g.k[j] - 1, room / d) + 1;
    t[size_t(o)] = {start + kmin * d, n, np};
  }
  return t;
}

}  // namespace fi
