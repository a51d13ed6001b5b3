#include "ops/nn/conv_util.h"

#include "core/error.h"
#include "graph/attribute.h"

namespace fi::nn {

ConvAttrs::ConvAttrs(const OpInit& init) {
  const Attributes& at = init.attrs();
  kernel_shape = at.get_ints("kernel_shape");
  strides = at.get_ints("strides");
  dilations = at.get_ints("dilations");
  pads = at.get_ints("pads");
  output_padding = at.get_ints("output_padding");
  output_shape = at.get_ints("output_shape");
  group = at.get_int("group", 1);
  std::string ap = at.get_string("auto_pad", "NOTSET");
  if (ap == "NOTSET" || ap.empty()) auto_pad = AutoPad::NotSet;
  else if (ap == "SAME_UPPER") auto_pad = AutoPad::SameUpper;
  else if (ap == "SAME_LOWER") auto_pad = AutoPad::SameLower;
  else if (ap == "VALID") auto_pad = AutoPad::Valid;
  else throw InvalidModel(str("auto_pad '", ap, "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"));
  FI_CHECK(group >= 1, InvalidModel, "group must be >= 1, got ", group);
  for (int64_t v : strides) FI_CHECK(v >= 1, InvalidModel, "strides must be >= 1");
  for (int64_t v : dilations) FI_CHECK(v >= 1, InvalidModel, "dilations must be >= 1");
  for (int64_t v : kernel_shape) FI_CHECK(v >= 1, InvalidModel, "kernel_shape must be >= 1");
  for (int64_t v : pads) FI_CHECK(v >= 0, InvalidModel, "pads must be >= 0");
  for (int64_t v : output_padding) FI_CHECK(v >= 0, InvalidModel, "output_padding must be >= 0");
}

int64_t ConvGeom::kernel_size() const {
  int64_t n = 1;
  for (int64_t v : k) n *= v;
  return n;
}
int64_t ConvGeom::in_size() const {
  int64_t n = 1;
  for (int64_t v : in) n *= v;
  return n;
}
int64_t ConvGeom::out_size() const {
  int64_t n = 1;
  for (int64_t v : out) n *= v;
  return n;
}

namespace {

// Shared checks and defaults: kernel from W, strides/dilations default to 1.
ConvGeom base_geometry(const ConvAttrs& a, const Shape& x, const Shape& w, const char* op) {
  FI_CHECK(x.rank() >= 3, InvalidArgument, op, ": X must have rank >= 3 (N, C, spatial...), got ", x.str());
  FI_CHECK(w.rank() == x.rank(), InvalidArgument, op, ": W has rank ", w.rank(), " but X has rank ", x.rank());
  ConvGeom g;
  g.nd = x.rank() - 2;
  size_t nd = size_t(g.nd);
  auto sized = [&](const std::vector<int64_t>& v, const char* what, size_t n, int64_t dflt) {
    if (v.empty()) return std::vector<int64_t>(n, dflt);
    FI_CHECK(v.size() == n, InvalidModel, op, ": ", what, " has ", v.size(), " values, expected ", n);
    return v;
  };
  g.k.assign(w.begin() + 2, w.end());
  for (int64_t v : g.k) FI_CHECK(v >= 1, InvalidArgument, op, ": W has an empty kernel dimension: ", w.str());
  if (!a.kernel_shape.empty()) {
    FI_CHECK(a.kernel_shape == g.k, InvalidArgument, op, ": kernel_shape does not match W ", w.str());
  }
  g.s = sized(a.strides, "strides", nd, 1);
  g.d = sized(a.dilations, "dilations", nd, 1);
  g.in.assign(x.begin() + 2, x.end());
  g.pad.assign(nd, 0);
  g.out.assign(nd, 0);
  return g;
}

}  // namespace

ConvGeom conv_geometry(const ConvAttrs& a, const Shape& x, const Shape& w, const char* op) {
  ConvGeom g = base_geometry(a, x, w, op);
  size_t nd = size_t(g.nd);
  std::vector<int64_t> pads = a.pads.empty() ? std::vector<int64_t>(2 * nd, 0) : a.pads;
  FI_CHECK(pads.size() == 2 * nd, InvalidModel, op, ": pads has ", pads.size(), " values, expected ", 2 * nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t ext = (g.k[i] - 1) * g.d[i] + 1;
    int64_t pb = pads[i], pe = pads[i + nd];
    if (a.auto_pad == AutoPad::Valid) {
      pb = pe = 0;
    } else if (a.auto_pad != AutoPad::NotSet) {
      int64_t o = (g.in[i] + g.s[i] - 1) / g.s[i];
      int64_t total = std::max<int64_t>(0, (o - 1) * g.s[i] + ext - g.in[i]);
      pb = a.auto_pad == AutoPad::SameUpper ? total / 2 : total - total / 2;
      pe = total - pb;
    }
    int64_t span = g.in[i] + pb + pe - ext;
    FI_CHECK(span >= 0, InvalidArgument, op, ": kernel extent ", ext, " exceeds padded input ", g.in[i] + pb + pe,
             " in spatial dim ", i);
    g.pad[i] = pb;
    g.out[i] = span / g.s[i] + 1;
  }
  return g;
}

ConvGeom conv_transpose_geometry(const ConvAttrs& a, const Shape& x, const Shape& w, const char* op) {
  ConvGeom g = base_geometry(a, x, w, op);
  size_t nd = size_t(g.nd);
  std::vector<int64_t> pads = a.pads.empty() ? std::vector<int64_t>(2 * nd, 0) : a.pads;
  FI_CHECK(pads.size() == 2 * nd, InvalidModel, op, ": pads has ", pads.size(), " values, expected ", 2 * nd);
  std::vector<int64_t> opad = a.output_padding.empty() ? std::vector<int64_t>(nd, 0) : a.output_padding;
  FI_CHECK(opad.size() == nd, InvalidModel, op, ": output_padding has ", opad.size(), " values, expected ", nd);
  std::vector<int64_t> oshape;
  if (!a.output_shape.empty()) {
    FI_CHECK(a.output_shape.size() >= nd, InvalidModel, op, ": output_shape has too few values");
    oshape.assign(a.output_shape.end() - int64_t(nd), a.output_shape.end());
  }
  for (size_t i = 0; i < nd; ++i) {
    int64_t ext = (g.k[i] - 1) * g.d[i] + 1;
    int64_t full = g.s[i] * (g.in[i] - 1) + opad[i] + ext;
    int64_t pb = pads[i], pe = pads[i + nd];
    int64_t o;
    if (!oshape.empty() || a.auto_pad == AutoPad::SameUpper || a.auto_pad == AutoPad::SameLower) {
      o = !oshape.empty() ? oshape[i] : g.in[i] * g.s[i];
      int64_t total = full - o;  // may be negative: the output then extends past the last tap
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);  // floor(total / 2)
      if (a.auto_pad == AutoPad::SameUpper) {
        pb = half;
        pe = total - pb;
      } else {
        pe = half;
        pb = total - pe;
      }
    } else {
      if (a.auto_pad == AutoPad::Valid) pb = pe = 0;
      o = full - pb - pe;
    }
    FI_CHECK(o >= 0, InvalidArgument, op, ": negative output size in spatial dim ", i);
    g.pad[i] = pb;
    g.out[i] = o;
  }
  return g;
}

kernels::DwConvGeom dw_conv_geometry(const ConvGeom& g) {
  kernels::DwConvGeom dg;
  dg.in_h = g.in[0];
  dg.in_w = g.in[1];
  dg.out_h = g.out[0];
  dg.out_w = g.out[1];
  dg.kh = g.k[0];
  dg.kw = g.k[1];
  dg.stride_h = g.s[0];
  dg.stride_w = g.s[1];
  dg.dil_h = g.d[0];
  dg.dil_w = g.d[1];
  dg.pad_top = g.pad[0];
  dg.pad_left = g.pad[1];
  return dg;
}

}  // namespace fi::nn
