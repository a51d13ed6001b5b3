#include "ops/control/control.h"

namespace fi {

void register_control_ops(OpRegistry& r) {
  register_if_loop(r);
  register_scan(r);
}

}  // namespace fi
