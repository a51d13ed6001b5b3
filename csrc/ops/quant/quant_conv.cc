// ConvInteger and QLinearConv: N-d grouped convolution of 8-bit integers, x [N, C, D1..Dk] and
// w [M, C/group, K1..Kk], with int32 accumulation of (x - x_zp) * (w - w_zp[m]). ConvInteger
// returns the int32 sums [N, M, O1..Ok]; QLinearConv adds the int32 bias and requantises:
// y = saturate(round(acc * x_scale * w_scale[m] / y_scale) + y_zp). w_zp/w_scale are per tensor
// or per output channel. Attributes as Conv: auto_pad, dilations, group, kernel_shape, pads, strides.
#include <algorithm>

#include "ops/quant/quant_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

struct ConvAttrs {
  std::string auto_pad;
  std::vector<int64_t> dilations, kernel_shape, pads, strides;
  int64_t group = 1;

  explicit ConvAttrs(const Attributes& a) {
    auto_pad = a.get_string("auto_pad", "NOTSET");
    dilations = a.get_ints("dilations");
    kernel_shape = a.get_ints("kernel_shape");
    pads = a.get_ints("pads");
    strides = a.get_ints("strides");
    group = a.get_int("group", 1);
    FI_CHECK(group >= 1, InvalidModel, "group must be >= 1, got ", group);
    FI_CHECK(auto_pad == "NOTSET" || auto_pad == "VALID" || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER",
             InvalidModel, "bad auto_pad '", auto_pad, "'");
    for (int64_t d : dilations) FI_CHECK(d >= 1, InvalidModel, "dilations must be >= 1");
    for (int64_t s : strides) FI_CHECK(s >= 1, InvalidModel, "strides must be >= 1");
    for (int64_t p : pads) FI_CHECK(p >= 0, InvalidModel, "pads must be >= 0");
  }
};

struct ConvGeom {
  int64_t N, C, M, cg, mg, k;  // k = spatial rank
  std::vector<int64_t> in, ker, out, stride, dil, pad_begin;
  Shape out_shape;
  int64_t in_size = 1, ker_size = 1, out_size = 1;
};

ConvGeom conv_geometry(const ConvAttrs& at, const Shape& xs, const Shape& ws) {
  FI_CHECK(xs.rank() >= 3, InvalidArgument, "X must have rank >= 3, got ", xs.str());
  FI_CHECK(ws.rank() == xs.rank(), InvalidArgument, "W rank ", ws.rank(), " differs from X rank ", xs.rank());
  ConvGeom g;
  g.k = xs.rank() - 2;
  g.N = xs[0];
  g.C = xs[1];
  g.M = ws[0];
  FI_CHECK(g.C % at.group == 0 && g.M % at.group == 0, InvalidArgument, "channels ", g.C, " and ", g.M,
           " must be divisible by group ", at.group);
  g.cg = g.C / at.group;
  g.mg = g.M / at.group;
  FI_CHECK(ws[1] == g.cg, InvalidArgument, "W has ", ws[1], " input channels per group, expected ", g.cg);
  auto attr = [&](const std::vector<int64_t>& v, int64_t dflt, size_t n, const char* what) {
    if (v.empty()) return std::vector<int64_t>(n, dflt);
    FI_CHECK(v.size() == n, InvalidArgument, what, " must have ", n, " entries, got ", v.size());
    return v;
  };
  size_t k = size_t(g.k);
  g.stride = attr(at.strides, 1, k, "strides");
  g.dil = attr(at.dilations, 1, k, "dilations");
  std::vector<int64_t> pads = attr(at.pads, 0, 2 * k, "pads");
  if (!at.kernel_shape.empty()) {
    FI_CHECK(at.kernel_shape.size() == k, InvalidArgument, "kernel_shape must have ", k, " entries");
    for (size_t i = 0; i < k; ++i)
      FI_CHECK(at.kernel_shape[i] == ws[i + 2], InvalidArgument, "kernel_shape does not match W shape ", ws.str());
  }
  g.out_shape = Shape{g.N, g.M};
  for (size_t i = 0; i < k; ++i) {
    int64_t in = xs[i + 2], kk = ws[i + 2];
    int64_t span = (kk - 1) * g.dil[i] + 1;
    int64_t pb = pads[i], pe = pads[i + k], o;
    if (at.auto_pad == "VALID") {
      pb = pe = 0;
    } else if (at.auto_pad == "SAME_UPPER" || at.auto_pad == "SAME_LOWER") {
      o = (in + g.stride[i] - 1) / g.stride[i];
      int64_t total = std::max<int64_t>(0, (o - 1) * g.stride[i] + span - in);
      pb = at.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    }
    FI_CHECK(in + pb + pe >= span, InvalidArgument, "kernel extent ", span, " exceeds padded input ", in + pb + pe);
    o = (in + pb + pe - span) / g.stride[i] + 1;
    g.in.push_back(in);
    g.ker.push_back(kk);
    g.out.push_back(o);
    g.pad_begin.push_back(pb);
    g.out_shape.push_back(o);
    g.in_size *= in;
    g.ker_size *= kk;
    g.out_size *= o;
  }
  return g;
}

// acc[n, m, out] = sum over the group's channels and kernel taps of (x - xzp) * (w - wzp[m]).
// Parallel over (n, output position); the valid taps of a position are found once for all m.
// Sums wrap modulo 2^32 like int32 hardware accumulators (no signed overflow).
std::vector<int32_t> int_conv(KernelContext& ctx, const ConvGeom& g, const std::vector<int32_t>& x, int32_t xzp,
                              const std::vector<int32_t>& w, const std::vector<int32_t>& wzp) {
  std::vector<int32_t> acc(size_t(g.N * g.M * g.out_size), 0);
  const size_t k = size_t(g.k);
  parallel_for(ctx.pool(), g.N * g.out_size, 16, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> oc(k);
    std::vector<int64_t> tap_off, tap_ker;
    for (int64_t no = lo; no < hi; ++no) {
      int64_t n = no / g.out_size, o = no % g.out_size;
      int64_t rem = o;
      for (size_t d = k; d-- > 0;) oc[d] = rem % g.out[d], rem /= g.out[d];
      tap_off.clear();
      tap_ker.clear();
      for (int64_t t = 0; t < g.ker_size; ++t) {  // valid taps of this output position
        int64_t r = t, off = 0, mul = 1;
        bool ok = true;
        for (size_t d = k; d-- > 0;) {
          int64_t kc = r % g.ker[d];
          r /= g.ker[d];
          int64_t pos = oc[d] * g.stride[d] - g.pad_begin[d] + kc * g.dil[d];
          if (pos < 0 || pos >= g.in[d]) ok = false;
          off += pos * mul;
          mul *= g.in[d];
        }
        if (ok) tap_off.push_back(off), tap_ker.push_back(t);
      }
      for (int64_t m = 0; m < g.M; ++m) {
        int64_t grp = m / g.mg;
        int32_t wz = wzp[size_t(m)];
        uint32_t s = 0;
        for (int64_t c = 0; c < g.cg; ++c) {
          const int32_t* xp = &x[size_t((n * g.C + grp * g.cg + c) * g.in_size)];
          const int32_t* wp = &w[size_t((m * g.cg + c) * g.ker_size)];
          for (size_t t = 0; t < tap_off.size(); ++t)
            s += uint32_t((xp[tap_off[t]] - xzp) * (wp[tap_ker[t]] - wz));
        }
        acc[size_t((n * g.M + m) * g.out_size + o)] = int32_t(s);
      }
    }
  });
  return acc;
}

std::vector<int32_t> per_channel(const Tensor* t, DataType want, int64_t M, const char* what) {
  if (!t) return std::vector<int32_t>(size_t(M), 0);
  FI_CHECK(t->dtype() == want, InvalidArgument, what, " must have type ", dtype_name(want), ", got ",
           dtype_name(t->dtype()));
  std::vector<int32_t> v = quant_to_int32(*t, what);
  FI_CHECK(v.size() == 1 || int64_t(v.size()) == M, InvalidArgument, what, " must have 1 or ", M, " elements");
  if (v.size() == 1) v.assign(size_t(M), v[0]);
  return v;
}

int32_t scalar_zp(const Tensor* t, DataType want, const char* what) {
  if (!t) return 0;
  FI_CHECK(t->dtype() == want, InvalidArgument, what, " must have type ", dtype_name(want));
  FI_CHECK(t->numel() == 1, InvalidArgument, what, " must have one element, got ", t->shape().str());
  return quant_to_int32(*t, what)[0];
}

void check_8bit(const Tensor& t, const char* what) {
  FI_CHECK(t.dtype() == DataType::UInt8 || t.dtype() == DataType::Int8, NotImplemented, what,
           " must be uint8 or int8, got ", dtype_name(t.dtype()));
}

// The weight as int32, from the copy made at session creation when it is constant.
const std::vector<int32_t>& weight_ints(const Tensor& w, const std::vector<int32_t>& cached, std::vector<int32_t>& buf) {
  if (!cached.empty() && int64_t(cached.size()) == w.numel()) return cached;
  buf = quant_to_int32(w, "w");
  return buf;
}

std::vector<int32_t> constant_ints(const OpInit& init, int i) {
  const Tensor* t = init.constant_input(i);
  if (!t || (t->dtype() != DataType::UInt8 && t->dtype() != DataType::Int8)) return {};
  return quant_to_int32(*t, "w");
}

class ConvIntegerKernel : public OpKernel {
 public:
  explicit ConvIntegerKernel(const OpInit& init) : at_(init.attrs()), w_const_(constant_ints(init, 1)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& w = ctx.in(1);
    check_8bit(x, "x");
    check_8bit(w, "w");
    ConvGeom g = conv_geometry(at_, x.shape(), w.shape());
    int32_t xzp = scalar_zp(ctx.input(2), x.dtype(), "x_zero_point");
    std::vector<int32_t> wzp = per_channel(ctx.input(3), w.dtype(), g.M, "w_zero_point");
    std::vector<int32_t> wbuf;
    std::vector<int32_t> acc = int_conv(ctx, g, quant_to_int32(x, "x"), xzp, weight_ints(w, w_const_, wbuf), wzp);
    Tensor& y = ctx.output(0, DataType::Int32, g.out_shape);
    std::copy(acc.begin(), acc.end(), y.data<int32_t>());
  }

 private:
  ConvAttrs at_;
  std::vector<int32_t> w_const_;
};

class QLinearConvKernel : public OpKernel {
 public:
  explicit QLinearConvKernel(const OpInit& init) : at_(init.attrs()), w_const_(constant_ints(init, 3)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& w = ctx.in(3);
    check_8bit(x, "x");
    check_8bit(w, "w");
    ConvGeom g = conv_geometry(at_, x.shape(), w.shape());
    int32_t xzp = scalar_zp(&ctx.in(2), x.dtype(), "x_zero_point");
    std::vector<int32_t> wzp = per_channel(&ctx.in(5), w.dtype(), g.M, "w_zero_point");
    const Tensor& yzp_t = ctx.in(7);
    check_8bit(yzp_t, "y_zero_point");
    float yzp = float(scalar_zp(&yzp_t, yzp_t.dtype(), "y_zero_point"));
    FI_CHECK(ctx.in(1).numel() == 1 && ctx.in(6).numel() == 1, InvalidArgument,
             "x_scale and y_scale must have one element");
    float xs = quant_to_float(ctx.in(1), "x_scale")[0], ys = quant_to_float(ctx.in(6), "y_scale")[0];
    std::vector<float> ws = quant_to_float(ctx.in(4), "w_scale");
    FI_CHECK(ws.size() == 1 || int64_t(ws.size()) == g.M, InvalidArgument, "w_scale must have 1 or ", g.M,
             " elements");
    if (ws.size() == 1) ws.assign(size_t(g.M), ws[0]);
    std::vector<int32_t> bias(size_t(g.M), 0);
    if (const Tensor* b = ctx.input(8)) {
      FI_CHECK(b->dtype() == DataType::Int32 && b->numel() == g.M, InvalidArgument, "B must be int32 with ", g.M,
               " elements");
      bias = quant_to_int32(*b, "B");
    }
    std::vector<int32_t> wbuf;
    std::vector<int32_t> acc = int_conv(ctx, g, quant_to_int32(x, "x"), xzp, weight_ints(w, w_const_, wbuf), wzp);
    Tensor& y = ctx.output(0, yzp_t.dtype(), g.out_shape);
    const int64_t M = g.M, os = g.out_size;
    quant_store(y, true, [&](int64_t i) {
      int64_t m = (i / os) % M;
      float mult = xs * ws[size_t(m)] / ys;
      return std::nearbyint(float(int32_t(uint32_t(acc[size_t(i)]) + uint32_t(bias[size_t(m)]))) * mult) + yzp;
    }, ctx.pool());
  }

 private:
  ConvAttrs at_;
  std::vector<int32_t> w_const_;
};

}  // namespace

void register_quant_conv(OpRegistry& r) {
  r.add("ConvInteger", 10, make_kernel<ConvIntegerKernel>);
  r.add("QLinearConv", 10, make_kernel<QLinearConvKernel>);
}

}  // namespace fi
