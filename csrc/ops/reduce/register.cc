#include "ops/reduce/register.h"

namespace fi {

void register_reduce_ops(OpRegistry& r) {
  register_reduce_kernels(r);
}

}  // namespace fi
