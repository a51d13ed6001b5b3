// The ai.fastinfer channels-last op family.
#include "ops/nhwc/nhwc_ops.h"
#include "ops/registry.h"

namespace fi {

void register_nhwc_ops(OpRegistry& r) {
  register_nhwc_conv(r);
  register_nhwc_dw_block(r);
  register_nhwc_pool(r);
  register_nhwc_reorder(r);
  register_nhwc_batchnorm(r);
  register_nhwc_lrn(r);
}

}  // namespace fi
