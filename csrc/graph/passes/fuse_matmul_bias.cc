// MatMul(A, B) -> Add(bias) [-> activation] becomes one ai.fastinfer MatMulBias node
// (ops/contrib/matmul_bias.cc): the bias goes into the GEMM epilogue and B is packed once.
// Only when B is a constant float32 [K, N] matrix, the bias a constant float32 vector of N
// values (shape [N], or [1, .., N] of rank at most A's), and the MatMul's output (and the
// Add's, when an activation follows) feeds only the next node. Activations: Relu, Sigmoid, Tanh, com.microsoft Gelu / FastGelu (one
// input) and ONNX Gelu (approximate none or tanh). Also a plain Gemm followed by one of those.
#include <algorithm>

#include "graph/passes/fusion_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

using fusion::Matcher;

// The MatMulBias activation name for node n, or "" when n is no fusable activation.
std::string activation_name(const Node& n) {
  if (n.inputs.size() != 1 || n.outputs.size() != 1) return "";
  if (n.domain.empty()) {
    if (n.op_type == "Relu" || n.op_type == "Sigmoid" || n.op_type == "Tanh") return n.op_type;
    if (n.op_type == "Gelu") {
      std::string a = n.attrs.get_string("approximate", "none");
      return a == "none" ? "GeluErf" : a == "tanh" ? "GeluTanh" : "";
    }
    return "";
  }
  if (n.domain == fusion::kMsDomain && n.op_type == "Gelu") return "GeluErf";
  if (n.domain == fusion::kMsDomain && n.op_type == "FastGelu") return "GeluTanh";
  return "";
}

}  // namespace

void fuse_matmul_bias(Graph& g) {
  Matcher m(g);
  auto& nodes = m.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& add = nodes[i];
    if (m.dead[i] || add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2 || add.outputs.size() != 1)
      continue;
    for (int side = 0; side < 2; ++side) {
      int y = add.inputs[size_t(side)], bias = add.inputs[size_t(1 - side)];
      int mm = m.producer(y, "MatMul");
      if (mm < 0 || !m.only_used(y) || nodes[size_t(mm)].inputs.size() != 2) continue;
      int a = nodes[size_t(mm)].inputs[0], b = nodes[size_t(mm)].inputs[1];
      const Tensor* B = pass_util::const_f32(g, nodes[size_t(mm)], 1);
      if (a < 0 || !B || B->rank() != 2 || B->numel() == 0) continue;
      if (!fusion::row_vector(g, bias, B->dim(1), std::max(1, fusion::rank_of(g, a)))) continue;
      bias = fusion::as_1d(g, bias);
      int last = int(i), out = add.outputs[0];
      std::string act = "None";
      if (m.only_used(out)) {
        for (int c : m.consumers(out)) {
          std::string name = activation_name(nodes[size_t(c)]);
          if (name.empty()) break;
          act = name;
          last = c;
          out = nodes[size_t(c)].outputs[0];
        }
      }
      m.rewrite(last, fusion::kFiDomain, "MatMulBias", {a, b, bias}, {out});
      fusion::set_string_attr(nodes[size_t(last)], "activation", act);
      m.kill(mm);
      if (last != int(i)) m.kill(int(i));
      break;
    }
  }
  // Gemm (plain: alpha 1, beta 1, A not transposed, constant B and bias) -> activation: the same
  // node, B transposed once here when transB. Gemm without an activation is left as it is.
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& gemm = nodes[i];
    if (m.dead[i] || gemm.op_type != "Gemm" || !gemm.domain.empty() || gemm.outputs.size() != 1 ||
        gemm.inputs.size() < 2 || gemm.inputs.size() > 3)
      continue;
    const Attributes& at = gemm.attrs;
    if (at.get_float("alpha", 1.f) != 1.f || at.get_float("beta", 1.f) != 1.f || at.get_int("transA", 0) != 0 ||
        at.has("fi.clamp_min") || at.has("fi.clamp_max"))
      continue;
    const Tensor* B = pass_util::const_f32(g, gemm, 1);
    int a = gemm.inputs[0], bias = gemm.inputs.size() > 2 ? gemm.inputs[2] : -1;
    if (a < 0 || fusion::rank_of(g, a) != 2 || !B || B->rank() != 2 || B->numel() == 0) continue;
    bool trans_b = at.get_int("transB", 0) != 0;
    int64_t K = trans_b ? B->dim(1) : B->dim(0), N = trans_b ? B->dim(0) : B->dim(1);
    if (bias >= 0 && !fusion::row_vector(g, bias, N, 2)) continue;
    int y = gemm.outputs[0];
    std::vector<int> readers = m.consumers(y);
    if (!m.only_used(y) || readers.size() != 1) continue;
    std::string act = activation_name(nodes[size_t(readers[0])]);
    if (act.empty()) continue;
    int b = gemm.inputs[1];
    if (trans_b) {
      Tensor bt = Tensor::empty(DataType::Float, Shape{K, N});
      const float* src = B->data<float>();
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < N; ++j) bt.data<float>()[k * N + j] = src[j * K + k];
      int old_b = b;
      b = g.add_constant(g.value(b).name + "_t", std::move(bt));
      pass_util::release_if_unused(g, m.uses, old_b);
    }
    if (bias >= 0) bias = fusion::as_1d(g, bias);
    int last = readers[0], out = nodes[size_t(last)].outputs[0];
    m.rewrite(last, fusion::kFiDomain, "MatMulBias", bias >= 0 ? std::vector<int>{a, b, bias} : std::vector<int>{a, b},
              {out});
    fusion::set_string_attr(nodes[size_t(last)], "activation", act);
    m.kill(int(i));
  }
  m.finish();
}

}  // namespace fi
