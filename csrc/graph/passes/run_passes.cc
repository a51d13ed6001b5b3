#include "graph/passes/passes.h"

namespace fi {

void run_graph_passes(Graph& g) {
  fold_constant_nodes(g);
  fold_shape_subgraphs(g);
  fold_constants(g);
  reinfer_types(g);  // folded shapes make more sizes known: fold again
  fold_shape_subgraphs(g);
  fold_constants(g);
  eliminate_transpose_reshape(g);
  fold_constants(g);  // shapes of merged Reshapes, Transposes of constants
  remove_dead_nodes(g);
  rewrite_sum_as_add(g);    // before the residual fusion and the layout pass, which know Add
  fold_channel_affine(g);   // before fold_batchnorm: the BatchNormalization it writes folds into a Conv
  fold_batchnorm_into_conv(g);
  fuse_residual_add_into_conv(g);  // before the clamp: Conv -> Add -> Relu keeps its order
  fuse_clamp_activation(g);
  fuse_activation_into_conv(g);  // after the clamp: a Conv holds one or the other
  fuse_layernorm(g);
  fuse_gelu(g);
  fuse_attention(g);    // before fuse_matmul_bias: it starts from the projections' outputs
  reinfer_types(g);     // the attention's output has the query's batch and sequence: the residual
                        // Add after the output projection sees equal shapes (SkipLayerNormalization)
  fuse_matmul_bias(g);  // before fuse_bias_gelu: MatMul -> Add -> Gelu is one GEMM
  fuse_bias_gelu(g);
  fuse_skip_layernorm(g);
  fuse_channel_shuffle(g);  // before the layout pass, which runs it channels-last
  remove_dead_nodes(g);
  assign_layout(g);  // converts the fused Convs
  fuse_clamp_activation(g);  // again: into the NhwcBatchNormalizations it made
  fuse_dw_block(g);  // fuses the NhwcConvs it made
  write_concat_in_place(g);  // on the NhwcConvs left
  plan_winograd(g);  // last: on the convs that remain
}

}  // namespace fi
