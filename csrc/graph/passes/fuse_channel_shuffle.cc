// ShuffleNet's channel shuffle as models write it,
//   Reshape X [N, C, H, W] -> [N, G, C/G, H, W] -> Transpose (0, 2, 1, 3, 4) -> Reshape [N, C, H, W]
// (torch.onnx.export of view / transpose(1, 2) / view, and the Caffe2 ShuffleNet), becomes one
// ai.fastinfer ChannelShuffle (group G; ops/shape/channel_shuffle.cc), which assign_layout can then
// run channels-last inside a CNN region instead of leaving it at the region's edge with two reorders.
// The shapes come from inference (whatever computed the Reshapes' shape inputs); both
// intermediates must be read only by the next step.
#include "graph/passes/fusion_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

// Inference proved v's shape: its dims, else empty.
std::vector<int64_t> known_dims(const Graph& g, int v) {
  const TypeInfo& t = g.value(v).inferred;
  return t.has_shape ? t.dims : std::vector<int64_t>{};
}

// G when the Reshape r1 takes X [N, C, H, W] to [N, G, C/G, H, W] (C, H, W known), else 0.
int64_t split_group(const Graph& g, const Node& r1) {
  if (r1.inputs.empty() || r1.inputs[0] < 0) return 0;
  const std::vector<int64_t> x = known_dims(g, r1.inputs[0]), v = known_dims(g, r1.outputs[0]);
  if (x.size() != 4 || v.size() != 5 || g.value(r1.inputs[0]).inferred.dtype == DataType::String) return 0;
  if (x[1] <= 0 || x[2] <= 0 || x[3] <= 0 || v[1] <= 0 || v[1] * v[2] != x[1] || v[3] != x[2] || v[4] != x[3]) return 0;
  return v[1];
}

}  // namespace

void fuse_channel_shuffle(Graph& g) {
  fusion::Matcher m(g);
  auto& nodes = m.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& t = nodes[i];
    if (m.dead[i] || !t.domain.empty() || t.op_type != "Transpose" || t.inputs.size() != 1 || t.outputs.size() != 1)
      continue;
    const Attribute* perm = t.attrs.find("perm");  // of the wrong type: the Transpose kernel reports it
    if (!perm || perm->type != AttrType::Ints || perm->ints != std::vector<int64_t>{0, 2, 1, 3, 4}) continue;
    const int r1 = m.producer(t.inputs[0], "Reshape");
    const int r2 = m.sole_consumer(t.outputs[0], "Reshape");
    if (r1 < 0 || r2 < 0 || !m.only_used(t.inputs[0])) continue;
    const int64_t group = split_group(g, nodes[size_t(r1)]);
    if (group == 0) continue;
    const int x = nodes[size_t(r1)].inputs[0], y = nodes[size_t(r2)].outputs[0];
    const std::vector<int64_t> xd = known_dims(g, x), yd = known_dims(g, y);
    // Same C, H, W (known) and so the same N: the shuffle's output in X's shape.
    if (yd.size() != 4 || yd[1] != xd[1] || yd[2] != xd[2] || yd[3] != xd[3]) continue;
    m.rewrite(r2, fusion::kFiDomain, "ChannelShuffle", {x}, {y});
    fusion::set_int_attr(nodes[size_t(r2)], "group", group);
    m.kill(r1);
    m.kill(int(i));
  }
  m.finish();
}

}  // namespace fi
