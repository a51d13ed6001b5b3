// Conv (float32, constant weights, no clamp fused yet) followed by Sigmoid, Tanh, HardSwish, or
// the SiLU pair Sigmoid(x) + Mul(x, Sigmoid(x)) that exporters write for torch.nn.SiLU: the
// activation moves into the Conv (attribute fi.activation, nn::FusedActivation), applied while the
// output is in cache; the activation nodes go away. Runs after fuse_residual_add_into_conv, so a
// fused residual is added first, as in the graph.
#include "graph/graph.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

// The single Conv that produces x and nothing else reads x but `readers` nodes, or nullptr.
Node* conv_producer(Graph& g, const std::vector<int>& uses, int x, int readers) {
  if (x < 0 || uses[size_t(x)] != readers || g.value(x).is_output || g.value(x).producer < 0) return nullptr;
  Node& p = g.mutable_nodes()[size_t(g.value(x).producer)];
  if (!p.domain.empty() || p.op_type != "Conv" || p.outputs.size() != 1) return nullptr;
  if (!pass_util::const_f32(g, p, 1)) return nullptr;
  if (p.attrs.find("fi.clamp_min") || p.attrs.find("fi.clamp_max") || p.attrs.find("fi.activation")) return nullptr;
  return &p;
}

void set_activation(Node& conv, const char* name, const Node& last) {
  Attribute a;
  a.type = AttrType::String;
  a.s = name;
  conv.attrs.set("fi.activation", a);
  conv.outputs[0] = last.outputs[0];
  conv.output_names[0] = last.output_names[0];
}

}  // namespace

void fuse_activation_into_conv(Graph& g) {
  std::vector<int> uses = g.use_counts();
  std::vector<Node>& nodes = g.mutable_nodes();
  std::vector<char> dead(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node& act = nodes[i];
    if (dead[i] || !act.domain.empty() || act.outputs.size() != 1 || act.inputs.size() != 1) continue;
    const std::string& op = act.op_type;
    if (op != "Sigmoid" && op != "Tanh" && op != "HardSwish") continue;
    const int x = act.inputs[0];
    // SiLU: x feeds this Sigmoid and one Mul(x, s) / Mul(s, x), and s feeds only that Mul.
    if (op == "Sigmoid" && x >= 0 && uses[size_t(x)] == 2) {
      const int s = act.outputs[0];
      if (uses[size_t(s)] != 1 || g.value(s).is_output) continue;
      Node* mul = nullptr;
      size_t mul_i = 0;
      for (size_t j = i + 1; j < nodes.size() && !mul; ++j) {
        const Node& m = nodes[j];
        if (m.domain.empty() && m.op_type == "Mul" && m.inputs.size() == 2 && m.outputs.size() == 1 &&
            ((m.inputs[0] == x && m.inputs[1] == s) || (m.inputs[0] == s && m.inputs[1] == x))) {
          mul = &nodes[j];
          mul_i = j;
        }
      }
      if (!mul) continue;
      Node* conv = conv_producer(g, uses, x, 2);
      if (!conv) continue;
      set_activation(*conv, "Silu", *mul);
      dead[i] = dead[mul_i] = 1;
      continue;
    }
    Node* conv = conv_producer(g, uses, x, 1);
    if (!conv) continue;
    set_activation(*conv, op.c_str(), act);
    dead[i] = 1;
  }
  g.remove_nodes(dead);
}

}  // namespace fi
