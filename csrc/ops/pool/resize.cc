// Resize (opsets 10..19+) and Upsample (7..9). Interpolation is separable: for every resized
// axis (ascending order) a table of taps (input index, weight) per output index is built and
// applied as one pass over a [outer, axis, inner] view, accumulating whole inner rows.
// Work type is double for double input, float otherwise; integers round half to even and
// saturate at the end.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/dispatch_type.h"
#include "ops/op_util.h"
#include "ops/pool/pool_ops.h"
#include "ops/registry.h"

namespace fi {

namespace {

enum class Mode { Nearest, Linear, Cubic };
enum class Coord { HalfPixel, PytorchHalfPixel, AlignCorners, Asymmetric, TfCrop, HalfPixelSymmetric };
enum class NearestMode { PreferFloor, PreferCeil, Floor, Ceil, Simple };

struct AxisTaps {
  std::vector<int64_t> start, count, idx;  // per output: first tap and number of taps (0 = extrapolate)
  std::vector<double> w;
};

struct ResizeParams {
  Mode mode = Mode::Nearest;
  Coord coord = Coord::HalfPixel;
  NearestMode nearest = NearestMode::PreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0;
  bool antialias = false;
};

double cubic_kernel(double x, double A) {
  x = std::abs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

// Builds the taps of one axis from in_len to out_len with scale `scale` (and roi for tf_crop).
// As in the ONNX reference, align_corners, pytorch_half_pixel and tf_crop_and_resize use the
// unrounded resized length scale * in_len (onnxruntime uses the integer output length; the two
// agree whenever sizes are given or scale * in_len is whole).
AxisTaps build_taps(const ResizeParams& p, int64_t in_len, int64_t out_len, double scale, double roi0, double roi1) {
  AxisTaps t;
  t.start.resize(size_t(out_len));
  t.count.resize(size_t(out_len));
  double out_w = scale * double(in_len);
  std::vector<double> cw;
  for (int64_t o = 0; o < out_len; ++o) {
    double y = double(o), x;
    bool extrap = false;
    switch (p.coord) {
      case Coord::AlignCorners: x = out_w == 1 ? 0.0 : y * double(in_len - 1) / (out_w - 1); break;
      case Coord::Asymmetric: x = y / scale; break;
      case Coord::TfCrop:
        x = out_w == 1 ? (roi1 - roi0) * double(in_len - 1) / 2 : y * (roi1 - roi0) * double(in_len - 1) / (out_w - 1);
        x += roi0 * double(in_len - 1);
        extrap = x < 0 || x > double(in_len - 1);
        break;
      case Coord::PytorchHalfPixel: x = out_w == 1 ? -0.5 : (y + 0.5) / scale - 0.5; break;
      case Coord::HalfPixelSymmetric: {
        double adj = double(out_len) / out_w;
        double off = double(in_len) / 2 * (1 - adj);
        x = off + (y + 0.5) / scale - 0.5;
        break;
      }
      default: x = (y + 0.5) / scale - 0.5; break;
    }
    t.start[size_t(o)] = int64_t(t.idx.size());
    if (extrap || !std::isfinite(x)) {
      t.count[size_t(o)] = 0;
      continue;
    }
    double fl = std::floor(x);
    double r = x - fl;
    int64_t f = int64_t(fl);
    if (r == 0) {
      f -= 1;
      r = 1;
    }
    cw.clear();
    int64_t j0 = 0;
    if (p.mode == Mode::Nearest) {
      bool ceil;
      switch (p.nearest) {
        case NearestMode::PreferCeil: ceil = r >= 0.5; break;
        case NearestMode::Floor: ceil = r == 1; break;
        case NearestMode::Ceil: ceil = true; break;
        case NearestMode::Simple: ceil = scale < 1 ? true : r == 1; break;
        default: ceil = r > 0.5; break;
      }
      j0 = ceil ? 1 : 0;
      cw.push_back(1.0);
    } else {
      double sa = p.antialias ? std::min(scale, 1.0) : 1.0;
      FI_CHECK(sa >= 1e-6, InvalidArgument, "Resize: antialias scale ", scale, " is too small");
      if (p.mode == Mode::Linear) {
        j0 = int64_t(std::floor(-1 / sa) + 1);
        for (int64_t j = j0; j <= 1 - j0; ++j) cw.push_back(std::max(0.0, 1 - std::abs((double(j) - r) * sa)));
      } else {
        j0 = int64_t(std::floor(-2 / sa) + 1);
        for (int64_t j = j0; j < 2 - j0; ++j) cw.push_back(cubic_kernel(sa * (double(j) - r), p.cubic_a));
      }
      if (p.antialias) {
        double s = 0;
        for (double v : cw) s += v;
        if (s != 0)
          for (double& v : cw) v /= s;
      }
      if (p.exclude_outside) {
        double s = 0;
        for (size_t j = 0; j < cw.size(); ++j) {
          int64_t i = f + j0 + int64_t(j);
          if (i < 0 || i >= in_len) cw[j] = 0;
          s += cw[j];
        }
        if (s != 0)
          for (double& v : cw) v /= s;
      }
    }
    for (size_t j = 0; j < cw.size(); ++j) {
      int64_t i = std::min(std::max<int64_t>(f + j0 + int64_t(j), 0), in_len - 1);
      if (cw[j] == 0 && p.mode != Mode::Nearest) continue;
      t.idx.push_back(i);
      t.w.push_back(cw[j]);
    }
    t.count[size_t(o)] = int64_t(t.idx.size()) - t.start[size_t(o)];
    if (t.count[size_t(o)] == 0) {  // every weight zero: read the nearest sample with weight 0
      t.idx.push_back(std::min(std::max<int64_t>(f, 0), in_len - 1));
      t.w.push_back(0);
      t.count[size_t(o)] = 1;
    }
  }
  return t;
}

// One separable pass: src [outer, in_len, inner] -> dst [outer, out_len, inner].
template <class W>
void apply_pass(ThreadPool* pool, const AxisTaps& t, const W* src, W* dst, int64_t outer, int64_t in_len,
                int64_t out_len, int64_t inner, W extrap) {
  if (inner == 1) {  // resizing the innermost axis: a short dot product per output element
    parallel_for(pool, outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, out_len)), [&](int64_t b, int64_t e) {
      for (int64_t ob = b; ob < e; ++ob) {
        const W* base = src + ob * in_len;
        W* d = dst + ob * out_len;
        for (int64_t o = 0; o < out_len; ++o) {
          int64_t c = t.count[size_t(o)], s0 = t.start[size_t(o)];
          W acc = c == 0 ? extrap : W(0);
          for (int64_t k = 0; k < c; ++k) acc += W(t.w[size_t(s0 + k)]) * base[t.idx[size_t(s0 + k)]];
          d[o] = acc;
        }
      }
    });
    return;
  }
  int64_t rows = outer * out_len;
  parallel_for(pool, rows, std::max<int64_t>(1, 4096 / inner), [&](int64_t b, int64_t e) {
    int64_t ob = b / out_len, o = b - ob * out_len;
    for (int64_t r = b; r < e; ++r, ++o) {
      if (o == out_len) {
        o = 0;
        ++ob;
      }
      W* d = dst + r * inner;
      int64_t c = t.count[size_t(o)], s0 = t.start[size_t(o)];
      if (c == 0) {
        for (int64_t i = 0; i < inner; ++i) d[i] = extrap;
        continue;
      }
      const W* base = src + ob * in_len * inner;
      {
        const W* sr = base + t.idx[size_t(s0)] * inner;
        W w = W(t.w[size_t(s0)]);
        for (int64_t i = 0; i < inner; ++i) d[i] = w * sr[i];
      }
      for (int64_t k = 1; k < c; ++k) {
        const W* sr = base + t.idx[size_t(s0 + k)] * inner;
        W w = W(t.w[size_t(s0 + k)]);
        for (int64_t i = 0; i < inner; ++i) d[i] += w * sr[i];
      }
    }
  });
}

class ResizeKernel : public OpKernel {
 public:
  ResizeKernel(const OpInit& init, bool upsample) : upsample_(upsample), opset_(init.opset()) {
    const Attributes& a = init.attrs();
    std::string mode = a.get_string("mode", "nearest");
    if (mode == "nearest") p_.mode = Mode::Nearest;
    else if (mode == "linear" || mode == "bilinear" || mode == "trilinear") p_.mode = Mode::Linear;
    else if (mode == "cubic" && !upsample) p_.mode = Mode::Cubic;
    else throw InvalidModel(str("Resize: unknown mode '", mode, "'"));
    if (upsample || opset_ < 11) {
      p_.coord = Coord::Asymmetric;
      p_.nearest = NearestMode::Simple;
      if (upsample && opset_ < 9) {
        attr_scales_ = a.get_floats("scales");
        FI_CHECK(!attr_scales_.empty(), InvalidModel, "Upsample: scales attribute is required");
      }
      return;
    }
    std::string ct = a.get_string("coordinate_transformation_mode", "half_pixel");
    if (ct == "half_pixel") p_.coord = Coord::HalfPixel;
    else if (ct == "pytorch_half_pixel") p_.coord = Coord::PytorchHalfPixel;
    else if (ct == "align_corners") p_.coord = Coord::AlignCorners;
    else if (ct == "asymmetric") p_.coord = Coord::Asymmetric;
    else if (ct == "tf_crop_and_resize") p_.coord = Coord::TfCrop;
    else if (ct == "half_pixel_symmetric" && opset_ >= 19) p_.coord = Coord::HalfPixelSymmetric;
    else throw InvalidModel(str("Resize: unknown coordinate_transformation_mode '", ct, "'"));
    std::string nm = a.get_string("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") p_.nearest = NearestMode::PreferFloor;
    else if (nm == "round_prefer_ceil") p_.nearest = NearestMode::PreferCeil;
    else if (nm == "floor") p_.nearest = NearestMode::Floor;
    else if (nm == "ceil") p_.nearest = NearestMode::Ceil;
    else throw InvalidModel(str("Resize: unknown nearest_mode '", nm, "'"));
    p_.cubic_a = a.get_float("cubic_coeff_a", -0.75f);
    p_.exclude_outside = a.get_int("exclude_outside", 0) != 0;
    p_.extrapolation = a.get_float("extrapolation_value", 0.0f);
    if (opset_ >= 18) {
      p_.antialias = a.get_int("antialias", 0) != 0;
      axes_ = a.get_ints("axes");
      policy_ = a.get_string("keep_aspect_ratio_policy", "stretch");
      FI_CHECK(policy_ == "stretch" || policy_ == "not_larger" || policy_ == "not_smaller", InvalidModel,
               "Resize: unknown keep_aspect_ratio_policy '", policy_, "'");
    }
    FI_CHECK(!(p_.antialias && p_.mode == Mode::Nearest), InvalidModel, "Resize: antialias needs linear or cubic mode");
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    int r = x.rank();
    std::vector<int64_t> axes;
    if (!axes_.empty()) axes = normalize_axes(axes_, r, "Resize axes");
    else
      for (int i = 0; i < r; ++i) axes.push_back(i);
    size_t na = axes.size();

    // gather the scales / sizes / roi inputs for this opset
    const Tensor *roi_t = nullptr, *scales_t = nullptr, *sizes_t = nullptr;
    if (upsample_) {
      if (opset_ >= 9) scales_t = &ctx.in(1);
    } else if (opset_ < 11) {
      scales_t = &ctx.in(1);
    } else {
      roi_t = ctx.input(1);
      scales_t = ctx.input(2);
      sizes_t = ctx.input(3);
    }
    if (scales_t && scales_t->numel() == 0) scales_t = nullptr;
    if (sizes_t && sizes_t->numel() == 0) sizes_t = nullptr;
    if (roi_t && roi_t->numel() == 0) roi_t = nullptr;

    std::vector<double> scale(size_t(r), 1.0);
    Shape ys = x.shape();
    if (!attr_scales_.empty() || scales_t) {
      FI_CHECK(!sizes_t, InvalidArgument, "Resize: only one of scales and sizes may be given");
      std::vector<double> sv;
      if (scales_t) {
        FI_CHECK(scales_t->dtype() == DataType::Float || scales_t->dtype() == DataType::Double ||
                     scales_t->dtype() == DataType::Float16, InvalidArgument, "Resize: scales must be float");
        dispatch_float(scales_t->dtype(), "Resize scales", [&](auto tag) {
          using T = typename decltype(tag)::type;
          for (int64_t i = 0; i < scales_t->numel(); ++i) sv.push_back(double(float(scales_t->data<T>()[i])));
        });
      } else {
        for (float f : attr_scales_) sv.push_back(double(f));
      }
      FI_CHECK(sv.size() == na, InvalidArgument, "Resize: scales has ", sv.size(), " values, expected ", na);
      for (size_t i = 0; i < na; ++i) {
        FI_CHECK(sv[i] > 0 && std::isfinite(sv[i]), InvalidArgument, "Resize: scales must be positive");
        int64_t ax = axes[i];
        scale[size_t(ax)] = sv[i];
        double o = std::floor(sv[i] * double(x.dim(int(ax))));
        FI_CHECK(o < 9.0e15, InvalidArgument, "Resize: output too large");
        ys[size_t(ax)] = int64_t(o);
      }
    } else {
      FI_CHECK(sizes_t, InvalidArgument, "Resize: one of scales and sizes must be given");
      std::vector<int64_t> sz = sizes_t->to_int64_vector();
      FI_CHECK(sz.size() == na, InvalidArgument, "Resize: sizes has ", sz.size(), " values, expected ", na);
      for (size_t i = 0; i < na; ++i) {
        FI_CHECK(sz[i] >= 0, InvalidArgument, "Resize: sizes must be non-negative");
        int64_t ax = axes[i];
        ys[size_t(ax)] = sz[i];
        scale[size_t(ax)] = x.dim(int(ax)) > 0 ? double(sz[i]) / double(x.dim(int(ax))) : 1.0;
      }
      if (policy_ != "stretch") {
        double s = policy_ == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
        for (int64_t ax : axes)
          s = policy_ == "not_larger" ? std::min(s, scale[size_t(ax)]) : std::max(s, scale[size_t(ax)]);
        for (int64_t ax : axes) {
          scale[size_t(ax)] = s;
          ys[size_t(ax)] = int64_t(s * double(x.dim(int(ax))) + 0.5);
        }
      }
    }
    std::vector<double> roi(size_t(2 * r), 0.0);
    for (int i = 0; i < r; ++i) roi[size_t(r + i)] = 1.0;
    if (roi_t && p_.coord == Coord::TfCrop) {
      std::vector<double> rv;
      dispatch_float(roi_t->dtype(), "Resize roi", [&](auto tag) {
        using T = typename decltype(tag)::type;
        for (int64_t i = 0; i < roi_t->numel(); ++i) rv.push_back(double(float(roi_t->data<T>()[i])));
      });
      FI_CHECK(rv.size() == 2 * na, InvalidArgument, "Resize: roi has ", rv.size(), " values, expected ", 2 * na);
      for (size_t i = 0; i < na; ++i) {
        roi[size_t(axes[i])] = rv[i];
        roi[size_t(r + axes[i])] = rv[na + i];
      }
    }

    Tensor& y = ctx.output(0, x.dtype(), ys);
    if (y.numel() == 0) return;
    FI_CHECK(x.numel() > 0, InvalidArgument, "Resize: cannot resize an empty input to a non-empty output");
    // the axes that change, and the largest intermediate tensor between passes
    std::vector<int> pass_axes;
    int64_t max_mid = 0;
    {
      Shape cs = x.shape();
      for (int ax = 0; ax < r; ++ax) {
        bool identity = std::abs(scale[size_t(ax)] - 1.0) < 1e-9 && cs[size_t(ax)] == ys[size_t(ax)] &&
                        std::abs(roi[size_t(ax)]) < 1e-9 && std::abs(roi[size_t(r + ax)] - 1.0) < 1e-9;
        if (identity) continue;
        pass_axes.push_back(ax);
        cs[size_t(ax)] = ys[size_t(ax)];
        max_mid = std::max(max_mid, cs.numel());
      }
    }
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      // work type: double for double and wide integers, float otherwise
      using W = std::conditional_t<std::is_same<T, double>::value || (std::is_integral<T>::value && sizeof(T) >= 4),
                                   double, float>;
      constexpr bool direct = std::is_same<T, W>::value;  // passes read x and write y in place
      const T* px = x.data<T>();
      T* py = y.data<T>();
      const W* src;
      W* bufs[2] = {ctx.scratch_as<W>(size_t(max_mid)), ctx.scratch_as<W>(size_t(max_mid))};
      if (direct) {
        src = reinterpret_cast<const W*>(px);
      } else {
        W* conv = ctx.scratch_as<W>(size_t(x.numel()));
        for (int64_t i = 0; i < x.numel(); ++i) conv[i] = W(px[i]);
        src = conv;
      }
      Shape cs = x.shape();
      for (size_t k = 0; k < pass_axes.size(); ++k) {
        int ax = pass_axes[k];
        int64_t in_len = cs[size_t(ax)], out_len = ys[size_t(ax)];
        AxisTaps t = build_taps(p_, in_len, out_len, scale[size_t(ax)], roi[size_t(ax)], roi[size_t(r + ax)]);
        int64_t outer = cs.prod(0, ax), inner = cs.prod(ax + 1, r);
        W* dst = (direct && k + 1 == pass_axes.size()) ? reinterpret_cast<W*>(py) : bufs[k % 2];
        apply_pass<W>(ctx.pool(), t, src, dst, outer, in_len, out_len, inner, W(p_.extrapolation));
        src = dst;
        cs[size_t(ax)] = out_len;
      }
      int64_t n = y.numel();
      if (direct) {
        if (pass_axes.empty()) std::copy(px, px + n, py);
      } else if (std::is_integral<T>::value) {
        double lo = double(std::numeric_limits<T>::lowest()), hi = double(std::numeric_limits<T>::max());
        for (int64_t i = 0; i < n; ++i) {
          double v = std::nearbyint(double(src[i]));
          v = std::isnan(v) ? 0 : std::min(std::max(v, lo), hi);
          py[i] = v >= hi ? std::numeric_limits<T>::max() : T(v);
        }
      } else {
        for (int64_t i = 0; i < n; ++i) py[i] = T(src[i]);
      }
    };
    switch (x.dtype()) {
      case DataType::Float: run(TypeTag<float>{}); break;
      case DataType::Double: run(TypeTag<double>{}); break;
      case DataType::Float16: run(TypeTag<Float16>{}); break;
      case DataType::BFloat16: run(TypeTag<BFloat16>{}); break;
      case DataType::Int8: run(TypeTag<int8_t>{}); break;
      case DataType::UInt8: run(TypeTag<uint8_t>{}); break;
      case DataType::Int16: run(TypeTag<int16_t>{}); break;
      case DataType::UInt16: run(TypeTag<uint16_t>{}); break;
      case DataType::Int32: run(TypeTag<int32_t>{}); break;
      case DataType::UInt32: run(TypeTag<uint32_t>{}); break;
      case DataType::Int64: run(TypeTag<int64_t>{}); break;
      case DataType::UInt64: run(TypeTag<uint64_t>{}); break;
      default: throw NotImplemented(str("Resize: element type ", dtype_name(x.dtype()), " is not supported"));
    }
  }

 private:
  bool upsample_;
  int opset_;
  ResizeParams p_;
  std::vector<float> attr_scales_;
  std::vector<int64_t> axes_;
  std::string policy_ = "stretch";
};

class ResizeOp : public ResizeKernel {
 public:
  explicit ResizeOp(const OpInit& init) : ResizeKernel(init, false) {}
};
class UpsampleOp : public ResizeKernel {
 public:
  explicit UpsampleOp(const OpInit& init) : ResizeKernel(init, true) {}
};

}  // namespace

void register_resize_kernels(OpRegistry& r) {
  r.add("Resize", 10, make_kernel<ResizeOp>);
  r.add("Upsample", 7, make_kernel<UpsampleOp>);
}

}  // namespace fi
