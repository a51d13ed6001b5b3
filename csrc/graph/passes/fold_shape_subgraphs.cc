// Shape arithmetic on statically known sizes becomes constants. Shape (with Shape-15's start/end)
// and Size of a value whose inferred shape is known over the dims they read are replaced by
// constants; where only some dims are known (a symbolic batch), Shape -> Gather and Shape -> Slice
// that pick known dims are. The Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains that
// torch.onnx.export writes then fold away (fold_constants finishes them); symbolic dims stay
// dynamic. Inferred shapes are safe to bake in because a session checks every input against its
// declared dims. Not in subgraphs, whose bodies may declare shapes that the loop does not keep.
#include <vector>

#include "graph/graph.h"
#include "graph/passes/cleanup_util.h"
#include "graph/passes/passes.h"
#include "graph/shape_inference.h"

namespace fi {

namespace {

// The dims node `shape` (a Shape node) reads of its input's inferred shape; false when the rank is unknown.
bool shape_dims(const Graph& g, const Node& shape, std::vector<int64_t>& dims) {
  if (shape.inputs.empty() || shape.inputs[0] < 0) return false;
  const TypeInfo& t = g.value(shape.inputs[0]).inferred;
  if (!t.has_shape) return false;
  int64_t r = int64_t(t.dims.size()), start = 0, end = r;
  if (g.opset(shape.domain) >= 15) {
    if (!cleanup::attr_int(shape, "start", 0, start) || !cleanup::attr_int(shape, "end", r, end)) return false;
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::min(std::max<int64_t>(start, 0), r);
    end = std::min(std::max<int64_t>(end, 0), r);
  }
  dims.clear();
  for (int64_t i = start; i < end; ++i) dims.push_back(t.dims[size_t(i)]);  // -1 where unknown
  return true;
}

bool all_known(const std::vector<int64_t>& xs) {
  for (int64_t x : xs)
    if (x < 0) return false;
  return true;
}

// The Shape node producing input 0 of n (ai.onnx domain), or nullptr.
const Node* shape_producer(const Graph& g, const Node& n) {
  if (n.inputs.empty() || n.inputs[0] < 0) return nullptr;
  int p = g.value(n.inputs[0]).producer;
  if (p < 0) return nullptr;
  const Node& s = g.nodes()[size_t(p)];
  return s.op_type == "Shape" && s.domain.empty() ? &s : nullptr;
}

// Gather(shape, constant indices) along axis 0 -> the picked dims, shaped like the indices.
bool fold_gather(const Graph& g, const Node& n, const std::vector<int64_t>& dims, Tensor& out) {
  int64_t axis = 0;
  if (!cleanup::attr_int(n, "axis", 0, axis) || (axis != 0 && axis != -1)) return false;
  const Tensor* idx = cleanup::const_input(g, n, 1);
  if (!idx || idx->numel() > 64 || (idx->dtype() != DataType::Int64 && idx->dtype() != DataType::Int32)) return false;
  std::vector<int64_t> is = idx->to_int64_vector(), picked;
  int64_t len = int64_t(dims.size());
  for (int64_t i : is) {
    if (i < -len || i >= len) return false;  // the kernel reports it at run time
    int64_t d = dims[size_t(i < 0 ? i + len : i)];
    if (d < 0) return false;
    picked.push_back(d);
  }
  out = Tensor::empty(DataType::Int64, idx->shape());
  for (size_t k = 0; k < picked.size(); ++k) out.data<int64_t>()[k] = picked[k];
  return true;
}

// Slice(shape, constant starts, ends[, axes[, steps]]) (opset 10+) -> the sliced dims.
bool fold_slice(const Graph& g, const Node& n, const std::vector<int64_t>& dims, Tensor& out) {
  if (g.opset(n.domain) < 10 || n.inputs.size() < 3) return false;
  std::vector<int64_t> starts, ends, axes{0}, steps{1};
  if (!cleanup::const_ints(g, n, 1, starts) || !cleanup::const_ints(g, n, 2, ends)) return false;
  if (n.inputs.size() > 3 && n.inputs[3] >= 0 && !cleanup::const_ints(g, n, 3, axes)) return false;
  if (n.inputs.size() > 4 && n.inputs[4] >= 0 && !cleanup::const_ints(g, n, 4, steps)) return false;
  if (starts.size() != 1 || ends.size() != 1 || axes.size() != 1 || steps.size() != 1) return false;
  if ((axes[0] != 0 && axes[0] != -1) || steps[0] == 0) return false;
  const int64_t len = int64_t(dims.size());
  const int64_t step = std::max(std::min(steps[0], len + 1), -len - 1);  // same picks, no overflow
  int64_t s = starts[0], e = ends[0];
  if (s < 0) s = s < -len ? 0 : s + len;  // (values near INT64_MIN clamp without overflow)
  if (e < 0) e = e < -len ? (step > 0 ? 0 : -1) : e + len;
  if (step > 0) {
    s = std::min(s, len);
    e = std::min(e, len);
  } else {
    s = std::min(s, len - 1);
    e = std::min(e, len - 1);
  }
  std::vector<int64_t> picked;
  for (int64_t i = s; step > 0 ? i < e : i > e; i += step) {
    if (i < 0 || i >= len || dims[size_t(i)] < 0) return false;
    picked.push_back(dims[size_t(i)]);
    if (picked.size() > 64) return false;
  }
  out = cleanup::int64_tensor(picked);
  return true;
}

}  // namespace

void fold_shape_subgraphs(Graph& g) {
  if (g.is_subgraph()) return;
  std::vector<Node>& nodes = g.mutable_nodes();
  std::vector<char> dead(nodes.size(), 0);
  std::vector<int64_t> dims;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    if (!n.domain.empty() || n.outputs.size() != 1 || n.outputs[0] < 0 || g.value(n.outputs[0]).is_output) continue;
    Tensor folded;
    if (n.op_type == "Shape") {
      if (!shape_dims(g, n, dims) || !all_known(dims)) continue;
      folded = cleanup::int64_tensor(dims);
    } else if (n.op_type == "Size") {
      if (n.inputs.empty() || n.inputs[0] < 0) continue;
      const TypeInfo& t = g.value(n.inputs[0]).inferred;
      if (!t.has_shape || !all_known(t.dims)) continue;
      int64_t numel = 1;
      bool ok = true;
      for (int64_t d : t.dims) ok = ok && mul_ok(numel, d, &numel);
      if (!ok) continue;
      folded = cleanup::int64_tensor({numel}, /*scalar=*/true);
    } else if (n.op_type == "Gather" || n.op_type == "Slice") {
      const Node* s = shape_producer(g, n);
      if (!s || !shape_dims(g, *s, dims)) continue;
      if (!(n.op_type == "Gather" ? fold_gather(g, n, dims, folded) : fold_slice(g, n, dims, folded))) continue;
    } else {
      continue;
    }
    cleanup::make_constant(g, n.outputs[0], std::move(folded));
    dead[i] = 1;
  }
  g.remove_nodes(dead);
}

}  // namespace fi
