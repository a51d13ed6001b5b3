// Fused ops that graph passes (graph/passes/fuse_*.cc) emit, and that models exported for ONNX
// Runtime may contain: com.microsoft Gelu, FastGelu, BiasGelu, SkipLayerNormalization (as ORT
// defines them), and our own ai.fastinfer MatMulBias and LayerNormalization.
#include "ops/contrib/register.h"

namespace fi {

void register_contrib_ops(OpRegistry& r) {
  register_contrib_gelu_ops(r);
  register_contrib_layer_norm_ops(r);
  register_contrib_matmul_ops(r);
}

}  // namespace fi
