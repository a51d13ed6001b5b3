// Layer normalisation written out in elementary ops becomes one LayerNormalization node:
//   u = ReduceMean(X, last axis); d = X - u; v = ReduceMean(d^2, last axis)   (Pow(d, 2) or d*d)
//   y = d / Sqrt(v [+ eps])  or  d * Reciprocal(Sqrt(v [+ eps]));  y [* gamma] [+ beta]   (any operand order)
// gamma and beta must be constant float32 vectors over X's last dimension (known statically),
// every intermediate must feed only the next step, and every constant must have its exact value.
// Emits ONNX LayerNormalization(axis -1) when the model's opset has it (17+), else
// ai.fastinfer LayerNormalization (same semantics, ops/contrib/layer_norm.cc).
#include "graph/passes/fusion_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

using fusion::Matcher;

// Node i is ReduceMean over exactly the last axis of a rank-`rank` input with keepdims 1.
bool reduces_last_axis(const Matcher& m, int i, int rank) {
  const Node& n = m.g.nodes()[size_t(i)];
  if (n.attrs.get_int("keepdims", 1) != 1 || n.inputs.empty()) return false;
  std::vector<int64_t> axes;
  if (m.g.opset("") < 18) {
    if (n.inputs.size() != 1) return false;
    axes = n.attrs.get_ints("axes");
  } else {
    if (n.inputs.size() != 2 || n.inputs[1] < 0) return false;
    const Value& a = m.g.value(n.inputs[1]);
    if (!a.is_const || a.is_input || a.const_value.dtype() != DataType::Int64) return false;
    for (int64_t k = 0; k < a.const_value.numel(); ++k) axes.push_back(a.const_value.data<int64_t>()[k]);
  }
  return axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
}

}  // namespace

void fuse_layernorm(Graph& g) {
  Matcher m(g);
  auto& nodes = m.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (m.dead[i] || nodes[i].op_type != "ReduceMean" || !nodes[i].domain.empty() || nodes[i].outputs.size() != 1)
      continue;
    int x = nodes[i].inputs.empty() ? -1 : nodes[i].inputs[0];
    if (x < 0) continue;
    int rank = fusion::rank_of(g, x);
    int64_t n = fusion::last_dim(g, x);
    if (rank < 1 || n <= 0 || !reduces_last_axis(m, int(i), rank)) continue;
    int u = nodes[i].outputs[0];
    int sub = m.sole_consumer(u, "Sub");
    if (sub < 0 || nodes[size_t(sub)].inputs[0] != x || nodes[size_t(sub)].inputs[1] != u) continue;
    int d = nodes[size_t(sub)].outputs[0];
    // d feeds the square (Pow(d, 2) or Mul(d, d)) and the Div (or Mul by the reciprocal), nothing else.
    int sq = -1, div = -1;
    for (int c : m.consumers(d)) {
      const Node& cn = nodes[size_t(c)];
      if (!cn.domain.empty() || cn.outputs.size() != 1) { sq = div = -2; break; }
      if (cn.op_type == "Pow" && cn.inputs.size() == 2 && cn.inputs[0] == d && m.is_scalar(cn.inputs[1], 2.0)) {
        sq = sq == -1 ? c : -2;
      } else if (cn.op_type == "Mul" && cn.inputs.size() == 2 && cn.inputs[0] == d && cn.inputs[1] == d) {
        if (sq != c) sq = sq == -1 ? c : -2;
      } else if ((cn.op_type == "Div" && cn.inputs.size() == 2 && cn.inputs[0] == d && cn.inputs[1] != d) ||
                 (cn.op_type == "Mul" && m.other_input(c, d) >= 0 && m.other_input(c, d) != d)) {
        div = div == -1 ? c : -2;
      } else {
        sq = div = -2;
        break;
      }
    }
    if (sq < 0 || div < 0 || g.value(d).is_output) continue;
    int rm2 = m.sole_consumer(nodes[size_t(sq)].outputs[0], "ReduceMean");
    if (rm2 < 0 || !reduces_last_axis(m, rm2, rank)) continue;
    int var = nodes[size_t(rm2)].outputs[0];
    int add_eps = m.sole_consumer(var, "Add");
    double eps = 0;  // without the Add (the dynamo exporter drops a tiny eps): epsilon 0
    if (add_eps >= 0) {
      int eps_v = m.other_input(add_eps, var);
      if (!m.scalar(eps_v, eps) || g.value(eps_v).const_value.dtype() != DataType::Float ||
          g.value(eps_v).const_value.rank() > rank || !(eps >= 0))
        continue;
    }
    int sqrt_n = m.sole_consumer(add_eps >= 0 ? nodes[size_t(add_eps)].outputs[0] : var, "Sqrt");
    if (sqrt_n < 0) continue;
    int root = nodes[size_t(sqrt_n)].outputs[0], rec = -1;
    if (nodes[size_t(div)].op_type == "Div") {  // d / sqrt
      if (m.sole_consumer(root, "Div") != div || nodes[size_t(div)].inputs[1] != root) continue;
    } else {  // d * Reciprocal(sqrt)
      rec = m.sole_consumer(root, "Reciprocal");
      if (rec < 0 || m.sole_consumer(nodes[size_t(rec)].outputs[0], "Mul") != div ||
          m.other_input(div, d) != nodes[size_t(rec)].outputs[0])
        continue;
    }
    // Optional scale and shift.
    int last = div, gamma = -1, beta = -1;
    int y = nodes[size_t(div)].outputs[0];
    int mul = m.sole_consumer(y, "Mul");
    if (mul >= 0) {
      int gv = m.other_input(mul, y);
      if (fusion::row_vector(g, gv, n, rank)) {
        gamma = gv;
        last = mul;
        y = nodes[size_t(mul)].outputs[0];
      } else {
        mul = -1;
      }
    }
    int add = m.sole_consumer(y, "Add");
    if (add >= 0) {
      int bv = m.other_input(add, y);
      if (fusion::row_vector(g, bv, n, rank)) {
        beta = bv;
        last = add;
        y = nodes[size_t(add)].outputs[0];
      } else {
        add = -1;
      }
    }
    if (gamma < 0) {
      Tensor ones = Tensor::empty(DataType::Float, Shape{n});
      for (int64_t k = 0; k < n; ++k) ones.data<float>()[k] = 1.f;
      gamma = g.add_constant(nodes[i].name + "_ones", std::move(ones));
    } else {
      gamma = fusion::as_1d(g, gamma);
    }
    if (beta >= 0) beta = fusion::as_1d(g, beta);
    bool standard = g.opset("") >= 17;
    std::vector<int> ins = {x, gamma};
    if (beta >= 0) ins.push_back(beta);
    m.rewrite(last, standard ? "" : fusion::kFiDomain, "LayerNormalization", ins, {y});
    fusion::set_int_attr(nodes[size_t(last)], "axis", -1);
    fusion::set_float_attr(nodes[size_t(last)], "epsilon", float(eps));
    for (int k : {int(i), sub, sq, rm2, add_eps, sqrt_n, rec, div, mul, add})
      if (k >= 0 && k != last) m.kill(k);
  }
  m.finish();
}

}  // namespace fi
