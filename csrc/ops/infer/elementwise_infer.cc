// Inference for elementwise ops: unary ops keep their input's type and shape; binary and
// variadic ops broadcast (numpy rules, symbolic); comparisons give bool. Add/Sub/Mul/Div of
// small int constants fold, so shape arithmetic stays known.
#include "ops/infer/infer_util.h"

namespace fi {
namespace {

void infer_unary(InferContext& ctx) { same_as_input(ctx); }

void infer_bool_unary(InferContext& ctx) {
  ValueType t = in_type(ctx, 0);
  ctx.set_output(0, t.shape.has_rank ? make_type(DataType::Bool, t.shape.dims) : make_type(DataType::Bool));
}

void infer_identity(InferContext& ctx) { ctx.set_output(0, in_type(ctx, 0)); }

// One SymDim of an int constant op: known values fold, x+0 / x*1 keep the symbol.
SymDim fold(InferContext& ctx, const std::string& op, const SymDim& a, const SymDim& b) {
  if (a.known() && b.known()) {
    int64_t x = a.value, y = b.value;
    int64_t v;
    if (op == "Add") return add_ok(x, y, &v) ? SymDim::of(v) : ctx.fresh();
    if (op == "Sub") return !__builtin_sub_overflow(x, y, &v) ? SymDim::of(v) : ctx.fresh();
    if (op == "Mul") return mul_ok(x, y, &v) ? SymDim::of(v) : ctx.fresh();
    if (op == "Div" && y == -1) return ctx.fresh();  // INT64_MIN / -1
    if (op == "Div" && y != 0) return SymDim::of(x / y);
    if (op == "Mod" && y != 0) {
      int64_t m = x % y;  // fmod=0: the result takes the divisor's sign
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return SymDim::of(m);
    }
    return ctx.fresh();
  }
  if (op == "Add" && b.is(0)) return a;
  if (op == "Add" && a.is(0)) return b;
  if (op == "Sub" && b.is(0)) return a;
  if ((op == "Mul" || op == "Div") && b.is(1)) return a;
  if (op == "Mul" && a.is(1)) return b;
  return ctx.fresh();
}

void infer_binary_impl(InferContext& ctx, DataType out_dt) {
  SymShape s = in_type(ctx, 0).shape;
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.input(i)) continue;
    s = broadcast_shapes(ctx, s, ctx.input(i)->shape);
  }
  ValueType t;
  t.dtype = out_dt;
  t.shape = s;
  const std::string& op = ctx.op_type();
  bool int_dt = out_dt == DataType::Int64 || out_dt == DataType::Int32;
  if (int_dt && ctx.num_inputs() == 2 && (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" ||
                                         (op == "Mod" && ctx.attrs().get_int("fmod", 0) == 0))) {
    std::vector<SymDim> a, b;
    if (ctx.sym_elems(0, a) && ctx.sym_elems(1, b) && s.has_rank && s.rank() <= 1 &&
        (a.size() == b.size() || a.size() == 1 || b.size() == 1)) {
      size_t n = std::max(a.size(), b.size());
      std::vector<SymDim> r;
      for (size_t k = 0; k < n; ++k) r.push_back(fold(ctx, op, a[a.size() == 1 ? 0 : k], b[b.size() == 1 ? 0 : k]));
      if (s.rank() == 0 || (s.dims[0].is(int64_t(n)))) {
        t.has_elems = true;
        t.elems = std::move(r);
      }
    }
  }
  ctx.set_output(0, t);
}

void infer_binary(InferContext& ctx) { infer_binary_impl(ctx, in_dtype(ctx, 0)); }
void infer_compare(InferContext& ctx) { infer_binary_impl(ctx, DataType::Bool); }

void infer_prelu(InferContext& ctx) { same_as_input(ctx); }

void infer_where(InferContext& ctx) {
  SymShape s = broadcast_shapes(ctx, in_type(ctx, 0).shape, in_type(ctx, 1).shape);
  s = broadcast_shapes(ctx, s, in_type(ctx, 2).shape);
  ValueType t;
  t.dtype = in_dtype(ctx, 1);
  t.shape = s;
  ctx.set_output(0, t);
}

void infer_cast(InferContext& ctx) {
  int64_t to = ctx.attrs().get_int("to", 0);
  ValueType t = in_type(ctx, 0);
  t.value.reset();
  DataType dt = dtype_valid(int32_t(to)) ? DataType(to) : DataType::Undefined;
  bool keep_elems = t.has_elems && (dt == DataType::Int64 || dt == DataType::Int32) &&
                    (t.dtype == DataType::Int64 || t.dtype == DataType::Int32);
  if (!keep_elems) {
    t.has_elems = false;
    t.elems.clear();
  }
  t.dtype = dt;
  ctx.set_output(0, t);
}

void infer_castlike(InferContext& ctx) {
  ValueType t = in_type(ctx, 0);
  ValueType out = t.shape.has_rank ? make_type(in_dtype(ctx, 1), t.shape.dims) : make_type(in_dtype(ctx, 1));
  ctx.set_output(0, out);
}

void infer_dropout(InferContext& ctx) {
  same_as_input(ctx);
  ValueType t = in_type(ctx, 0);
  ctx.set_output(1, t.shape.has_rank ? make_type(DataType::Bool, t.shape.dims) : make_type(DataType::Bool));
}

}  // namespace

void register_elementwise_infer(OpRegistry& r) {
  for (const char* op : {"Abs", "Neg", "Floor", "Ceil", "Reciprocal", "Sqrt", "Exp", "Log", "Sigmoid", "Tanh",
                         "Relu", "LeakyRelu", "Elu", "Selu", "ThresholdedRelu", "HardSigmoid", "HardSwish",
                         "Softplus", "Softsign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh",
                         "Asinh", "Acosh", "Atanh", "Erf", "Sign", "Round", "Gelu", "Mish", "Celu", "Shrink",
                         "Not", "BitwiseNot", "Clip", "LRN", "Softmax", "LogSoftmax", "Hardmax",
                         "InstanceNormalization", "LpNormalization", "MeanVarianceNormalization",
                         "BatchNormalization", "LayerNormalization", "CumSum", "Trilu", "ReverseSequence", "Swish"})
    r.add_infer(op, 1, infer_unary);
  // The nodes the fusion passes make before inference runs again (graph/passes/run_passes.cc).
  for (const char* op : {"Gelu", "FastGelu"}) r.add_infer("com.microsoft", op, 1, infer_unary);
  r.add_infer("com.microsoft", "BiasGelu", 1, infer_binary);
  r.add_infer("ai.fastinfer", "LayerNormalization", 1, infer_unary);
  r.add_infer("PRelu", 1, infer_prelu);
  for (const char* op : {"IsNaN", "IsInf"}) r.add_infer(op, 1, infer_bool_unary);
  r.add_infer("Identity", 1, infer_identity);
  r.add_infer("Dropout", 1, infer_dropout);
  // Before opset 7 binary ops used the `broadcast` attribute instead of numpy rules: unknown.
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr",
                         "BitwiseXor"})
    r.add_infer(op, 7, infer_binary);
  for (const char* op : {"Max", "Min", "Sum", "Mean"}) r.add_infer(op, 8, infer_binary);
  for (const char* op : {"And", "Or", "Xor", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    r.add_infer(op, 7, infer_compare);
  r.add_infer("Where", 9, infer_where);
  r.add_infer("Cast", 6, infer_cast);
  r.add_infer("CastLike", 15, infer_castlike);
}

}  // namespace fi
