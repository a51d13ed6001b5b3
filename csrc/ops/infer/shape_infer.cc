// Inference for shape-manipulating ops: Shape, Size, Reshape (0 and -1 with symbolic dims),
// Transpose, Squeeze, Unsqueeze, Concat and Split. Shape, Squeeze, Unsqueeze and Concat carry
// small int tensors' elements along, so a Reshape fed by torch-style shape arithmetic is known.
#include <algorithm>

#include "ops/infer/infer_util.h"

namespace fi {
namespace {

void infer_shape(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank) {
    ctx.set_output(0, make_type(DataType::Int64, {ctx.fresh()}));
    return;
  }
  int64_t r = x.shape.rank();
  int64_t start = 0, end = r;
  if (ctx.opset() >= 15) {
    start = ctx.attrs().get_int("start", 0);
    end = ctx.attrs().get_int("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
  }
  std::vector<SymDim> elems;
  for (int64_t i = start; i < end; ++i) elems.push_back(x.shape.dims[size_t(i)]);
  ctx.set_output(0, make_int_elems(elems, false));
}

void infer_size(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  int64_t n = x.shape.numel();
  if (n >= 0) ctx.set_output(0, make_int_elems({SymDim::of(n)}, true));
  else ctx.set_output(0, make_type(DataType::Int64, {}));
}

// -1 of a Reshape: the input's element count over the other output dims, cancelling symbols.
// pin/pout: the known sizes' products of the input and of the output's other dims.
SymDim infer_minus_one(InferContext& ctx, const SymShape& in, const std::vector<SymDim>& out, size_t skip) {
  if (!in.has_rank) return ctx.fresh();
  int64_t pin = 1, pout = 1;
  std::vector<std::string> syms;
  for (const SymDim& d : in.dims) {
    if (!d.known()) syms.push_back(d.sym);
    else if (!mul_ok(pin, d.value, &pin)) return ctx.fresh();
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (i == skip) continue;
    if (out[i].known()) {
      if (!mul_ok(pout, out[i].value, &pout)) return ctx.fresh();
      continue;
    }
    auto it = std::find(syms.begin(), syms.end(), out[i].sym);
    if (it == syms.end()) return ctx.fresh();
    syms.erase(it);
  }
  // One symbol left over and the known sizes equal: -1 is that symbol ([N, 24, 10, 9] to
  // [-1, 4, 6, 10, 9] keeps N, as a channel shuffle's reshapes do).
  if (syms.size() == 1 && pout != 0 && pin == pout) return SymDim::symbol(syms[0]);
  if (!syms.empty() || pout == 0) return ctx.fresh();
  if (pin % pout != 0) {
    if (in.fully_known())
      ctx.fail(str("cannot reshape ", in.to_string(), " (", pin, " elements) to a shape with ", pout,
                   " elements per -1"));
    return ctx.fresh();
  }
  return SymDim::of(pin / pout);
}

void infer_reshape(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  std::vector<SymDim> spec;
  if (ctx.opset() < 5) {
    for (int64_t v : ctx.attrs().get_ints("shape")) spec.push_back(SymDim::of(v));
  } else if (!ctx.sym_elems(1, spec)) {
    const ValueType* s = ctx.input(1);
    if (s && s->shape.has_rank && s->shape.rank() == 1 && s->shape.dims[0].known() && s->shape.dims[0].value <= 64) {
      std::vector<SymDim> dims;
      for (int64_t i = 0; i < s->shape.dims[0].value; ++i) dims.push_back(ctx.fresh());
      ctx.set_output(0, make_type(x.dtype, dims));
    } else {
      ctx.set_output(0, make_type(x.dtype));
    }
    return;
  }
  bool allowzero = ctx.opset() >= 14 && ctx.attrs().get_int("allowzero", 0) != 0;
  std::vector<SymDim> out(spec.size());
  size_t minus = spec.size();
  for (size_t i = 0; i < spec.size(); ++i) {
    const SymDim& e = spec[i];
    if (!e.known()) {
      out[i] = e;
    } else if (e.value == 0 && !allowzero) {
      if (x.shape.has_rank && i >= size_t(x.shape.rank()))
        ctx.give_up();
      out[i] = x.shape.has_rank ? x.shape.dims[i] : ctx.fresh();
    } else if (e.value == -1) {
      if (minus != spec.size()) ctx.give_up();
      minus = i;
      out[i] = SymDim::of(1);
    } else if (e.value < -1) {
      ctx.give_up();
    } else {
      out[i] = e;
    }
  }
  if (minus != spec.size()) {
    out[minus] = infer_minus_one(ctx, x.shape, out, minus);
  } else if (x.shape.fully_known()) {
    SymShape o(out);
    int64_t n = o.numel();
    if (n >= 0 && n != x.shape.numel())
      ctx.fail(str("cannot reshape ", x.shape.to_string(), " (", x.shape.numel(), " elements) to ", o.to_string(),
                   " (", n, " elements)"));
  }
  ValueType t = make_type(x.dtype, out);
  if (x.has_elems && out.size() <= 1 && SymShape(out).numel() == int64_t(x.elems.size())) {
    t.has_elems = true;
    t.elems = x.elems;
  }
  ctx.set_output(0, t);
}

void infer_transpose(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  if (!x.shape.has_rank) {
    ctx.set_output(0, make_type(x.dtype));
    return;
  }
  size_t r = size_t(x.shape.rank());
  std::vector<int64_t> perm(r);
  for (size_t i = 0; i < r; ++i) perm[i] = int64_t(r - 1 - i);
  perm = ctx.attrs().get_ints("perm", perm);
  std::vector<bool> seen(r, false);
  std::vector<SymDim> dims;
  for (int64_t p : perm) {
    if (p < 0 || p >= int64_t(r) || seen[size_t(p)] || perm.size() != r) {
      ctx.set_output(0, make_type(x.dtype));  // the kernel reports a bad perm
      return;
    }
    seen[size_t(p)] = true;
    dims.push_back(x.shape.dims[size_t(p)]);
  }
  ctx.set_output(0, make_type(x.dtype, dims));
}

// Axes from the attribute (before `input_from`) or from constant input 1.
bool read_axes(InferContext& ctx, int input_from, std::vector<int64_t>& axes, bool& given) {
  given = false;
  if (ctx.opset() < input_from) {
    given = ctx.attrs().has("axes");
    axes = ctx.attrs().get_ints("axes");
    return true;
  }
  if (!ctx.input(1)) return true;
  given = true;
  return ctx.const_ints(1, axes, 64);
}

void infer_squeeze(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  std::vector<int64_t> axes;
  bool given;
  if (!read_axes(ctx, 13, axes, given) || !x.shape.has_rank) {
    ctx.set_output(0, make_type(x.dtype));
    return;
  }
  int64_t r = x.shape.rank();
  std::vector<bool> drop(size_t(r), false);
  if (!given || axes.empty()) {
    for (int64_t i = 0; i < r; ++i) {
      const SymDim& d = x.shape.dims[size_t(i)];
      if (!d.known()) {
        ctx.set_output(0, make_type(x.dtype));
        return;
      }
      drop[size_t(i)] = d.value == 1;
    }
  } else {
    for (int64_t a : axes) {
      a = norm_axis(ctx, a, r);
      const SymDim& d = x.shape.dims[size_t(a)];
      if (d.known() && d.value != 1)
        ctx.give_up();
      drop[size_t(a)] = true;
    }
  }
  std::vector<SymDim> dims;
  for (int64_t i = 0; i < r; ++i)
    if (!drop[size_t(i)]) dims.push_back(x.shape.dims[size_t(i)]);
  ValueType t = make_type(x.dtype, dims);
  if (x.has_elems && x.elems.size() == 1) {
    t.has_elems = true;
    t.elems = x.elems;
  }
  ctx.set_output(0, t);
}

void infer_unsqueeze(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  std::vector<int64_t> axes;
  bool given;
  if (!read_axes(ctx, 13, axes, given) || !x.shape.has_rank) {
    ctx.set_output(0, make_type(x.dtype));
    return;
  }
  int64_t out_rank = x.shape.rank() + int64_t(axes.size());
  std::vector<bool> ones(size_t(out_rank), false);
  for (int64_t a : axes) {
    a = norm_axis(ctx, a, out_rank);
    if (ones[size_t(a)]) ctx.give_up();
    ones[size_t(a)] = true;
  }
  std::vector<SymDim> dims;
  size_t k = 0;
  for (int64_t i = 0; i < out_rank; ++i) dims.push_back(ones[size_t(i)] ? SymDim::of(1) : x.shape.dims[k++]);
  ValueType t = make_type(x.dtype, dims);
  if (x.has_elems) {
    t.has_elems = true;
    t.elems = x.elems;
  }
  ctx.set_output(0, t);
}

void infer_concat(InferContext& ctx) {
  DataType dt = DataType::Undefined;
  int rank = -1;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const ValueType* t = ctx.input(i);
    if (!t) continue;
    if (dt == DataType::Undefined) dt = t->dtype;
    if (!t->shape.has_rank) continue;
    if (rank >= 0 && t->shape.rank() != rank)
      ctx.fail(str("inputs have different ranks (", rank, " and ", t->shape.rank(), ")"));
    rank = t->shape.rank();
  }
  if (rank < 0) {
    ctx.set_output(0, make_type(dt));
    return;
  }
  if (rank == 0) ctx.give_up();
  int64_t axis = norm_axis(ctx, ctx.attrs().get_int("axis", 0), rank);
  std::vector<SymDim> dims(static_cast<size_t>(rank));
  std::vector<bool> set(size_t(rank), false);
  SymDim total = SymDim::of(0);
  bool all_elems = true;
  std::vector<SymDim> elems;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const ValueType* t = ctx.input(i);
    if (!t) continue;
    std::vector<SymDim> e;
    if (all_elems && rank == 1 && ctx.sym_elems(i, e)) elems.insert(elems.end(), e.begin(), e.end());
    else all_elems = false;
    if (!t->shape.has_rank) {
      total = ctx.fresh();
      continue;
    }
    for (int d = 0; d < rank; ++d) {
      const SymDim& v = t->shape.dims[size_t(d)];
      if (d == axis) {
        int64_t sum;
        if (total.known() && v.known()) total = add_ok(total.value, v.value, &sum) ? SymDim::of(sum) : ctx.fresh();
        else if (total.is(0)) total = v;
        else if (!v.is(0)) total = ctx.fresh();
        continue;
      }
      if (!set[size_t(d)]) {
        dims[size_t(d)] = v;
        set[size_t(d)] = true;
      } else if (dims[size_t(d)].known() && v.known() && dims[size_t(d)].value != v.value) {
        ctx.fail(str("inputs differ in dimension ", d, " (", dims[size_t(d)].value, " vs ", v.value, ")"));
      } else if (!dims[size_t(d)].known() && v.known()) {
        dims[size_t(d)] = v;
      }
    }
  }
  for (int d = 0; d < rank; ++d)
    if (!set[size_t(d)] && d != axis) dims[size_t(d)] = ctx.fresh();
  dims[size_t(axis)] = total;
  ValueType out = make_type(dt, dims);
  if (all_elems && rank == 1 && elems.size() <= 64 && total.is(int64_t(elems.size()))) {
    out.has_elems = true;
    out.elems = elems;
  }
  ctx.set_output(0, out);
}

void infer_split(InferContext& ctx) {
  ValueType x = in_type(ctx, 0);
  int n = ctx.num_outputs();
  if (!x.shape.has_rank || n == 0) {
    for (int i = 0; i < n; ++i) ctx.set_output(i, make_type(x.dtype));
    return;
  }
  int64_t axis = norm_axis(ctx, ctx.attrs().get_int("axis", 0), x.shape.rank());
  std::vector<int64_t> split;
  bool known = false;
  if (ctx.opset() < 13) {
    split = ctx.attrs().get_ints("split");
    known = !split.empty();
  } else if (ctx.input(1)) {
    known = ctx.const_ints(1, split, 4096);
    if (!known) {
      for (int i = 0; i < n; ++i) {
        std::vector<SymDim> d = x.shape.dims;
        d[size_t(axis)] = ctx.fresh();
        ctx.set_output(i, make_type(x.dtype, d));
      }
      return;
    }
  }
  const SymDim& dim = x.shape.dims[size_t(axis)];
  if (known) {
    if (int(split.size()) != n) ctx.give_up();
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0) ctx.give_up();
      if (!add_ok(sum, s, &sum)) ctx.give_up();
    }
    if (dim.known() && sum != dim.value)
      ctx.fail(str("split sums to ", sum, " but axis ", axis, " of ", x.shape.to_string(), " has ", dim.value));
  } else if (dim.known()) {
    int64_t parts = ctx.opset() >= 18 && ctx.attrs().has("num_outputs") ? ctx.attrs().get_int("num_outputs", n) : n;
    if (parts == n && n > 0) {
      if (ctx.opset() >= 18 && ctx.attrs().has("num_outputs")) {
        int64_t chunk = (dim.value + n - 1) / n;
        for (int i = 0; i < n; ++i) split.push_back(std::max<int64_t>(0, std::min(chunk, dim.value - chunk * i)));
        known = true;
      } else if (dim.value % n == 0) {
        split.assign(size_t(n), dim.value / n);
        known = true;
      }
    }
  }
  for (int i = 0; i < n; ++i) {
    std::vector<SymDim> d = x.shape.dims;
    d[size_t(axis)] = known ? SymDim::of(split[size_t(i)]) : ctx.fresh();
    ctx.set_output(i, make_type(x.dtype, d));
  }
}

}  // namespace

void register_shape_infer(OpRegistry& r) {
  r.add_infer("Shape", 1, infer_shape);
  r.add_infer("Size", 1, infer_size);
  r.add_infer("Reshape", 1, infer_reshape);
  r.add_infer("Transpose", 1, infer_transpose);
  r.add_infer("Squeeze", 1, infer_squeeze);
  r.add_infer("Unsqueeze", 1, infer_unsqueeze);
  r.add_infer("Concat", 4, infer_concat);
  r.add_infer("Split", 2, infer_split);
}

}  // namespace fi
