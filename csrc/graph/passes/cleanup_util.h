// Helpers shared by the clean-up passes (constant/shape folding, Transpose/Reshape elimination,
// dead-node removal): turning a node's output into a constant and rewiring a value's readers.
#pragma once
#include <cstdint>
#include <vector>

#include "graph/graph.h"

namespace fi::cleanup {

// Per value: 1 when some node reads it through a subgraph capture (by name), so it must keep its
// name and producer.
inline std::vector<char> captured_values(const Graph& g) {
  std::vector<char> cap(g.values().size(), 0);
  for (const Node& n : g.nodes())
    for (int v : n.implicit_inputs) cap[size_t(v)] = 1;
  return cap;
}

// Input `i` of node `n` when it is a constant (initializer or folded, not an overridable graph
// input); nullptr for absent or non-constant inputs.
inline const Tensor* const_input(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] < 0) return nullptr;
  const Value& v = g.value(n.inputs[i]);
  if (!v.is_const || v.is_input || !v.const_value.defined()) return nullptr;
  return &v.const_value;
}

// The elements of a constant int64/int32 input of at most `max` elements.
inline bool const_ints(const Graph& g, const Node& n, size_t i, std::vector<int64_t>& out, int64_t max = 4096) {
  const Tensor* t = const_input(g, n, i);
  if (!t || t->numel() > max || t->rank() > 1) return false;
  if (t->dtype() != DataType::Int64 && t->dtype() != DataType::Int32) return false;
  out = t->to_int64_vector();
  return true;
}

// Attribute `name` of n as an int (`dflt` when absent); false when it has another type (the kernel
// reports that when the session is made, naming the node).
inline bool attr_int(const Node& n, const char* name, int64_t dflt, int64_t& out) {
  const Attribute* a = n.attrs.find(name);
  if (!a) {
    out = dflt;
    return true;
  }
  if (a->type != AttrType::Int) return false;
  out = a->i;
  return true;
}

// Makes value `v` (an output of a node the caller removes) a constant holding `t`.
inline void make_constant(Graph& g, int v, Tensor t) {
  Value& val = g.mutable_value(v);
  val.is_const = true;
  val.producer = -1;
  if (val.info.dtype == DataType::Undefined) val.info.dtype = t.dtype();
  val.const_value = std::move(t);
}

// An int64 tensor of rank 1 (or a scalar when `scalar`) holding `xs`.
inline Tensor int64_tensor(const std::vector<int64_t>& xs, bool scalar = false) {
  Tensor t = Tensor::empty(DataType::Int64, scalar ? Shape{} : Shape{int64_t(xs.size())});
  for (size_t k = 0; k < xs.size(); ++k) t.data<int64_t>()[k] = xs[k];
  return t;
}

// Every explicit input of every node that reads `from` reads `to` instead.
inline void replace_uses(Graph& g, int from, int to) {
  const std::string& name = g.value(to).name;
  for (Node& n : g.mutable_nodes())
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (n.inputs[i] == from) {
        n.inputs[i] = to;
        n.input_names[i] = name;
      }
}

// Removes node `ni`, whose output `out` equals its input `in` (Identity, inference Dropout, a
// Reshape to the same shape): readers of `out` read `in`. When `out` is a graph output it keeps its
// name: then `in`'s producer writes `out` directly and `in`'s readers read `out`. Returns false
// (changing nothing) when that is impossible: `in` is a graph input, constant or output itself,
// or a subgraph captures one of them by name.
inline bool bypass_node(Graph& g, size_t ni, int in, int out, const std::vector<char>& captured,
                        std::vector<char>& dead) {
  if (in < 0 || out < 0 || in == out || captured[size_t(out)]) return false;
  if (!g.value(out).is_output) {
    replace_uses(g, out, in);
    dead[ni] = 1;
    return true;
  }
  const Value& vi = g.value(in);
  if (vi.is_output || vi.is_input || vi.is_const || vi.is_captured || vi.producer < 0 || captured[size_t(in)])
    return false;
  int p = vi.producer;
  Node& prod = g.mutable_nodes()[size_t(p)];
  for (size_t o = 0; o < prod.outputs.size(); ++o)
    if (prod.outputs[o] == in) {
      prod.outputs[o] = out;
      prod.output_names[o] = g.value(out).name;
    }
  g.mutable_value(out).producer = p;
  g.mutable_value(in).producer = -1;
  dead[ni] = 1;
  replace_uses(g, in, out);
  return true;
}

}  // namespace fi::cleanup
