#include "ops/pool/pool_ops.h"
#include "ops/registry.h"

namespace fi {

void register_pool_ops(OpRegistry& r) {
  register_pooling_kernels(r);
  register_unpool_kernels(r);
  register_resize_kernels(r);
  register_grid_kernels(r);
  register_roi_kernels(r);
  register_signal_kernels(r);
}

}  // namespace fi
