// Shared helpers of the per-op shape/type inference functions (see graph/shape_inference.h).
#pragma once
#include <vector>

#include "graph/shape_inference.h"
#include "ops/registry.h"

namespace fi {

void register_elementwise_infer(OpRegistry& r);
void register_nn_infer(OpRegistry& r);
void register_shape_infer(OpRegistry& r);
void register_reduce_infer(OpRegistry& r);
void register_tensor_infer(OpRegistry& r);
void register_misc_infer(OpRegistry& r);

// Input i's type, or an unknown type when absent.
inline ValueType in_type(const InferContext& ctx, int i) {
  const ValueType* t = ctx.input(i);
  return t ? *t : ValueType();
}
inline DataType in_dtype(const InferContext& ctx, int i) {
  const ValueType* t = ctx.input(i);
  return t ? t->dtype : DataType::Undefined;
}
inline bool has_rank(const InferContext& ctx, int i) {
  const ValueType* t = ctx.input(i);
  return t && t->shape.has_rank;
}
// Output 0 has input 0's type and shape (no constant elements).
inline void same_as_input(InferContext& ctx, int out = 0, int in = 0) {
  ValueType t = in_type(ctx, in);
  t.value.reset();
  t.has_elems = false;
  t.elems.clear();
  ctx.set_output(out, t);
}

}  // namespace fi
