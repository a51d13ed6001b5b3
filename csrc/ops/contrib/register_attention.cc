// Registration of the com.microsoft attention ops (fused attention kernel).
#include "ops/registry.h"

namespace fi {

void register_multi_head_attention(OpRegistry& r);
void register_packed_attention(OpRegistry& r);

void register_attention_ops(OpRegistry& r) {
  register_multi_head_attention(r);
  register_packed_attention(r);
}

}  // namespace fi
