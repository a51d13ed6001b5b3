// Conv -> BatchNormalization (inference) becomes one Conv:
//   s = scale / sqrt(var + eps);  W'[m] = W[m] * s[m];  B'[m] = (B[m] - mean[m]) * s[m] + bias[m]
// Only when the Conv's weights and the BN's parameters are constant float32 and the Conv's
// output feeds nothing but the BN.
#include <cmath>

#include "graph/graph.h"
#include "graph/passes/passes.h"
#include "graph/passes/pass_util.h"

namespace fi {

void fold_batchnorm_into_conv(Graph& g) {
  std::vector<int> uses = g.use_counts();
  std::vector<Node>& nodes = g.mutable_nodes();
  std::vector<char> dead(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node& bn = nodes[i];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.inputs.size() != 5) continue;
    if (bn.attrs.get_int("training_mode", 0) != 0 || bn.attrs.get_int("spatial", 1) != 1) continue;
    bool extra_outputs = false;
    for (size_t o = 1; o < bn.output_names.size(); ++o) extra_outputs |= !bn.output_names[o].empty();
    if (extra_outputs || bn.outputs.empty() || bn.outputs[0] < 0) continue;
    int y = bn.inputs[0];
    if (y < 0 || uses[size_t(y)] != 1 || g.value(y).is_output || g.value(y).producer < 0) continue;
    Node& conv = nodes[size_t(g.value(y).producer)];
    if (conv.op_type != "Conv" || !conv.domain.empty() || conv.outputs.size() != 1) continue;
    const Tensor* W = pass_util::const_f32(g, conv, 1);
    if (!W || W->rank() < 3) continue;
    int64_t M = W->dim(0);
    const Tensor* B = conv.inputs.size() > 2 && conv.inputs[2] >= 0 ? pass_util::const_f32(g, conv, 2) : nullptr;
    if (conv.inputs.size() > 2 && conv.inputs[2] >= 0 && !B) continue;
    const Tensor* p[4];
    bool ok = true;
    for (int k = 0; k < 4; ++k) {
      p[k] = pass_util::const_f32(g, bn, k + 1);
      ok = ok && p[k] && p[k]->numel() == M;
    }
    if (!ok || (B && B->numel() != M)) continue;
    double eps = bn.attrs.get_float("epsilon", 1e-5f);
    const float *scale = p[0]->data<float>(), *shift = p[1]->data<float>(), *mean = p[2]->data<float>(),
                *var = p[3]->data<float>();
    // W is scaled in place when nothing else can see it: this Conv is its only reader, it is no
    // graph input or output, and no other tensor shares its buffer. That saves a fresh copy of
    // every folded layer's weights at creation (time in page faults, and transient memory).
    const int old_w = conv.inputs[1];
    const Value& wv = g.value(old_w);
    const bool in_place = uses[size_t(old_w)] == 1 && !wv.is_input && !wv.is_output && W->owner() &&
                          W->owner().use_count() == 1;
    Tensor W2 = in_place ? *W : W->clone();
    Tensor B2 = Tensor::empty(DataType::Float, Shape{M});
    int64_t per = W->numel() / M;
    for (int64_t m = 0; m < M; ++m) {
      double s = double(scale[m]) / std::sqrt(double(var[m]) + eps);
      float* w = W2.data<float>() + m * per;
      for (int64_t j = 0; j < per; ++j) w[j] = float(double(w[j]) * s);
      double b0 = B ? double(B->data<float>()[m]) : 0.0;
      B2.data<float>()[m] = float((b0 - double(mean[m])) * s + double(shift[m]));
    }
    conv.inputs.resize(3, -1);
    conv.input_names.resize(3);
    const int old_b = conv.inputs[2];
    if (in_place) W2.reset();  // the constant holds the scaled data itself
    else conv.inputs[1] = g.add_constant(g.value(old_w).name + "_bn", std::move(W2));
    conv.inputs[2] = g.add_constant(bn.name + "_bias", std::move(B2));
    conv.input_names[1] = g.value(conv.inputs[1]).name;
    conv.input_names[2] = g.value(conv.inputs[2]).name;
    if (!in_place) pass_util::release_if_unused(g, uses, old_w);
    if (old_b >= 0) pass_util::release_if_unused(g, uses, old_b);
    conv.outputs[0] = bn.outputs[0];
    conv.output_names[0] = bn.output_names[0];
    dead[i] = 1;
  }
  g.remove_nodes(dead);
}

}  // namespace fi
