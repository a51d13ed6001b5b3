#include "ops/reduce/register.h"

namespace fi {

void register_reduce_ops(OpRegistry& r) {
  register_reduce_kernels(r);
  register_argminmax_kernels(r);
  register_softmax_kernels(r);
  register_cumulative_kernels(r);
  register_topk_kernels(r);
  register_det_kernels(r);
  register_norm_kernels(r);
  register_layer_norm_kernels(r);
  register_misc_norm_kernels(r);
}

}  // namespace fi
