// Registration entry points of the files of the pool family (called from register.cc).
#pragma once
#include "ops/registry.h"

namespace fi {

void register_pooling_kernels(OpRegistry& r);   // pool.cc
void register_unpool_kernels(OpRegistry& r);    // unpool.cc
void register_resize_kernels(OpRegistry& r);    // resize.cc
void register_grid_kernels(OpRegistry& r);      // grid.cc
void register_roi_kernels(OpRegistry& r);       // roi.cc
void register_signal_kernels(OpRegistry& r);    // signal.cc

}  // namespace fi
