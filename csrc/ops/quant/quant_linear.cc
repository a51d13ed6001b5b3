// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear.
// Quantize: y = saturate(round_half_even(x / scale) + zero_point) for integer outputs, or
// y = float8(x / scale + zero_point) for float8 outputs. Dequantize: y = (x - zero_point) * scale.
// scale/zero_point are per tensor (one element), per axis (1-D of x.shape[axis]) or blocked
// (opset 21: same rank as x, x.shape[axis] split into blocks of block_size).
#include <algorithm>
#include <cmath>

#include "ops/quant/quant_util.h"
#include "ops/registry.h"
#include "ops/op_util.h"

namespace fi {

namespace {

// Maps an element index of x to the index of its scale / zero point.
struct QParamIndex {
  enum Mode { PerTensor, PerAxis, Blocked } mode = PerTensor;
  int64_t outer = 1, len = 1, inner = 1, sdim = 1, block = 1;

  QParamIndex(const Tensor& x, const Tensor& scale, int64_t axis_attr, int64_t block_size) {
    if (block_size > 0) {
      mode = Blocked;
      FI_CHECK(x.rank() >= 1, InvalidArgument, "blocked quantisation needs a tensor of rank >= 1");
      int axis = int(normalize_axis(axis_attr, x.rank()));
      FI_CHECK(scale.rank() == x.rank(), InvalidArgument, "blocked scale must have rank ", x.rank(), ", got ",
               scale.shape().str());
      for (int d = 0; d < x.rank(); ++d) {
        int64_t want = d == axis ? (x.dim(d) + block_size - 1) / block_size : x.dim(d);
        FI_CHECK(scale.dim(d) == want, InvalidArgument, "blocked scale shape ", scale.shape().str(),
                 " does not fit input shape ", x.shape().str(), " with block_size ", block_size);
      }
      set(x.shape(), axis);
      sdim = scale.dim(axis);
      block = block_size;
    } else if (scale.rank() == 0 || (scale.rank() == 1 && scale.numel() == 1 && x.rank() == 0)) {
      mode = PerTensor;
    } else {
      FI_CHECK(scale.rank() == 1, InvalidArgument, "scale must be a scalar or 1-D, got ", scale.shape().str());
      int axis = int(normalize_axis(axis_attr, x.rank()));
      if (scale.numel() == 1 && x.dim(axis) != 1) {
        mode = PerTensor;
        return;
      }
      FI_CHECK(scale.numel() == x.dim(axis), InvalidArgument, "per-axis scale has ", scale.numel(),
               " elements but the input has ", x.dim(axis), " along axis ", axis);
      mode = PerAxis;
      set(x.shape(), axis);
    }
  }
  void set(const Shape& s, int axis) {
    outer = s.prod(0, axis);
    len = s[size_t(axis)];
    inner = s.prod(axis + 1, s.rank());
  }
  int64_t operator()(int64_t e) const {
    if (mode == PerTensor) return 0;
    int64_t a = (e / inner) % len;
    if (mode == PerAxis) return a;
    int64_t o = e / (inner * len), i = e % inner;
    return (o * sdim + a / block) * inner + i;
  }
};

void check_zero_point(const Tensor* zp, const Tensor& scale) {
  if (!zp) return;
  FI_CHECK(zp->numel() == scale.numel() && (zp->numel() == 1 || zp->shape() == scale.shape()), InvalidArgument, "zero point shape ", zp->shape().str(),
           " differs from scale shape ", scale.shape().str());
}

// QuantizeLinear (opsets 10..23): x float/float16/bfloat16/int32 -> y of the zero point's type,
// else output_dtype, else uint8.
class QuantizeLinearKernel : public OpKernel {
 public:
  explicit QuantizeLinearKernel(const OpInit& init) {
    const Attributes& a = init.attrs();
    axis_ = a.get_int("axis", 1);
    saturate_ = a.get_int("saturate", 1) != 0;
    block_ = a.get_int("block_size", 0);
    FI_CHECK(block_ >= 0, InvalidModel, "block_size must be >= 0, got ", block_);
    int64_t od = a.get_int("output_dtype", 0);
    FI_CHECK(od == 0 || dtype_valid(int32_t(od)), InvalidModel, "bad output_dtype ", od);
    out_dtype_ = DataType(od);
    FI_CHECK(od == 0 || quant_is_qfloat(out_dtype_) || (quant_is_int(out_dtype_) && out_dtype_ != DataType::Int32),
             InvalidModel, "output_dtype ", dtype_name(out_dtype_), " is not a quantised type");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& scale = ctx.in(1);
    const Tensor* zp = ctx.input(2);
    DataType dt = zp ? zp->dtype() : (out_dtype_ != DataType::Undefined ? out_dtype_ : DataType::UInt8);
    FI_CHECK(!zp || out_dtype_ == DataType::Undefined || out_dtype_ == dt, InvalidArgument, "zero point type ",
             dtype_name(dt), " differs from output_dtype ", dtype_name(out_dtype_));
    FI_CHECK(quant_is_qfloat(dt) || (quant_is_int(dt) && dt != DataType::Int32), NotImplemented,
             "QuantizeLinear to ", dtype_name(dt), " is not supported");
    check_zero_point(zp, scale);
    QParamIndex idx(x, scale, axis_, block_);
    std::vector<float> xv = quant_to_float(x, "QuantizeLinear");
    std::vector<float> sv = quant_to_float(scale, "QuantizeLinear scale");
    std::vector<float> zv = zp ? quant_to_float(*zp, "QuantizeLinear zero point") : std::vector<float>(sv.size(), 0.f);
    Tensor& y = ctx.output(0, dt, x.shape());
    if (quant_is_qfloat(dt))
      quant_store(
          y, saturate_,
          [&](int64_t i) {
            int64_t k = idx(i);
            return xv[size_t(i)] / sv[size_t(k)] + zv[size_t(k)];
          },
          ctx.pool());
    else
      quant_store(y, true, [&](int64_t i) {
        int64_t k = idx(i);
        return std::nearbyint(xv[size_t(i)] / sv[size_t(k)]) + zv[size_t(k)];
      }, ctx.pool());
  }

 private:
  int64_t axis_ = 1, block_ = 0;
  bool saturate_ = true;
  DataType out_dtype_ = DataType::Undefined;
};

// DequantizeLinear (opsets 10..23): y (type of scale, or output_dtype) = (x - zero_point) * scale.
class DequantizeLinearKernel : public OpKernel {
 public:
  explicit DequantizeLinearKernel(const OpInit& init) {
    const Attributes& a = init.attrs();
    axis_ = a.get_int("axis", 1);
    block_ = a.get_int("block_size", 0);
    FI_CHECK(block_ >= 0, InvalidModel, "block_size must be >= 0, got ", block_);
    int64_t od = a.get_int("output_dtype", 0);
    FI_CHECK(od == 0 || od == int64_t(DataType::Float) || od == int64_t(DataType::Float16) ||
                 od == int64_t(DataType::BFloat16),
             InvalidModel, "output_dtype must be a float type, got ", od);
    out_dtype_ = DataType(od);
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& scale = ctx.in(1);
    const Tensor* zp = ctx.input(2);
    FI_CHECK(quant_is_int(x.dtype()) || quant_is_qfloat(x.dtype()), NotImplemented, "DequantizeLinear of ",
             dtype_name(x.dtype()), " is not supported");
    FI_CHECK(!zp || zp->dtype() == x.dtype(), InvalidArgument, "zero point type ", dtype_name(zp ? zp->dtype() : x.dtype()),
             " differs from input type ", dtype_name(x.dtype()));
    DataType dt = out_dtype_ != DataType::Undefined ? out_dtype_ : scale.dtype();
    FI_CHECK(dt == DataType::Float || dt == DataType::Float16 || dt == DataType::BFloat16, InvalidArgument,
             "scale must be float, float16 or bfloat16, got ", dtype_name(scale.dtype()));
    check_zero_point(zp, scale);
    QParamIndex idx(x, scale, axis_, block_);
    std::vector<float> sv = quant_to_float(scale, "DequantizeLinear scale");
    Tensor& y = ctx.output(0, dt, x.shape());
    int64_t n = x.numel();
    std::vector<float> out(static_cast<size_t>(n));
    if (quant_is_qfloat(x.dtype())) {
      std::vector<float> xv = quant_to_float(x, "DequantizeLinear");
      std::vector<float> zv = zp ? quant_to_float(*zp, "DequantizeLinear") : std::vector<float>(sv.size(), 0.f);
      for (int64_t i = 0; i < n; ++i) {
        int64_t k = idx(i);
        out[size_t(i)] = (xv[size_t(i)] - zv[size_t(k)]) * sv[size_t(k)];
      }
    } else {
      std::vector<int32_t> xv = quant_to_int32(x, "DequantizeLinear");
      std::vector<int32_t> zv = zp ? quant_to_int32(*zp, "DequantizeLinear") : std::vector<int32_t>(sv.size(), 0);
      for (int64_t i = 0; i < n; ++i) {
        int64_t k = idx(i);
        out[size_t(i)] = float(int64_t(xv[size_t(i)]) - zv[size_t(k)]) * sv[size_t(k)];
      }
    }
    dispatch_float(dt, "DequantizeLinear", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = y.data<T>();
      for (int64_t i = 0; i < n; ++i) p[i] = T(out[size_t(i)]);
    });
  }

 private:
  int64_t axis_ = 1, block_ = 0;
  DataType out_dtype_ = DataType::Undefined;
};

// DynamicQuantizeLinear: x float -> (y uint8, y_scale float scalar, y_zero_point uint8 scalar)
// with the range [min(0, min x), max(0, max x)] mapped onto [0, 255].
class DynamicQuantizeLinearKernel : public OpKernel {
 public:
  explicit DynamicQuantizeLinearKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.dtype() == DataType::Float, NotImplemented, "DynamicQuantizeLinear supports float input, got ",
             dtype_name(x.dtype()));
    const float* p = x.data<float>();
    int64_t n = x.numel();
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, p[i]);
      hi = std::max(hi, p[i]);
    }
    float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    float zpf = std::nearbyint(std::max(0.0f, std::min(255.0f, 0.0f - lo / scale)));
    Tensor& y = ctx.output(0, DataType::UInt8, x.shape());
    quant_store(y, true, [&](int64_t i) { return std::nearbyint(p[i] / scale) + zpf; }, ctx.pool());
    if (ctx.num_outputs() > 1 && ctx.has_output(1)) *ctx.output(1, DataType::Float, Shape{}).data<float>() = scale;
    if (ctx.num_outputs() > 2 && ctx.has_output(2))
      *ctx.output(2, DataType::UInt8, Shape{}).data<uint8_t>() = uint8_t(zpf);
  }
};

}  // namespace

void register_quant_linear(OpRegistry& r) {
  r.add("QuantizeLinear", 10, make_kernel<QuantizeLinearKernel>);
  r.add("DequantizeLinear", 10, make_kernel<DequantizeLinearKernel>);
  r.add("DynamicQuantizeLinear", 11, make_kernel<DynamicQuantizeLinearKernel>);
}

}  // namespace fi
