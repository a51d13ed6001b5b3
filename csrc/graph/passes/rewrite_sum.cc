// Sum (old caffe2 exports write ResNet's and ShuffleNet's residual adds as Sum) becomes Add, which
// the residual fusion and the layout pass know: Sum(a, b) -> Add(a, b); Sum(a, b, c, ...) ->
// Add(Add(a, b), c) ... in input order, which is how the Sum kernel accumulates (the same
// broadcasting, the same rounding); Sum(a) is removed (its readers read a). Default domain only.
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/passes/cleanup_util.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

Node add_node(const Graph& g, const Node& sum, const std::string& name, int a, int b, int out) {
  Node n;
  n.name = name;
  n.op_type = "Add";
  n.opset = sum.opset;
  n.inputs = {a, b};
  n.outputs = {out};
  n.input_names = {g.value(a).name, g.value(b).name};
  n.output_names = {g.value(out).name};
  return n;
}

}  // namespace

void rewrite_sum_as_add(Graph& g) {
  const std::vector<char> captured = cleanup::captured_values(g);
  std::vector<char> dead(g.nodes().size(), 0);
  bool grow = false;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node& n = g.mutable_nodes()[i];
    if (n.op_type != "Sum" || !n.domain.empty() || n.outputs.size() != 1 || n.outputs[0] < 0) continue;
    bool present = !n.inputs.empty();
    for (int v : n.inputs) present = present && v >= 0;
    if (!present) continue;
    if (n.inputs.size() == 1) {
      cleanup::bypass_node(g, i, n.inputs[0], n.outputs[0], captured, dead);
    } else if (n.inputs.size() == 2) {
      n.op_type = "Add";
      n.attrs = Attributes();
    } else {
      grow = true;
    }
  }
  g.remove_nodes(dead);
  if (!grow) return;
  // Sums of three or more: a chain of Adds through new intermediates, in the Sum's place.
  std::vector<Node>& nodes = g.mutable_nodes();
  std::vector<Node> out;
  out.reserve(nodes.size() + 8);
  for (Node& n : nodes) {
    if (n.op_type != "Sum" || !n.domain.empty() || n.inputs.size() < 3 || n.outputs.size() != 1 || n.outputs[0] < 0) {
      out.push_back(std::move(n));
      continue;
    }
    const int y = n.outputs[0];
    bool same = true;  // every input shaped like y: the intermediates are too
    for (int v : n.inputs) same = same && pass_util::same_shape(g, v, y);
    int acc = n.inputs[0];
    for (size_t k = 1; k < n.inputs.size(); ++k) {
      int t = y;
      if (k + 1 < n.inputs.size()) {
        t = g.add_value(g.value(y).name + "_sum" + std::to_string(k));
        TypeInfo info;
        info.dtype = g.value(y).inferred.dtype;
        if (same) info = g.value(y).inferred;
        g.mutable_value(t).inferred = info;
      }
      out.push_back(add_node(g, n, n.name + (k + 1 < n.inputs.size() ? "_add" + std::to_string(k) : ""), acc,
                             n.inputs[k], t));
      acc = t;
    }
  }
  nodes = std::move(out);
  g.remove_nodes(std::vector<char>(nodes.size(), 0));  // renumbers producers
}

}  // namespace fi
