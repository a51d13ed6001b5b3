// Pattern-matching helpers shared by the transformer fusion passes (fuse_layernorm, fuse_gelu,
// fuse_matmul_bias, fuse_skip_layernorm): who consumes a value, constant scalars, node rewrites.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/passes/pass_util.h"

namespace fi::fusion {

inline const char* kMsDomain = "com.microsoft";
inline const char* kFiDomain = "ai.fastinfer";

// The working state of one pass: use counts, dead flags and the graph.
struct Matcher {
  Graph& g;
  std::vector<int> uses;
  std::vector<char> dead;
  std::vector<std::vector<int>> readers;  // per value: nodes that read it (may be stale: check)

  explicit Matcher(Graph& graph) : g(graph), uses(graph.use_counts()), dead(graph.nodes().size(), 0) {
    readers.resize(graph.values().size());
    const auto& ns = graph.nodes();
    for (size_t i = 0; i < ns.size(); ++i)
      for (int v : ns[i].inputs) add_reader(v, int(i));
  }

  std::vector<Node>& nodes() { return g.mutable_nodes(); }

  // The live default-domain node `op` producing v (with one output), or -1.
  int producer(int v, const char* op) const {
    if (v < 0) return -1;
    int p = g.value(v).producer;
    if (p < 0 || dead[size_t(p)]) return -1;
    const Node& n = g.nodes()[size_t(p)];
    if (n.op_type != op || !n.domain.empty() || n.outputs.size() != 1) return -1;
    return p;
  }

  // True when v is read exactly `k` times by nodes and is no graph output (so a fusion may drop it).
  bool only_used(int v, int k = 1) const {
    return v >= 0 && size_t(v) < uses.size() && uses[size_t(v)] == k && !g.value(v).is_output;
  }

  // The live default-domain node `op` reading v (the only reader of v), or -1.
  int sole_consumer(int v, const char* op) const {
    if (!only_used(v)) return -1;
    std::vector<int> c = consumers(v);
    if (c.size() != 1) return -1;
    const Node& n = g.nodes()[size_t(c[0])];
    return n.op_type == op && n.domain.empty() && n.outputs.size() == 1 ? c[0] : -1;
  }

  // Every live node reading v (a node once per input slot that reads it), in node order.
  std::vector<int> consumers(int v) const {
    std::vector<int> out;
    if (v < 0 || size_t(v) >= readers.size()) return out;
    for (int i : readers[size_t(v)]) {
      if (dead[size_t(i)]) continue;
      for (int in : g.nodes()[size_t(i)].inputs)
        if (in == v) out.push_back(i);
    }
    return out;
  }

  // Scalar value of a constant (numel 1, float/double/int32/int64); false otherwise.
  bool scalar(int v, double& out) const {
    if (v < 0) return false;
    const Value& val = g.value(v);
    if (!val.is_const || val.is_input || val.const_value.numel() != 1) return false;
    const Tensor& t = val.const_value;
    switch (t.dtype()) {
      case DataType::Float: out = t.data<float>()[0]; return true;
      case DataType::Double: out = t.data<double>()[0]; return true;
      case DataType::Int32: out = t.data<int32_t>()[0]; return true;
      case DataType::Int64: out = double(t.data<int64_t>()[0]); return true;
      default: return false;
    }
  }

  // v is a constant scalar equal to `want` within a relative 1e-6 (float rounding of the literal).
  bool is_scalar(int v, double want) const {
    double x;
    return scalar(v, x) && std::fabs(x - want) <= 1e-6 * std::fabs(want) + 1e-12;
  }

  // Binary node i reads v on one side: returns the other input (or -1).
  int other_input(int i, int v) const {
    const Node& n = g.nodes()[size_t(i)];
    if (n.inputs.size() != 2) return -1;
    if (n.inputs[0] == v) return n.inputs[1];
    if (n.inputs[1] == v) return n.inputs[0];
    return -1;
  }

  // Rewrites node i into domain.op reading `inputs` (attributes cleared), keeping its name; its
  // outputs become `outputs` ("" / -1 for absent ones), each now produced by node i.
  void rewrite(int i, const std::string& domain, const std::string& op, const std::vector<int>& inputs,
               const std::vector<int>& outputs) {
    Node& n = g.mutable_nodes()[size_t(i)];
    n.domain = domain;
    n.op_type = op;
    n.attrs = Attributes();
    n.inputs = inputs;
    for (int v : inputs) add_reader(v, i);
    n.input_names.clear();
    for (int v : inputs) n.input_names.push_back(v >= 0 ? g.value(v).name : std::string());
    n.outputs = outputs;
    n.output_names.clear();
    for (int v : outputs) {
      n.output_names.push_back(v >= 0 ? g.value(v).name : std::string());
      if (v >= 0) g.mutable_value(v).producer = i;
    }
    if (!domain.empty() && g.opset(domain) == 0) g.set_opset(domain, 1);
  }

  void kill(int i) { dead[size_t(i)] = 1; }
  void add_reader(int v, int i) {
    if (v < 0) return;
    if (size_t(v) >= readers.size()) readers.resize(size_t(v) + 1);
    auto& r = readers[size_t(v)];
    for (int k : r)
      if (k == i) return;
    r.push_back(i);
  }
  void finish() { g.remove_nodes(dead); }
};

inline void set_float_attr(Node& n, const char* name, float f) {
  Attribute a;
  a.type = AttrType::Float;
  a.f = f;
  n.attrs.set(name, a);
}
inline void set_int_attr(Node& n, const char* name, int64_t i) {
  Attribute a;
  a.type = AttrType::Int;
  a.i = i;
  n.attrs.set(name, a);
}
inline void set_string_attr(Node& n, const char* name, const std::string& s) {
  Attribute a;
  a.type = AttrType::String;
  a.s = s;
  n.attrs.set(name, a);
}

// The statically known last dimension of v (float32 with a known shape), or -1.
inline int64_t last_dim(const Graph& g, int v) {
  const TypeInfo& t = g.value(v).inferred;
  if (t.dtype != DataType::Float || !t.has_shape || t.dims.empty()) return -1;
  return t.dims.back();
}

// The statically known rank of v, or -1.
inline int rank_of(const Graph& g, int v) {
  const TypeInfo& t = g.value(v).inferred;
  return t.has_shape ? int(t.dims.size()) : -1;
}

// A constant float32 vector of n values usable as a per-last-dimension parameter of an operand of
// rank `rank` without changing the result's shape: shape [n] or [1, ..., 1, n] of rank <= `rank`.
inline const Tensor* row_vector(const Graph& g, int v, int64_t n, int rank) {
  if (v < 0) return nullptr;
  const Value& val = g.value(v);
  if (!val.is_const || val.is_input || val.const_value.dtype() != DataType::Float) return nullptr;
  const Tensor& t = val.const_value;
  if (t.rank() < 1 || t.rank() > rank || t.numel() != n || t.shape().back() != n) return nullptr;
  return &t;
}

// The id of a 1-D constant holding t's data (t itself when already 1-D).
inline int as_1d(Graph& g, int v) {
  const Tensor& t = g.value(v).const_value;
  if (t.rank() == 1) return v;
  Tensor r = Tensor::empty(DataType::Float, Shape{t.numel()});
  for (int64_t i = 0; i < t.numel(); ++i) r.data<float>()[i] = t.data<float>()[i];
  return g.add_constant(g.value(v).name + "_1d", std::move(r));
}

}  // namespace fi::fusion
