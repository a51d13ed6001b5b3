#include "ops/registry.h"

namespace fi {

// Each defined in its own file of this directory.
void register_matmul_ops(OpRegistry& r);
void register_gemm_ops(OpRegistry& r);
void register_conv_ops(OpRegistry& r);
void register_conv_transpose_ops(OpRegistry& r);
void register_einsum_ops(OpRegistry& r);
void register_deform_conv_ops(OpRegistry& r);

void register_nn_ops(OpRegistry& r) {
  register_matmul_ops(r);
  register_gemm_ops(r);
  register_conv_ops(r);
  register_conv_transpose_ops(r);
  register_einsum_ops(r);
  register_deform_conv_ops(r);
}

}  // namespace fi
