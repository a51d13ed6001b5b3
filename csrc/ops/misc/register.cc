#include "ops/registry.h"

namespace fi {

void register_string_ops(OpRegistry& r);

void register_misc_ops(OpRegistry& r) { register_string_ops(r); }

}  // namespace fi
