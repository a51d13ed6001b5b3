// Small helpers shared by graph passes.
#pragma once
#include <string>
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

// True when inference proved values a and b have the same shape (equal sizes or equal symbols).
inline bool same_shape(const Graph& g, int a, int b) {
  const TypeInfo& x = g.value(a).inferred;
  const TypeInfo& y = g.value(b).inferred;
  if (!x.has_shape || !y.has_shape || x.dims.size() != y.dims.size()) return false;
  for (size_t d = 0; d < x.dims.size(); ++d) {
    if (x.dims[d] >= 0 || y.dims[d] >= 0) {
      if (x.dims[d] != y.dims[d]) return false;
      continue;
    }
    const std::string& px = d < x.dim_params.size() ? x.dim_params[d] : std::string();
    const std::string& py = d < y.dim_params.size() ? y.dim_params[d] : std::string();
    if (px.empty() || px != py) return false;
  }
  return true;
}

// The same, and both are float32.
inline bool same_f32_shape(const Graph& g, int a, int b) {
  return g.value(a).inferred.dtype == DataType::Float && g.value(b).inferred.dtype == DataType::Float &&
         same_shape(g, a, b);
}

// Drops the data of constant `v` once its one reader (the node being rewritten) no longer reads it.
inline void release_if_unused(Graph& g, std::vector<int>& uses, int v) {
  if (v < 0) return;
  if (--uses[size_t(v)] == 0 && !g.value(v).is_output && !g.value(v).is_input) g.mutable_value(v).const_value = Tensor();
}

}  // namespace fi::pass_util
