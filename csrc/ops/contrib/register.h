// The contrib family: kernels of fused ops (com.microsoft, ai.fastinfer domains).
#pragma once
#include "ops/registry.h"

namespace fi {

namespace contrib {
inline const char* kMsDomain = "com.microsoft";
inline const char* kFiDomain = "ai.fastinfer";
}  // namespace contrib

void register_contrib_gelu_ops(OpRegistry& r);
void register_contrib_layer_norm_ops(OpRegistry& r);
void register_contrib_matmul_ops(OpRegistry& r);

}  // namespace fi
