// Dead-node removal: nodes none of whose outputs reaches a graph output (directly or through
// other nodes, subgraph captures included) are removed; ONNX ops have no side effects. Then the
// data of constants nothing reads any more (weights of folded or removed nodes) is released so
// the session does not keep it in memory. Overridable initializers (graph inputs) stay.
#include <vector>

#include "graph/graph.h"
#include "graph/passes/passes.h"

namespace fi {

void remove_dead_nodes(Graph& g) {
  const std::vector<Node>& nodes = g.nodes();
  std::vector<char> live_value(g.values().size(), 0), dead(nodes.size(), 1);
  for (int o : g.outputs()) live_value[size_t(o)] = 1;
  for (size_t i = nodes.size(); i-- > 0;) {  // sorted: every reader comes after its producer
    const Node& n = nodes[i];
    bool live = false;
    for (int v : n.outputs) live = live || (v >= 0 && live_value[size_t(v)]);
    if (!live) continue;
    dead[i] = 0;
    for (int v : n.inputs)
      if (v >= 0) live_value[size_t(v)] = 1;
    for (int v : n.implicit_inputs) live_value[size_t(v)] = 1;
  }
  g.remove_nodes(dead);
  std::vector<int> uses = g.use_counts();
  for (size_t v = 0; v < uses.size(); ++v) {
    const Value& val = g.value(int(v));
    if (uses[v] == 0 && val.is_const && !val.is_input && !val.is_output && val.const_value.defined())
      g.mutable_value(int(v)).const_value = Tensor();
  }
}

}  // namespace fi
