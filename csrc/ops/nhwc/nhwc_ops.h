// Internal channels-last ops in the domain ai.fastinfer, inserted by the graph pass assign_layout
// (csrc/graph/passes/assign_layout.cc); each file registers its ops.
#pragma once

namespace fi {

class OpRegistry;

constexpr const char* kNhwcDomain = "ai.fastinfer";

void register_nhwc_conv(OpRegistry& r);     // NhwcConv
void register_nhwc_dw_block(OpRegistry& r);  // NhwcDwBlock
void register_nhwc_pool(OpRegistry& r);     // NhwcMaxPool, NhwcAveragePool, NhwcGlobalAveragePool
void register_nhwc_reorder(OpRegistry& r);  // NchwToNhwc, NhwcToNchw
void register_nhwc_batchnorm(OpRegistry& r);  // NhwcBatchNormalization
void register_nhwc_lrn(OpRegistry& r);        // NhwcLRN

}  // namespace fi
