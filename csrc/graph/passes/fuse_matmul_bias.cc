// MatMul(A, B) -> Add(bias) [-> activation] becomes one ai.fastinfer MatMulBias node
// (ops/contrib/matmul_bias.cc): the bias goes into the GEMM epilogue and B is packed once.
// Only when B is a constant float32 [K, N] matrix, the bias a constant float32 vector of N
// values (shape [N], or [1, .., N] of rank at most A's), and the MatMul's output (and the Add's, when an activation follows) feeds
// only the next node. Activations: Relu, Sigmoid, Tanh, com.microsoft Gelu / FastGelu (one
// input) and ONNX Gelu (approximate none or tanh).
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
  m.finish();
}

}  // namespace fi
