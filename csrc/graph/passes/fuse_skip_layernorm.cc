// Add(x, skip) [with a constant bias added to either operand first] -> LayerNormalization over
// the last axis becomes one com.microsoft SkipLayerNormalization (ops/contrib/layer_norm.cc):
//   SkipLayerNormalization(x, skip, gamma, beta, bias) -> (y, -, -, sum)
// Only when x and skip have the same statically known float32 shape, gamma (and beta, bias) are
// constant float32 vectors over the last dimension and LayerNormalization's mean/inv-std outputs
// are unused. When the sum has other readers it stays available as output 3 (ORT's
// input_skip_bias_sum); the fused node takes the Add's place so those readers still follow it.
#include "graph/passes/fusion_util.h"
#include "graph/passes/passes.h"

namespace fi {

void fuse_skip_layernorm(Graph& g) {
  using fusion::Matcher;
  Matcher m(g);
  auto& nodes = m.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& ln = nodes[i];
    bool standard = ln.domain.empty(), ours = ln.domain == fusion::kFiDomain;
    if (m.dead[i] || ln.op_type != "LayerNormalization" || (!standard && !ours) || ln.inputs.size() < 2) continue;
    if (ln.attrs.get_int("stash_type", 1) != 1) continue;
    bool extra = false;
    for (size_t o = 1; o < ln.outputs.size(); ++o) extra |= ln.outputs[o] >= 0 && m.uses[size_t(ln.outputs[o])] > 0;
    if (extra || ln.outputs.empty() || ln.outputs[0] < 0) continue;
    int s = ln.inputs[0];
    int rank = fusion::rank_of(g, s);
    int64_t n = fusion::last_dim(g, s);
    int64_t axis = ln.attrs.get_int("axis", -1);
    if (rank < 1 || n <= 0 || (axis != -1 && axis != rank - 1)) continue;
    int gamma = ln.inputs[1], beta = ln.inputs.size() > 2 ? ln.inputs[2] : -1;
    if (!fusion::row_vector(g, gamma, n, 1) || (beta >= 0 && !fusion::row_vector(g, beta, n, 1))) continue;
    int add = m.producer(s, "Add");
    if (add < 0 || nodes[size_t(add)].inputs.size() != 2) continue;
    int x = nodes[size_t(add)].inputs[0], skip = nodes[size_t(add)].inputs[1];
    if (x < 0 || skip < 0 || !pass_util::same_f32_shape(g, x, s) || !pass_util::same_f32_shape(g, skip, s)) continue;
    if (g.value(x).is_const || g.value(skip).is_const) continue;
    // A constant bias added to one operand just before (that sum read only here).
    int bias = -1, bias_add = -1;
    for (int side = 0; side < 2 && bias < 0; ++side) {
      int v = side == 0 ? x : skip;
      int p = m.producer(v, "Add");
      if (p < 0 || !m.only_used(v) || nodes[size_t(p)].inputs.size() != 2) continue;
      for (int k = 0; k < 2; ++k) {
        int c = nodes[size_t(p)].inputs[size_t(k)], other = nodes[size_t(p)].inputs[size_t(1 - k)];
        if (other < 0 || !fusion::row_vector(g, c, n, 1) || !pass_util::same_f32_shape(g, other, s)) continue;
        bias = c;
        bias_add = p;
        (side == 0 ? x : skip) = other;
        break;
      }
    }
    bool keep_sum = !m.only_used(s);
    int y = ln.outputs[0];
    std::vector<int> ins = {x, skip, gamma, beta, bias};
    while (ins.back() < 0) ins.pop_back();
    float eps = ln.attrs.get_float("epsilon", 1e-5f);
    m.kill(int(i));
    if (bias_add >= 0) m.kill(bias_add);
    m.rewrite(add, fusion::kMsDomain, "SkipLayerNormalization", ins,
              keep_sum ? std::vector<int>{y, -1, -1, s} : std::vector<int>{y});
    fusion::set_float_attr(nodes[size_t(add)], "epsilon", eps);
  }
  m.finish();
}

}  // namespace fi
