#include "graph/passes/passes.h"

namespace fi {

void run_graph_passes(Graph& g) {
  fold_constant_nodes(g);
  fold_batchnorm_into_conv(g);
  fuse_residual_add_into_conv(g);  // before the clamp: Conv -> Add -> Relu keeps its order
  fuse_clamp_activation(g);
  assign_layout(g);  // last: converts the fused Convs
}

}  // namespace fi
