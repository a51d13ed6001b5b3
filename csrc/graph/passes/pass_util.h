// Small helpers shared by graph passes.
#pragma once
#include <vector>

#include "graph/graph.h"

namespace fi::pass_util {

// Input i of node n when it is a constant (initializer, not overridable) float32 tensor; else null.
inline const Tensor* const_f32(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] < 0) return nullptr;
  const Value& v = g.value(n.inputs[i]);
  if (!v.is_const || v.is_input || v.const_value.dtype() != DataType::Float) return nullptr;
  return &v.const_value;
}

// Drops the data of constant `v` once its one reader (the node being rewritten) no longer reads it.
inline void release_if_unused(Graph& g, std::vector<int>& uses, int v) {
  if (v < 0) return;
  if (--uses[size_t(v)] == 0 && !g.value(v).is_output && !g.value(v).is_input) g.mutable_value(v).const_value = Tensor();
}

}  // namespace fi::pass_util
