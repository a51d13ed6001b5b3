#include "graph/shape_inference.h"

#include "graph/graph.h"
#include "ops/registry.h"

namespace fi {

bool SymShape::fully_known() const {
  if (!has_rank) return false;
  for (const SymDim& d : dims)
    if (!d.known()) return false;
  return true;
}

int64_t SymShape::numel() const {
  if (!fully_known()) return -1;
  int64_t n = 1;
  for (const SymDim& d : dims) {
    if (d.value != 0 && n > (int64_t(1) << 62) / d.value) return -1;
    n *= d.value;
  }
  return n;
}

std::string SymShape::to_string() const {
  if (!has_rank) return "?";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + dims[i].to_string();
  return s + "]";
}

// ---- InferContext -------------------------------------------------------------------------------
InferContext::InferContext(const Node& node, int opset, std::vector<const ValueType*> inputs, int* counter)
    : node_(node), opset_(opset), inputs_(std::move(inputs)), outputs_(node.outputs.size()), counter_(counter) {}

const std::string& InferContext::op_type() const { return node_.op_type; }
const Attributes& InferContext::attrs() const { return node_.attrs; }

const ValueType* InferContext::input(int i) const {
  return i >= 0 && i < num_inputs() ? inputs_[size_t(i)] : nullptr;
}

void InferContext::set_output(int i, ValueType t) {
  if (i >= 0 && i < num_outputs()) outputs_[size_t(i)] = std::move(t);
}

void InferContext::fail(const std::string& reason) const { throw ShapeContradiction(node_.where() + reason); }

namespace {
struct GiveUp {};
}  // namespace

void InferContext::give_up() const { throw GiveUp(); }

SymDim InferContext::fresh() { return SymDim::symbol(str("unk__", (*counter_)++)); }

bool InferContext::const_ints(int i, std::vector<int64_t>& out, size_t max) const {
  const ValueType* t = input(i);
  if (!t) return false;
  out.clear();
  if (t->has_elems) {
    if (t->elems.size() > max) return false;
    for (const SymDim& d : t->elems) {
      if (!d.known()) return false;
      out.push_back(d.value);
    }
    return true;
  }
  if (!t->value || t->value->numel() > int64_t(max)) return false;
  const Tensor& v = *t->value;
  if (v.dtype() == DataType::Int64) {
    out.assign(v.data<int64_t>(), v.data<int64_t>() + v.numel());
  } else if (v.dtype() == DataType::Int32) {
    out.assign(v.data<int32_t>(), v.data<int32_t>() + v.numel());
  } else {
    return false;
  }
  return true;
}

bool InferContext::const_floats(int i, std::vector<double>& out, size_t max) const {
  const ValueType* t = input(i);
  if (!t || !t->value || t->value->numel() > int64_t(max)) return false;
  const Tensor& v = *t->value;
  out.clear();
  if (v.dtype() == DataType::Float) {
    out.assign(v.data<float>(), v.data<float>() + v.numel());
  } else if (v.dtype() == DataType::Double) {
    out.assign(v.data<double>(), v.data<double>() + v.numel());
  } else {
    std::vector<int64_t> ints;
    if (!const_ints(i, ints, max)) return false;
    out.assign(ints.begin(), ints.end());
  }
  return true;
}

bool InferContext::sym_elems(int i, std::vector<SymDim>& out) const {
  const ValueType* t = input(i);
  if (!t) return false;
  if (t->has_elems) {
    out = t->elems;
    return true;
  }
  std::vector<int64_t> ints;
  if (!t->value || t->value->rank() > 1 || !const_ints(i, ints, 64)) return false;
  out.clear();
  for (int64_t v : ints) out.push_back(SymDim::of(v));
  return true;
}

// ---- helpers ------------------------------------------------------------------------------------
ValueType make_type(DataType dt, std::vector<SymDim> dims) {
  ValueType t;
  t.dtype = dt;
  t.shape = SymShape(std::move(dims));
  return t;
}

ValueType make_type(DataType dt) {
  ValueType t;
  t.dtype = dt;
  return t;
}

ValueType make_int_elems(std::vector<SymDim> elems, bool scalar, DataType dt) {
  ValueType t;
  t.dtype = dt;
  if (scalar && elems.size() == 1) {
    t.shape = SymShape(std::vector<SymDim>{});
  } else {
    t.shape = SymShape({SymDim::of(int64_t(elems.size()))});
  }
  if (elems.size() <= 64) {
    t.has_elems = true;
    t.elems = std::move(elems);
  }
  return t;
}

SymShape broadcast_shapes(InferContext& ctx, const SymShape& a, const SymShape& b) {
  if (!a.has_rank || !b.has_rank) return SymShape();
  size_t r = std::max(a.dims.size(), b.dims.size());
  std::vector<SymDim> out(r);
  for (size_t k = 0; k < r; ++k) {
    const SymDim* x = k < r - a.dims.size() ? nullptr : &a.dims[k - (r - a.dims.size())];
    const SymDim* y = k < r - b.dims.size() ? nullptr : &b.dims[k - (r - b.dims.size())];
    if (!x) { out[k] = *y; continue; }
    if (!y) { out[k] = *x; continue; }
    if (x->known() && y->known()) {
      if (x->value == y->value || y->value == 1) out[k] = *x;
      else if (x->value == 1) out[k] = *y;
      else ctx.fail(str("input shapes ", a.to_string(), " and ", b.to_string(), " cannot be broadcast"));
    } else if (x->is(1)) {
      out[k] = *y;
    } else if (y->is(1)) {
      out[k] = *x;
    } else if (x->known()) {
      out[k] = *x;  // y must be x or 1
    } else if (y->known()) {
      out[k] = *y;
    } else if (*x == *y) {
      out[k] = *x;
    } else {
      out[k] = ctx.fresh();
    }
  }
  return SymShape(std::move(out));
}

int64_t norm_axis(InferContext& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) ctx.give_up();
  return axis < 0 ? axis + rank : axis;
}

SymDim dim_mul(InferContext& ctx, const SymDim& a, const SymDim& b) {
  if (a.known() && b.known()) {
    if (a.value != 0 && b.value > (int64_t(1) << 62) / a.value) return ctx.fresh();
    return SymDim::of(a.value * b.value);
  }
  if (a.is(1)) return b;
  if (b.is(1)) return a;
  if (a.is(0) || b.is(0)) return SymDim::of(0);
  return ctx.fresh();
}

// ---- the pass -----------------------------------------------------------------------------------
namespace {

ValueType from_declared(const TypeInfo& info, int* counter) {
  ValueType t;
  t.dtype = info.dtype;
  if (info.has_shape) {
    t.shape.has_rank = true;
    for (size_t d = 0; d < info.dims.size(); ++d) {
      const std::string p = d < info.dim_params.size() ? info.dim_params[d] : std::string();
      if (info.dims[d] >= 0) t.shape.dims.push_back(SymDim::of(info.dims[d]));
      else if (!p.empty()) t.shape.dims.push_back(SymDim::symbol(p));
      else t.shape.dims.push_back(SymDim::symbol(str("unk__", (*counter)++)));
    }
  }
  return t;
}

ValueType from_constant(const Tensor& c) {
  ValueType t;
  t.dtype = c.dtype();
  std::vector<SymDim> dims;
  for (int d = 0; d < c.rank(); ++d) dims.push_back(SymDim::of(c.dim(d)));
  t.shape = SymShape(std::move(dims));
  t.value = std::shared_ptr<const Tensor>(std::shared_ptr<const Tensor>(), &c);  // graph-owned
  return t;
}

TypeInfo to_info(const ValueType& t) {
  TypeInfo info;
  info.dtype = t.dtype;
  info.has_shape = t.shape.has_rank;
  for (const SymDim& d : t.shape.dims) {
    info.dims.push_back(d.known() ? d.value : -1);
    info.dim_params.push_back(d.known() ? std::string() : d.sym);
  }
  return info;
}

}  // namespace

void infer_types(Graph& g) {
  const OpRegistry& reg = op_registry();
  const bool subgraph = g.parent_ != nullptr;
  int& counter = g.symbol_counter_;
  std::vector<ValueType> types(g.values_.size());
  for (size_t id = 0; id < g.values_.size(); ++id) {
    const Value& v = g.values_[id];
    if (v.is_input) {
      types[id] = from_declared(v.info, &counter);
      if (types[id].dtype == DataType::Undefined && v.is_const) types[id].dtype = v.const_value.dtype();
    } else if (v.is_const) {
      types[id] = from_constant(v.const_value);
    } else if (v.is_captured && !subgraph) {
      types[id] = from_declared(v.info, &counter);
    }
  }
  for (Node& n : g.nodes_) {
    int version = g.opset(n.domain);
    if (version == 0 && n.domain.empty()) version = 1;
    std::vector<const ValueType*> ins;
    for (int v : n.inputs) ins.push_back(v >= 0 ? &types[size_t(v)] : nullptr);
    InferContext ctx(n, version, std::move(ins), &counter);
    InferFn fn = version > 0 ? reg.find_infer(n.domain, n.op_type, version) : nullptr;
    if (fn) {
      try {
        fn(ctx);
      } catch (const ShapeContradiction&) {
        if (!subgraph) throw;  // subgraph bodies may declare loose types: never fail on them
        ctx.outputs().assign(n.outputs.size(), ValueType());
      } catch (...) {
        // Unsure (GiveUp, a bad attribute the kernel will report): unknown outputs.
        ctx.outputs().assign(n.outputs.size(), ValueType());
      }
    } else {
      // No inference for this op (a fused node a pass made, an op without one): its outputs keep
      // what an earlier run found for the values it computes (nothing, on the first).
      for (size_t o = 0; o < n.outputs.size(); ++o)
        if (n.outputs[o] >= 0) ctx.outputs()[o] = from_declared(g.values_[size_t(n.outputs[o])].inferred, &counter);
    }
    for (size_t o = 0; o < n.outputs.size(); ++o)
      if (n.outputs[o] >= 0) types[size_t(n.outputs[o])] = std::move(ctx.outputs()[o]);
  }
  for (size_t id = 0; id < g.values_.size(); ++id) g.values_[id].inferred = to_info(types[id]);
}

}  // namespace fi
