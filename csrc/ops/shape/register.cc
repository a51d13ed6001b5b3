#include "ops/registry.h"
#include "ops/shape/shape_ops.h"

namespace fi {

void register_shape_ops(OpRegistry& r) {
  register_reshape_ops(r);
  register_transpose_ops(r);
  register_concat_split_ops(r);
  register_slice_ops(r);
  register_gather_ops(r);
  register_scatter_ops(r);
  register_expand_ops(r);
  register_pad_ops(r);
  register_generate_ops(r);
  register_select_ops(r);
  register_unique_ops(r);
  register_channel_shuffle_ops(r);
}

}  // namespace fi
