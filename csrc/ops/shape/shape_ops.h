// Registration functions of the shape family's files, called from register_shape_ops.
#pragma once
#include "ops/registry.h"

namespace fi {

void register_reshape_ops(OpRegistry& r);
void register_transpose_ops(OpRegistry& r);
void register_concat_split_ops(OpRegistry& r);
void register_slice_ops(OpRegistry& r);
void register_gather_ops(OpRegistry& r);
void register_scatter_ops(OpRegistry& r);
void register_expand_ops(OpRegistry& r);
void register_pad_ops(OpRegistry& r);
void register_generate_ops(OpRegistry& r);
void register_select_ops(OpRegistry& r);
void register_unique_ops(OpRegistry& r);
void register_channel_shuffle_ops(OpRegistry& r);  // ai.fastinfer ChannelShuffle, NhwcChannelShuffle

}  // namespace fi
