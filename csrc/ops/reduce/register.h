// Registration entry points of the reduce/normalisation family, one per source file.
#pragma once
#include "ops/registry.h"

namespace fi {

void register_reduce_kernels(OpRegistry& r);       // reduce.cc: Reduce*

}  // namespace fi
