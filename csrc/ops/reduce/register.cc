#include "ops/registry.h"

namespace fi {

void register_reduce_ops(OpRegistry& r) { (void)r; }

}  // namespace fi
