// Pad (constant / reflect / edge / wrap; negative pads crop) and CenterCropPad. Both build,
// per output axis, a table mapping each output index to an input index or -1 (fill value),
// then copy row by row along the last axis.
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape/copy_util.h"
#include "ops/shape/shape_ops.h"

namespace fi {

namespace {

// y[o...] = x[map_0[o_0], ...] or `fill` (one element, as raw bytes or a string) where any map is -1.
void mapped_copy(ThreadPool* pool, Tensor& y, const Tensor& x, const std::vector<std::vector<int64_t>>& maps,
                 const std::string& fill_bytes) {
  const int r = y.rank();
  if (y.numel() == 0) return;
  Shape xs = contiguous_strides(x.shape());
  const std::vector<int64_t>& last = maps[size_t(r - 1)];
  const int64_t inner = y.dim(r - 1), rows = y.numel() / inner;
  dispatch_by_size(y.dtype(), "Pad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T fill{};
    if constexpr (std::is_same_v<T, std::string>) fill = fill_bytes;
    else std::memcpy(&fill, fill_bytes.data(), std::min(sizeof(T), fill_bytes.size()));
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(pool, rows, std::max<int64_t>(1, 8192 / inner), [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t rem = row, off = 0;
        bool out = false;
        for (int k = r - 2; k >= 0; --k) {
          int64_t i = rem % y.dim(k);
          rem /= y.dim(k);
          int64_t s = maps[size_t(k)][size_t(i)];
          if (s < 0) out = true;
          else off += s * xs[size_t(k)];
        }
        T* d = py + row * inner;
        if (out) {
          std::fill(d, d + inner, fill);
          continue;
        }
        const T* sx = px + off;
        for (int64_t j = 0; j < inner; ++j) d[j] = last[size_t(j)] < 0 ? fill : sx[last[size_t(j)]];
      }
    });
  });
}

enum class PadMode { Constant, Reflect, Edge, Wrap };

// Pad: pads = [begin_0.., end_0..] on the given axes (default all); fill from constant_value.
class PadKernel : public OpKernel {
 public:
  explicit PadKernel(const OpInit& init) : opset_(init.opset()) {
    std::string m = init.attrs().get_string("mode", "constant");
    if (m == "constant") mode_ = PadMode::Constant;
    else if (m == "reflect") mode_ = PadMode::Reflect;
    else if (m == "edge") mode_ = PadMode::Edge;
    else if (m == "wrap" && opset_ >= 19) mode_ = PadMode::Wrap;
    else throw InvalidModel(str("unknown pad mode '", m, "'"));
    if (opset_ < 11) {
      pads_ = init.attrs().get_ints(init.attrs().has("pads") ? "pads" : "paddings");
      value_ = init.attrs().get_float("value", 0.f);
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const int r = x.rank();
    std::vector<int64_t> pads = opset_ < 11 ? pads_ : read_indices(ctx.in(1), "pads");
    std::vector<int64_t> axes;
    if (opset_ >= 18 && ctx.input(3)) axes = normalize_axes(read_indices(*ctx.input(3), "axes"), r);
    else
      for (int k = 0; k < r; ++k) axes.push_back(k);
    FI_CHECK(pads.size() == 2 * axes.size(), InvalidArgument, "pads has ", pads.size(), " entries for ",
             axes.size(), " axes");
    std::vector<int64_t> pb(size_t(r), 0), pe(size_t(r), 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      pb[size_t(axes[i])] = pads[i];
      pe[size_t(axes[i])] = pads[i + axes.size()];
    }
    std::string fill(16, '\0');
    if (opset_ < 11) {
      if (x.dtype() != DataType::String) {
        dispatch_numeric(x.dtype(), "Pad", [&](auto tag) {
          using T = typename decltype(tag)::type;
          T v = T(value_);
          std::memcpy(&fill[0], &v, sizeof(T));
        });
      }
    } else if (const Tensor* cv = ctx.input(2)) {
      FI_CHECK(cv->dtype() == x.dtype(), InvalidArgument, "constant_value type ", dtype_name(cv->dtype()),
               " differs from the input's ", dtype_name(x.dtype()));
      FI_CHECK(cv->numel() == 1, InvalidArgument, "constant_value must have one element");
      if (x.dtype() == DataType::String) fill = cv->data<std::string>()[0];
      else std::memcpy(&fill[0], cv->raw(), dtype_size(x.dtype()));
    } else if (x.dtype() == DataType::String) {
      fill.clear();
    }
    Shape out;
    std::vector<std::vector<int64_t>> maps(static_cast<size_t>(r));
    for (int k = 0; k < r; ++k) {
      int64_t d = x.dim(k), b = pb[size_t(k)], e = pe[size_t(k)];
      FI_CHECK(b <= kMaxOutputElements && e <= kMaxOutputElements && b >= -d && e >= -d && d + b + e >= 0,
               InvalidArgument, "invalid pads ", b, ", ", e, " for dim ", d);
      int64_t n = d + b + e;
      out.push_back(n);
      int64_t kept = d - std::max<int64_t>(-b, 0) - std::max<int64_t>(-e, 0);
      if (mode_ != PadMode::Constant && n > 0 && (b > 0 || e > 0))
        FI_CHECK(kept > 0, InvalidArgument, "cannot pad an empty axis in this mode");
      if (mode_ == PadMode::Reflect && kept > 0)
        FI_CHECK(b < kept && e < kept, InvalidArgument, "reflect pads ", b, ", ", e, " must be smaller than dim ", kept);
    }
    checked_numel(out, "Pad");
    // Negative pads crop first; the other modes then pad from the cropped range [lo, lo + d).
    for (int k = 0; k < r; ++k) {
      int64_t lo = std::max<int64_t>(-pb[size_t(k)], 0);
      int64_t d = x.dim(k) - lo - std::max<int64_t>(-pe[size_t(k)], 0), b = std::max<int64_t>(pb[size_t(k)], 0);
      auto& m = maps[size_t(k)];
      m.resize(size_t(out[size_t(k)]));
      for (int64_t o = 0; o < out[size_t(k)]; ++o) {
        int64_t i = o - b;
        if (i < 0 || i >= d) {
          switch (mode_) {
            case PadMode::Constant: i = -1; break;
            case PadMode::Edge: i = i < 0 ? 0 : d - 1; break;
            case PadMode::Wrap: i = ((i % d) + d) % d; break;
            case PadMode::Reflect: {
              if (d == 1) {
                i = 0;
                break;
              }
              int64_t p = 2 * (d - 1);
              i = ((i % p) + p) % p;
              if (i >= d) i = p - i;
              break;
            }
          }
        }
        m[size_t(o)] = i < 0 ? -1 : lo + i;
      }
    }
    Tensor& y = ctx.output(0, x.dtype(), out);
    if (r == 0) {
      copy_tensor_data(y, x);
      return;
    }
    mapped_copy(ctx.pool(), y, x, maps, fill);
  }

 private:
  int opset_;
  PadMode mode_ = PadMode::Constant;
  std::vector<int64_t> pads_;
  float value_ = 0;
};

// CenterCropPad: each listed axis is centre-cropped or zero-padded (extra on the end) to `shape`.
class CenterCropPadKernel : public OpKernel {
 public:
  explicit CenterCropPadKernel(const OpInit& init) : axes_(init.attrs().get_ints("axes")) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const int r = x.rank();
    std::vector<int64_t> target = read_indices(ctx.in(1), "shape");
    std::vector<int64_t> axes;
    if (axes_.empty()) {
      for (int k = 0; k < r; ++k) axes.push_back(k);
    } else {
      axes = normalize_axes(axes_, r);
    }
    FI_CHECK(target.size() == axes.size(), InvalidArgument, "shape has ", target.size(), " entries for ",
             axes.size(), " axes");
    Shape out = x.shape();
    for (size_t i = 0; i < axes.size(); ++i) {
      FI_CHECK(target[i] >= 0, InvalidArgument, "invalid target size ", target[i]);
      out[size_t(axes[i])] = target[i];
    }
    checked_numel(out, "CenterCropPad");
    std::vector<std::vector<int64_t>> maps(static_cast<size_t>(r));
    for (int k = 0; k < r; ++k) {
      int64_t d = x.dim(k), t = out[size_t(k)];
      auto& m = maps[size_t(k)];
      m.resize(size_t(t));
      if (t <= d) {
        int64_t off = (d - t) / 2;
        for (int64_t o = 0; o < t; ++o) m[size_t(o)] = o + off;
      } else {
        int64_t b = (t - d) / 2;
        for (int64_t o = 0; o < t; ++o) m[size_t(o)] = (o - b >= 0 && o - b < d) ? o - b : -1;
      }
    }
    Tensor& y = ctx.output(0, x.dtype(), out);
    if (r == 0) {
      copy_tensor_data(y, x);
      return;
    }
    mapped_copy(ctx.pool(), y, x, maps, std::string(x.dtype() == DataType::String ? 0 : 16, '\0'));
  }

 private:
  std::vector<int64_t> axes_;
};

}  // namespace

void register_pad_ops(OpRegistry& r) {
  r.add("Pad", 2, make_kernel<PadKernel>);
  r.add("CenterCropPad", 18, make_kernel<CenterCropPadKernel>);
}

}  // namespace fi
