#include "ops/registry.h"

namespace fi {

void register_quant_linear(OpRegistry& r);  // quant_linear.cc
void register_quant_matmul(OpRegistry& r);  // quant_matmul.cc
void register_quant_conv(OpRegistry& r);    // quant_conv.cc

void register_quant_ops(OpRegistry& r) {
  register_quant_linear(r);
  register_quant_matmul(r);
  register_quant_conv(r);
}

}  // namespace fi
