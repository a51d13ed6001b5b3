// Registration entry points of the reduce/normalisation family, one per source file.
#pragma once
#include "ops/registry.h"

namespace fi {

void register_reduce_kernels(OpRegistry& r);      // reduce.cc: Reduce*
void register_argminmax_kernels(OpRegistry& r);   // argminmax.cc: ArgMax, ArgMin
void register_softmax_kernels(OpRegistry& r);     // softmax.cc: Softmax, LogSoftmax, Hardmax
void register_cumulative_kernels(OpRegistry& r);  // cumulative.cc: CumSum, CumProd
void register_topk_kernels(OpRegistry& r);        // topk.cc: TopK
void register_det_kernels(OpRegistry& r);         // det.cc: Det
void register_norm_kernels(OpRegistry& r);        // norm.cc: BatchNormalization, InstanceNormalization
void register_layer_norm_kernels(OpRegistry& r);  // layer_norm.cc: Layer/Group/RMSNormalization
void register_misc_norm_kernels(OpRegistry& r);   // misc_norm.cc: LpNormalization, MVN, LRN

}  // namespace fi
