// Registration of the elementwise family; each group registers itself from its own file.
#include "ops/registry.h"

namespace fi {

void register_arith_ops(OpRegistry& r);
void register_pow_ops(OpRegistry& r);
void register_logic_ops(OpRegistry& r);
void register_unary_ops(OpRegistry& r);
void register_misc_unary_ops(OpRegistry& r);
void register_cast_ops(OpRegistry& r);

void register_elementwise_ops(OpRegistry& r) {
  register_arith_ops(r);
  register_pow_ops(r);
  register_logic_ops(r);
  register_unary_ops(r);
  register_misc_unary_ops(r);
  register_cast_ops(r);
}

}  // namespace fi
