// Inference for reductions (Reduce*: axes attribute or constant input, keepdims,
// noop_with_empty_axes), ArgMax/ArgMin, and QuantizeLinear/DequantizeLinear.
#include "ops/infer/infer_util.h"

namespace fi {
namespace {

void reduce_shape(InferContext& ctx, DataType dt, int axes_input_from) {
  ValueType x = in_type(ctx, 0);
  bool keep = ctx.attrs().get_int("keepdims", 1) != 0;
  std::vector<int64_t> axes;
  if (ctx.opset() < axes_input_from) {
    axes = ctx.attrs().get_ints("axes");
  } else if (ctx.input(1)) {
    if (!ctx.const_ints(1, axes, 64)) {
      std::vector<SymDim> d;
      for (int i = 0; keep && i < x.shape.rank(); ++i) d.push_back(ctx.fresh());
      ctx.set_output(0, keep && x.shape.has_rank ? make_type(dt, d) : make_type(dt));
      return;
    }
  }
  if (!x.shape.has_rank) {
    ctx.set_output(0, make_type(dt));
    return;
  }
  int64_t r = x.shape.rank();
  std::vector<bool> red(size_t(r), false);
  if (axes.empty()) {
    bool noop = ctx.attrs().get_int("noop_with_empty_axes", 0) != 0 && ctx.opset() >= axes_input_from;
    if (noop) {
      ctx.set_output(0, make_type(dt, x.shape.dims));
      return;
    }
    red.assign(size_t(r), true);
  } else {
    for (int64_t a : axes) red[size_t(norm_axis(ctx, a, r))] = true;
  }
  std::vector<SymDim> dims;
  for (int64_t i = 0; i < r; ++i) {
    if (!red[size_t(i)]) dims.push_back(x.shape.dims[size_t(i)]);
    else if (keep) dims.push_back(SymDim::of(1));
  }
  ValueType t = make_type(dt, dims);
  // Shape arithmetic: the product or sum of a small known int vector.
  const std::string& op = ctx.op_type();
  if (x.has_elems && r == 1 && red[0] && (op == "ReduceProd" || op == "ReduceSum")) {
    int64_t acc = op == "ReduceProd" ? 1 : 0;
    bool all_known = true;
    for (const SymDim& e : x.elems) {
      if (!e.known()) all_known = false;
      else if (!(op == "ReduceProd" ? mul_ok(acc, e.value, &acc) : add_ok(acc, e.value, &acc))) all_known = false;
    }
    if (all_known) {
      t.has_elems = true;
      t.elems = {SymDim::of(acc)};
    }
  }
  ctx.set_output(0, t);
}

void infer_reduce(InferContext& ctx) { reduce_shape(ctx, in_dtype(ctx, 0), 18); }
void infer_reduce_sum(InferContext& ctx) { reduce_shape(ctx, in_dtype(ctx, 0), 13); }

void infer_arg(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank) {
    ctx.set_output(0, make_type(DataType::Int64));
    return;
  }
  int64_t r = x.shape.rank();
  if (r == 0) {
    ctx.set_output(0, make_type(DataType::Int64));
    return;
  }
  int64_t axis = norm_axis(ctx, ctx.attrs().get_int("axis", 0), r);
  bool keep = ctx.attrs().get_int("keepdims", 1) != 0;
  std::vector<SymDim> dims;
  for (int64_t i = 0; i < r; ++i) {
    if (i != axis) dims.push_back(x.shape.dims[size_t(i)]);
    else if (keep) dims.push_back(SymDim::of(1));
  }
  ctx.set_output(0, make_type(DataType::Int64, dims));
}

void infer_quantize(InferContext& ctx) {
  DataType dt = DataType::UInt8;
  if (ctx.input(2) && in_dtype(ctx, 2) != DataType::Undefined) {
    dt = in_dtype(ctx, 2);
  } else if (ctx.input(2)) {
    dt = DataType::Undefined;
  } else if (int64_t od = ctx.attrs().get_int("output_dtype", 0)) {
    dt = dtype_valid(int32_t(od)) ? DataType(od) : DataType::Undefined;
  }
  ValueType x = in_type(ctx, 0);
  ctx.set_output(0, x.shape.has_rank ? make_type(dt, x.shape.dims) : make_type(dt));
}

void infer_dequantize(InferContext& ctx) {
  DataType dt = ctx.opset() >= 19 ? in_dtype(ctx, 1) : DataType::Float;
  if (int64_t od = ctx.attrs().get_int("output_dtype", 0)) dt = dtype_valid(int32_t(od)) ? DataType(od) : DataType::Undefined;
  ValueType x = in_type(ctx, 0);
  ctx.set_output(0, x.shape.has_rank ? make_type(dt, x.shape.dims) : make_type(dt));
}

}  // namespace

void register_reduce_infer(OpRegistry& r) {
  for (const char* op : {"ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2",
                         "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
    r.add_infer(op, 1, infer_reduce);
  r.add_infer("ReduceSum", 1, infer_reduce_sum);
  for (const char* op : {"ArgMax", "ArgMin"}) r.add_infer(op, 1, infer_arg);
  r.add_infer("QuantizeLinear", 10, infer_quantize);
  r.add_infer("DequantizeLinear", 10, infer_dequantize);
}

}  // namespace fi
