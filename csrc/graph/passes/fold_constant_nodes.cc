// Constant nodes become constant values (as initializers are), so that later passes and the
// kernels see their data at session creation: a Clip whose bounds come from Constant nodes can
// fuse, a MatMul whose weights come from a Constant node packs them once.
#include "graph/graph.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

// The tensor a Constant node defines, when it uses one of the dense forms; undefined otherwise.
Tensor constant_value(const Node& n) {
  const Attributes& a = n.attrs;
  if (const Tensor* t = a.get_tensor("value")) return *t;
  if (const Attribute* f = a.find("value_float"); f && f->type == AttrType::Float) {
    Tensor t = Tensor::empty(DataType::Float, Shape{});
    t.data<float>()[0] = f->f;
    return t;
  }
  if (const Attribute* i = a.find("value_int"); i && i->type == AttrType::Int) {
    Tensor t = Tensor::empty(DataType::Int64, Shape{});
    t.data<int64_t>()[0] = i->i;
    return t;
  }
  if (const Attribute* fs = a.find("value_floats"); fs && fs->type == AttrType::Floats) {
    Tensor t = Tensor::empty(DataType::Float, Shape{int64_t(fs->floats.size())});
    for (size_t k = 0; k < fs->floats.size(); ++k) t.data<float>()[k] = fs->floats[k];
    return t;
  }
  if (const Attribute* is = a.find("value_ints"); is && is->type == AttrType::Ints) {
    Tensor t = Tensor::empty(DataType::Int64, Shape{int64_t(is->ints.size())});
    for (size_t k = 0; k < is->ints.size(); ++k) t.data<int64_t>()[k] = is->ints[k];
    return t;
  }
  return Tensor();
}

}  // namespace

void fold_constant_nodes(Graph& g) {
  std::vector<Node>& nodes = g.mutable_nodes();
  std::vector<char> dead(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node& n = nodes[i];
    if (n.op_type != "Constant" || !n.domain.empty() || n.outputs.size() != 1 || n.outputs[0] < 0) continue;
    if (n.attrs.all().size() != 1) continue;  // exactly one value attribute, as the spec requires
    Value& v = g.mutable_value(n.outputs[0]);
    if (v.is_output) continue;  // graph outputs keep their node (they are returned as copies anyway)
    Tensor t = constant_value(n);
    if (!t.defined()) continue;
    v.is_const = true;
    v.info.dtype = t.dtype();
    v.const_value = std::move(t);
    dead[i] = 1;
  }
  g.remove_nodes(dead);
}

}  // namespace fi
