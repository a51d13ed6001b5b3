// Conv -> Add(residual) becomes one Conv whose GEMM epilogue adds the residual while the output
// tile is in registers (ResNet's skip connections). The residual travels as an extra input 3 of
// the Conv. Only when shape inference proved both Add operands have the same shape (no
// broadcasting), the Conv is float32 with constant weights (any group) and no fused clamp yet
// (the clamp must come after the addition), and the residual is computed before the Conv runs.
#include "graph/graph.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

void fuse_residual_add_into_conv(Graph& g) {
  std::vector<int> uses = g.use_counts();
  std::vector<Node>& nodes = g.mutable_nodes();
  std::vector<char> dead(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node& add = nodes[i];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    for (int side = 0; side < 2; ++side) {
      int y = add.inputs[size_t(side)], r = add.inputs[size_t(1 - side)];
      if (y < 0 || r < 0 || y == r || uses[size_t(y)] != 1 || g.value(y).is_output) continue;
      int pi = g.value(y).producer;
      if (pi < 0) continue;
      Node& p = nodes[size_t(pi)];
      if (p.op_type != "Conv" || !p.domain.empty() || p.outputs.size() != 1 || p.inputs.size() > 3) continue;
      if (p.attrs.has("fi.clamp_min") || p.attrs.has("fi.clamp_max")) continue;
      if (!pass_util::const_f32(g, p, 1)) continue;
      int rp = g.value(r).producer;
      if (rp >= pi) continue;  // the residual must exist when the Conv runs
      if (!pass_util::same_f32_shape(g, y, r)) continue;
      p.inputs.resize(4, -1);
      p.input_names.resize(4);
      p.inputs[3] = r;
      p.input_names[3] = g.value(r).name;
      p.outputs[0] = add.outputs[0];
      p.output_names[0] = add.output_names[0];
      dead[i] = 1;
      break;
    }
  }
  g.remove_nodes(dead);
}

}  // namespace fi
