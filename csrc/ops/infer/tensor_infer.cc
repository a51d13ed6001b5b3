// Inference for ops whose output shape comes from constant inputs: Slice, Gather, Expand, Tile,
// Pad, ConstantOfShape, Constant, Range, Resize/Upsample. Slice and Gather of small int tensors
// keep their elements (torch's Shape -> Gather -> Unsqueeze -> Concat chains).
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/infer/infer_util.h"

namespace fi {
namespace {

// Length of one sliced dim of known size n (ONNX Slice clamping rules).
int64_t slice_len(int64_t n, int64_t start, int64_t end, int64_t step, int64_t* first) {
  if (start < 0) start += n;
  if (end < 0) end += n;
  int64_t len;
  if (n == 0) {
    *first = 0;
    return 0;
  }
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, n);
    end = std::clamp<int64_t>(end, 0, n);
    len = end > start ? (end - start - 1) / step + 1 : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, n - 1);
    end = std::clamp<int64_t>(end, -1, n - 1);
    int64_t neg = step == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -step;
    len = start > end ? (start - end - 1) / neg + 1 : 0;
  }
  *first = start;
  return len;
}

void infer_slice(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank) {
    ctx.set_output(0, make_type(x.dtype));
    return;
  }
  int64_t r = x.shape.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  bool ok = true;
  if (ctx.opset() < 10) {
    starts = ctx.attrs().get_ints("starts");
    ends = ctx.attrs().get_ints("ends");
    axes = ctx.attrs().get_ints("axes");
  } else {
    ok = ctx.const_ints(1, starts) && ctx.const_ints(2, ends);
    if (ctx.input(3)) ok = ok && ctx.const_ints(3, axes);
    if (ctx.input(4)) ok = ok && ctx.const_ints(4, steps);
  }
  if (!ok || starts.size() != ends.size() || (!axes.empty() && axes.size() != starts.size()) ||
      (!steps.empty() && steps.size() != starts.size())) {
    std::vector<SymDim> dims;
    for (int64_t i = 0; i < r; ++i) dims.push_back(ctx.fresh());
    ctx.set_output(0, make_type(x.dtype, dims));
    return;
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  std::vector<SymDim> dims = x.shape.dims;
  int64_t elem_first = 0, elem_step = 1;
  bool elem_sliced = false;
  for (size_t k = 0; k < starts.size(); ++k) {
    int64_t a = norm_axis(ctx, axes[k], r);
    if (steps[k] == 0) ctx.give_up();
    const SymDim& d = dims[size_t(a)];
    if (d.known()) {
      int64_t first;
      dims[size_t(a)] = SymDim::of(slice_len(d.value, starts[k], ends[k], steps[k], &first));
      if (a == 0) {
        elem_first = first;
        elem_step = steps[k];
        elem_sliced = true;
      }
    } else if (starts[k] == 0 && steps[k] == 1 && ends[k] >= std::numeric_limits<int32_t>::max()) {
      // the whole dim
    } else {
      dims[size_t(a)] = ctx.fresh();
    }
  }
  ValueType t = make_type(x.dtype, dims);
  if (x.has_elems && r == 1 && dims[0].known()) {
    t.has_elems = true;
    if (!elem_sliced) elem_first = 0, elem_step = 1;
    for (int64_t i = 0; i < dims[0].value; ++i) {
      int64_t j = elem_first + i * elem_step;
      if (j < 0 || j >= int64_t(x.elems.size())) {
        t.has_elems = false;
        break;
      }
      t.elems.push_back(x.elems[size_t(j)]);
    }
    if (!t.has_elems) t.elems.clear();
  }
  ctx.set_output(0, t);
}

void infer_gather(InferContext& ctx) {
  ValueType x = in_type(ctx, 0), idx = in_type(ctx, 1);
  if (!x.shape.has_rank || !idx.shape.has_rank || x.shape.rank() == 0) {
    ctx.set_output(0, make_type(x.dtype));
    return;
  }
  int64_t r = x.shape.rank();
  int64_t axis = norm_axis(ctx, ctx.attrs().get_int("axis", 0), r);
  std::vector<SymDim> dims(x.shape.dims.begin(), x.shape.dims.begin() + axis);
  dims.insert(dims.end(), idx.shape.dims.begin(), idx.shape.dims.end());
  dims.insert(dims.end(), x.shape.dims.begin() + axis + 1, x.shape.dims.end());
  ValueType t = make_type(x.dtype, dims);
  std::vector<int64_t> ind;
  if (x.has_elems && r == 1 && idx.shape.rank() <= 1 && ctx.const_ints(1, ind, 64)) {
    int64_t n = int64_t(x.elems.size());
    t.has_elems = true;
    for (int64_t i : ind) {
      if (i < 0) i += n;
      if (i < 0 || i >= n) {
        t.has_elems = false;
        t.elems.clear();
        break;
      }
      t.elems.push_back(x.elems[size_t(i)]);
    }
  }
  ctx.set_output(0, t);
}

bool shape_from_input(InferContext& ctx, int i, std::vector<SymDim>& dims) {
  if (!ctx.sym_elems(i, dims)) return false;
  for (const SymDim& d : dims)
    if (d.known() && d.value < 0) return false;
  return true;
}

void infer_expand(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  std::vector<SymDim> shape;
  if (!shape_from_input(ctx, 1, shape)) {
    ctx.set_output(0, make_type(x.dtype));
    return;
  }
  ctx.set_output(0, make_type(x.dtype, broadcast_shapes(ctx, x.shape, SymShape(shape)).dims));
  if (!x.shape.has_rank) ctx.set_output(0, make_type(x.dtype));
}

void infer_tile(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  std::vector<int64_t> reps;
  if (!x.shape.has_rank || !ctx.const_ints(1, reps) || reps.size() != size_t(x.shape.rank())) {
    ctx.set_output(0, make_type(x.dtype));
    if (x.shape.has_rank) {
      std::vector<SymDim> d;
      for (size_t i = 0; i < x.shape.dims.size(); ++i) d.push_back(ctx.fresh());
      ctx.set_output(0, make_type(x.dtype, d));
    }
    return;
  }
  std::vector<SymDim> dims;
  for (size_t i = 0; i < reps.size(); ++i) {
    if (reps[i] < 0) ctx.give_up();
    dims.push_back(dim_mul(ctx, x.shape.dims[i], SymDim::of(reps[i])));
  }
  ctx.set_output(0, make_type(x.dtype, dims));
}

void infer_pad(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank) {
    ctx.set_output(0, make_type(x.dtype));
    return;
  }
  int64_t r = x.shape.rank();
  std::vector<int64_t> pads, axes;
  bool ok;
  if (ctx.opset() < 11) {
    pads = ctx.attrs().get_ints(ctx.opset() < 2 ? "paddings" : "pads");
    ok = true;
  } else {
    ok = ctx.const_ints(1, pads);
    if (ok && ctx.input(3)) ok = ctx.const_ints(3, axes);
  }
  if (axes.empty())
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  std::vector<SymDim> dims = x.shape.dims;
  if (!ok || pads.size() != 2 * axes.size()) {
    for (auto& d : dims) d = ctx.fresh();
    ctx.set_output(0, make_type(x.dtype, dims));
    return;
  }
  size_t na = axes.size();
  for (size_t k = 0; k < na; ++k) {
    int64_t a = norm_axis(ctx, axes[k], r);
    int64_t add, sum;
    SymDim& d = dims[size_t(a)];
    if (!add_ok(pads[k], pads[k + na], &add)) d = ctx.fresh();
    else if (d.known() && add_ok(d.value, add, &sum) && sum >= 0) d = SymDim::of(sum);
    else if (add != 0) d = ctx.fresh();
  }
  ctx.set_output(0, make_type(x.dtype, dims));
}

void infer_constant_of_shape(InferContext& ctx) {
  const Tensor* v = ctx.attrs().get_tensor("value");
  DataType dt = v ? v->dtype() : DataType::Float;
  std::vector<SymDim> shape;
  if (!shape_from_input(ctx, 0, shape)) {
    const ValueType* s = ctx.input(0);
    if (s && s->shape.has_rank && s->shape.rank() == 1 && s->shape.dims[0].known() && s->shape.dims[0].value <= 64) {
      std::vector<SymDim> dims;
      for (int64_t i = 0; i < s->shape.dims[0].value; ++i) dims.push_back(ctx.fresh());
      ctx.set_output(0, make_type(dt, dims));
    } else {
      ctx.set_output(0, make_type(dt));
    }
    return;
  }
  ValueType t = make_type(dt, shape);
  if (shape.size() == 1 && shape[0].known() && shape[0].value <= 64 && v && v->numel() == 1 &&
      (dt == DataType::Int64 || dt == DataType::Int32)) {
    int64_t e = dt == DataType::Int64 ? v->data<int64_t>()[0] : v->data<int32_t>()[0];
    t.has_elems = true;
    t.elems.assign(size_t(shape[0].value), SymDim::of(e));
  }
  ctx.set_output(0, t);
}

ValueType from_tensor(const Tensor& c) {
  std::vector<SymDim> dims;
  for (int d = 0; d < c.rank(); ++d) dims.push_back(SymDim::of(c.dim(d)));
  ValueType t = make_type(c.dtype(), dims);
  t.value = std::shared_ptr<const Tensor>(std::shared_ptr<const Tensor>(), &c);  // owned by the node
  if ((c.dtype() == DataType::Int64 || c.dtype() == DataType::Int32) && c.rank() <= 1 && c.numel() <= 64) {
    t.has_elems = true;
    for (int64_t i = 0; i < c.numel(); ++i)
      t.elems.push_back(SymDim::of(c.dtype() == DataType::Int64 ? c.data<int64_t>()[i] : c.data<int32_t>()[i]));
  }
  return t;
}

void infer_constant(InferContext& ctx) {
  const Attributes& a = ctx.attrs();
  if (const Tensor* t = a.get_tensor("value")) {
    ctx.set_output(0, from_tensor(*t));
  } else if (a.has("value_int")) {
    ctx.set_output(0, make_int_elems({SymDim::of(a.get_int("value_int", 0))}, true));
  } else if (a.has("value_ints")) {
    std::vector<SymDim> e;
    for (int64_t v : a.get_ints("value_ints")) e.push_back(SymDim::of(v));
    ValueType t = make_int_elems(e, false);
    ctx.set_output(0, t);
  } else if (a.has("value_float")) {
    ctx.set_output(0, make_type(DataType::Float, {}));
  } else if (a.has("value_floats")) {
    ctx.set_output(0, make_type(DataType::Float, {SymDim::of(int64_t(a.get_floats("value_floats").size()))}));
  } else if (a.has("value_string")) {
    ctx.set_output(0, make_type(DataType::String, {}));
  } else if (a.has("value_strings")) {
    ctx.set_output(0, make_type(DataType::String, {SymDim::of(int64_t(a.get_strings("value_strings").size()))}));
  }
}

void infer_range(InferContext& ctx) {
  DataType dt = in_dtype(ctx, 0);
  std::vector<double> s, l, d;
  if (!ctx.const_floats(0, s, 1) || !ctx.const_floats(1, l, 1) || !ctx.const_floats(2, d, 1) || s.size() != 1 ||
      l.size() != 1 || d.size() != 1 || d[0] == 0) {
    ctx.set_output(0, make_type(dt, {ctx.fresh()}));
    return;
  }
  double n = std::ceil((l[0] - s[0]) / d[0]);
  if (!(n < 1e15)) {
    ctx.set_output(0, make_type(dt, {ctx.fresh()}));
    return;
  }
  int64_t count = std::max<int64_t>(0, int64_t(n));
  ValueType t = make_type(dt, {SymDim::of(count)});
  if ((dt == DataType::Int64 || dt == DataType::Int32) && count <= 64) {
    t.has_elems = true;
    for (int64_t i = 0; i < count; ++i) t.elems.push_back(SymDim::of(int64_t(s[0]) + i * int64_t(d[0])));
  }
  ctx.set_output(0, t);
}

void infer_resize(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank) {
    ctx.set_output(0, make_type(x.dtype));
    return;
  }
  size_t r = size_t(x.shape.rank());
  std::vector<SymDim> dims = x.shape.dims;
  std::vector<int64_t> axes = ctx.attrs().get_ints("axes");
  if (axes.empty())
    for (size_t i = 0; i < r; ++i) axes.push_back(int64_t(i));
  for (auto& a : axes) a = norm_axis(ctx, a, int64_t(r));
  std::vector<int64_t> sizes;
  std::vector<double> scales;
  bool has_sizes = ctx.opset() >= 11 && ctx.input(3) && ctx.const_ints(3, sizes) && !sizes.empty();
  bool has_scales = false;
  if (!has_sizes) {
    if (ctx.op_type() == "Upsample" && ctx.opset() < 9) {
      for (float f : ctx.attrs().get_floats("scales")) scales.push_back(f);
      has_scales = !scales.empty();
    } else {
      int si = ctx.opset() >= 11 ? 2 : 1;
      has_scales = ctx.input(si) && ctx.const_floats(si, scales) && !scales.empty();
    }
  }
  std::string policy = ctx.attrs().get_string("keep_aspect_ratio_policy", "stretch");
  if (has_sizes && sizes.size() == axes.size() && policy == "stretch") {
    for (size_t k = 0; k < axes.size(); ++k) dims[size_t(axes[k])] = SymDim::of(std::max<int64_t>(0, sizes[k]));
  } else if (has_scales && scales.size() == axes.size()) {
    for (size_t k = 0; k < axes.size(); ++k) {
      SymDim& d = dims[size_t(axes[k])];
      if (scales[k] == 1.0) continue;
      double v = d.known() && scales[k] > 0 ? std::floor(double(d.value) * scales[k]) : -1;
      d = v >= 0 && v < 1e15 ? SymDim::of(int64_t(v)) : ctx.fresh();
    }
  } else {
    for (auto& d : dims) d = ctx.fresh();
  }
  ctx.set_output(0, make_type(x.dtype, dims));
}

}  // namespace

void register_tensor_infer(OpRegistry& r) {
  r.add_infer("Slice", 1, infer_slice);
  r.add_infer("Gather", 1, infer_gather);
  r.add_infer("Expand", 8, infer_expand);
  r.add_infer("Tile", 6, infer_tile);
  r.add_infer("Pad", 2, infer_pad);
  r.add_infer("ConstantOfShape", 9, infer_constant_of_shape);
  r.add_infer("Constant", 1, infer_constant);
  r.add_infer("Range", 11, infer_range);
  r.add_infer("Resize", 10, infer_resize);
  r.add_infer("Upsample", 7, infer_resize);
}

}  // namespace fi
