// Conv/Gemm (float32, constant weights) or NhwcBatchNormalization -> Relu or Clip with constant
// bounds: the clamp moves into the producer through the attributes fi.clamp_min / fi.clamp_max,
// which those kernels apply while the output is in registers; the activation node goes away.
#include <cmath>
#include <limits>

#include "graph/graph.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

// The [lo, hi] of a Relu or Clip node with constant bounds; false if not fusable.
bool clamp_bounds(const Graph& g, const Node& act, float& lo, float& hi) {
  lo = -std::numeric_limits<float>::infinity();
  hi = std::numeric_limits<float>::infinity();
  if (act.op_type == "Relu") {
    lo = 0.f;
    return true;
  }
  if (act.op_type != "Clip") return false;
  if (g.opset(act.domain) < 11) {
    lo = act.attrs.get_float("min", lo);
    hi = act.attrs.get_float("max", hi);
    return true;
  }
  for (size_t k = 1; k <= 2; ++k) {
    if (k >= act.inputs.size() || act.inputs[k] < 0) continue;
    const Tensor* t = pass_util::const_f32(g, act, k);
    if (!t || t->numel() != 1) return false;
    (k == 1 ? lo : hi) = t->data<float>()[0];
  }
  return true;
}

// Ops whose kernels apply fi.clamp_min / fi.clamp_max (nn::FusedClamp): Gemm and Conv, and once
// the layout pass has made them, the channels-last BatchNormalizations that no Conv absorbed
// (DenseNet's pre-activation BN -> Relu).
bool clamp_fusable(const Node& p) {
  if (p.domain.empty()) return p.op_type == "Gemm" || p.op_type == "Conv";
  return p.domain == "ai.fastinfer" && p.op_type == "NhwcBatchNormalization";
}

}  // namespace

void fuse_clamp_activation(Graph& g) {
  std::vector<int> uses = g.use_counts();
  std::vector<Node>& nodes = g.mutable_nodes();
  std::vector<char> dead(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node& act = nodes[i];
    if (!act.domain.empty() || act.outputs.size() != 1 || act.inputs.empty()) continue;
    float lo, hi;
    if (!clamp_bounds(g, act, lo, hi) || std::isnan(lo) || std::isnan(hi)) continue;
    int x = act.inputs[0];
    if (x < 0 || uses[size_t(x)] != 1 || g.value(x).is_output || g.value(x).producer < 0) continue;
    Node& p = nodes[size_t(g.value(x).producer)];
    if (!clamp_fusable(p) || p.outputs.size() != 1) continue;
    if (!pass_util::const_f32(g, p, 1)) continue;
    if (const Attribute* a = p.attrs.find("fi.clamp_min")) lo = std::max(lo, a->f);
    if (const Attribute* a = p.attrs.find("fi.clamp_max")) hi = std::min(hi, a->f);
    Attribute amin, amax;
    amin.type = amax.type = AttrType::Float;
    amin.f = lo;
    amax.f = hi;
    p.attrs.set("fi.clamp_min", amin);
    p.attrs.set("fi.clamp_max", amax);
    p.outputs[0] = act.outputs[0];
    p.output_names[0] = act.output_names[0];
    dead[i] = 1;
  }
  g.remove_nodes(dead);
}

}  // namespace fi
