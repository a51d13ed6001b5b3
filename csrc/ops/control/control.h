// Registration entry points of the control-flow family (If, Loop, Scan).
#pragma once
#include "ops/registry.h"

namespace fi {

void register_if_loop(OpRegistry& r);
void register_scan(OpRegistry& r);

}  // namespace fi
