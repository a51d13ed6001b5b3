// Data-movement clean-up, all exact:
// - Identity, and inference Dropout (no training_mode input, a mask output nothing reads), are removed.
// - Transpose of a Transpose reads the first one's input with the composed permutation; a
//   Transpose whose permutation is the identity is removed.
// - Reshape, Flatten, Squeeze or Unsqueeze of one of those reads the first one's input: a Reshape
//   with a constant shape without 0s keeps its shape, the others become a Reshape to their
//   inferred output shape (known dims, at most one symbolic dim as -1). The first node then dies
//   when nothing else reads it (remove_dead_nodes).
// - Any of those four whose inferred output shape equals its input's (same sizes or same
//   symbols) is removed.
// A removed node's output that is a graph output keeps its name: its input's producer writes it.
#include <vector>

#include "graph/graph.h"
#include "graph/passes/cleanup_util.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

bool is_reshape_like(const Node& n) {
  return n.domain.empty() && (n.op_type == "Reshape" || n.op_type == "Flatten" || n.op_type == "Squeeze" ||
                              n.op_type == "Unsqueeze");
}

// The permutation of Transpose node n, whose input has `rank` dims (-1: unknown); false if unknown
// or invalid (the kernel reports that).
bool perm_of(const Graph& g, const Node& n, std::vector<int64_t>& perm) {
  int64_t rank = -1;
  if (!n.inputs.empty() && n.inputs[0] >= 0) {
    const TypeInfo& t = g.value(n.inputs[0]).inferred;
    if (t.has_shape) rank = int64_t(t.dims.size());
  }
  if (const Attribute* a = n.attrs.find("perm")) {
    if (a->type != AttrType::Ints) return false;
    perm = a->ints;
    if (rank >= 0 && int64_t(perm.size()) != rank) return false;
  } else {
    if (rank < 0) return false;
    perm.clear();
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  }
  std::vector<char> seen(perm.size(), 0);
  for (int64_t p : perm) {
    if (p < 0 || p >= int64_t(perm.size()) || seen[size_t(p)]) return false;
    seen[size_t(p)] = 1;
  }
  return true;
}

bool is_identity(const std::vector<int64_t>& perm) {
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != int64_t(i)) return false;
  return true;
}

// The shape a Reshape needs to produce value v's inferred shape from any tensor of the same
// element count: known dims, and -1 for at most one symbolic dim. False otherwise (or when some
// dim is 0, where -1 would be ambiguous).
bool reshape_target(const Graph& g, int v, std::vector<int64_t>& shape) {
  const TypeInfo& t = g.value(v).inferred;
  if (!t.has_shape) return false;
  shape = t.dims;
  int unknown = 0;
  for (int64_t d : shape) {
    if (d == 0) return false;
    unknown += d < 0;
  }
  return unknown <= 1;
}

// Node n (reshape-like) reads the input of reshape-like node p instead of p's output.
bool merge_reshapes(Graph& g, Node& n, const Node& p) {
  if (p.inputs.empty() || p.inputs[0] < 0 || n.outputs.empty() || n.outputs[0] < 0) return false;
  int root = p.inputs[0];
  if (g.opset("") < 5) return false;  // Reshape takes its shape as an input from opset 5
  std::vector<int64_t> shape;
  bool keep_shape = false;
  if (n.op_type == "Reshape" && cleanup::const_ints(g, n, 1, shape)) {
    int64_t allowzero = 0;
    if (!cleanup::attr_int(n, "allowzero", 0, allowzero)) return false;
    keep_shape = allowzero != 0;
    if (!keep_shape) {
      keep_shape = true;
      for (int64_t s : shape) keep_shape = keep_shape && s != 0;
    }
  }
  if (!keep_shape) {
    if (!reshape_target(g, n.outputs[0], shape)) return false;
    int c = g.add_constant(n.name + "_shape", cleanup::int64_tensor(shape));
    n.op_type = "Reshape";
    n.attrs = Attributes();
    n.inputs = {n.inputs[0], c};
    n.input_names = {n.input_names[0], g.value(c).name};
  }
  n.inputs[0] = root;
  n.input_names[0] = g.value(root).name;
  return true;
}

}  // namespace

void eliminate_transpose_reshape(Graph& g) {
  std::vector<char> captured = cleanup::captured_values(g);
  const std::vector<int> uses = g.use_counts();
  std::vector<char> dead(g.nodes().size(), 0);
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node& n = g.mutable_nodes()[i];
    if (!n.domain.empty() || n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty() || n.outputs[0] < 0) continue;
    const int in = n.inputs[0], out = n.outputs[0];
    const int pi = g.value(in).producer;
    const Node* p = pi >= 0 && !dead[size_t(pi)] ? &g.nodes()[size_t(pi)] : nullptr;
    if (n.op_type == "Identity" && n.outputs.size() == 1) {
      cleanup::bypass_node(g, i, in, out, captured, dead);
    } else if (n.op_type == "Dropout") {
      bool mask = n.outputs.size() > 1 && n.outputs[1] >= 0 && uses[size_t(n.outputs[1])] > 0;
      bool training = n.inputs.size() > 2 && n.inputs[2] >= 0;
      if (!mask && !training) cleanup::bypass_node(g, i, in, out, captured, dead);
    } else if (n.op_type == "Transpose" && n.outputs.size() == 1) {
      std::vector<int64_t> p2, p1;
      if (!perm_of(g, n, p2)) continue;
      if (p && p->op_type == "Transpose" && p->domain.empty() && !p->inputs.empty() && p->inputs[0] >= 0 &&
          !captured[size_t(in)] && perm_of(g, *p, p1) && p1.size() == p2.size()) {
        std::vector<int64_t> q(p2.size());
        for (size_t k = 0; k < q.size(); ++k) q[k] = p1[size_t(p2[k])];
        Attribute a;
        a.type = AttrType::Ints;
        a.ints = q;
        n.attrs.set("perm", a);
        n.inputs[0] = p->inputs[0];
        n.input_names[0] = g.value(n.inputs[0]).name;
        p2 = q;
      }
      if (is_identity(p2)) cleanup::bypass_node(g, i, n.inputs[0], out, captured, dead);
    } else if (is_reshape_like(n) && n.outputs.size() == 1) {
      if (p && is_reshape_like(*p) && !captured[size_t(in)]) merge_reshapes(g, n, *p);
      if (pass_util::same_shape(g, n.inputs[0], out)) cleanup::bypass_node(g, i, n.inputs[0], out, captured, dead);
    }
  }
  g.remove_nodes(dead);
}

}  // namespace fi
