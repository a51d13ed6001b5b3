// Registers every op's shape/type inference function (called from op_registry()).
#include "ops/infer/infer_util.h"

namespace fi {

void register_infer_fns(OpRegistry& r) {
  register_elementwise_infer(r);
  register_nn_infer(r);
  register_shape_infer(r);
  register_reduce_infer(r);
  register_tensor_infer(r);
  register_misc_infer(r);
}

}  // namespace fi
