// GELU written out in elementary ops becomes one com.microsoft node (ops/contrib/gelu.cc):
//   erf form:  x * 0.5 * (1 + Erf(x / sqrt 2))          (x / 1.41421 or x * 0.70711)  -> Gelu(x)
//   tanh form: x * 0.5 * (1 + Tanh(0.79788 * (x + 0.044715 * x^3)))  (Pow(x, 3) or x*x*x) -> FastGelu(x)
// The product of x, 0.5 and the bracket may be grouped in any order (or divided by 2), every
// operand of every Add/Mul in either position. Every constant must have its exact value and every
// intermediate must feed only the next step.
// fuse_bias_gelu then folds a constant bias Add in front of a GELU (Gelu, FastGelu, or ONNX Gelu):
//   Gelu(x + b) -> BiasGelu(x, b);  FastGelu(x + b) -> FastGelu(x, b)
// with b a float32 vector over x's (statically known) last dimension.
#include <cmath>

#include "graph/passes/fusion_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

using fusion::Matcher;

constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kSqrt2OverPi = 0.7978845608028654;

// The node and its single output's id when v is produced by a live `op` node with one
// side equal to the constant `c`; returns the other side (or -1).
int operand_with_const(const Matcher& m, int v, const char* op, double c, int* node) {
  int p = m.producer(v, op);
  if (p < 0) return -1;
  const Node& n = m.g.nodes()[size_t(p)];
  if (n.inputs.size() != 2) return -1;
  int side = m.is_scalar(n.inputs[1], c) ? 0 : m.is_scalar(n.inputs[0], c) && op[0] != 'D' ? 1 : -1;
  if (side < 0) return -1;
  *node = p;
  return n.inputs[size_t(side)];
}

// Finds the nodes computing x * 0.5 * t from t (= 1 + erf/tanh): returns the final node, adding the
// interior ones to `used`, or -1.
int match_half_product(const Matcher& m, int t, int x, std::vector<int>& used) {
  const auto& nodes = m.g.nodes();
  int m1 = m.sole_consumer(t, "Mul");
  if (m1 < 0) return -1;
  int o = m.other_input(m1, t);
  int out1 = nodes[size_t(m1)].outputs[0];
  int hx = -1;
  if (o == x || m.is_scalar(o, 0.5)) {  // (x * t) * 0.5, (x * t) / 2, (0.5 * t) * x
    int m2 = m.sole_consumer(out1, "Mul");
    bool ok = false;
    if (m2 >= 0) ok = o == x ? m.is_scalar(m.other_input(m2, out1), 0.5) : m.other_input(m2, out1) == x;
    if (!ok && o == x) {
      m2 = m.sole_consumer(out1, "Div");
      ok = m2 >= 0 && nodes[size_t(m2)].inputs[0] == out1 && m.is_scalar(nodes[size_t(m2)].inputs[1], 2.0);
    }
    if (!ok) return -1;
    used.push_back(m1);
    return m2;
  }
  if (m.only_used(o) && operand_with_const(m, o, "Mul", 0.5, &hx) == x) {  // (x * 0.5) * t
    used.push_back(hx);
    return m1;
  }
  return -1;
}

// t = 1 + v (either order), v only read there: returns t's id, adding the Add to `used`, or -1.
int one_plus(const Matcher& m, int v, std::vector<int>& used) {
  int a = m.sole_consumer(v, "Add");
  if (a < 0 || !m.is_scalar(m.other_input(a, v), 1.0)) return -1;
  used.push_back(a);
  return m.g.nodes()[size_t(a)].outputs[0];
}

// Erf node e: x when its input is x / sqrt2 or x * (1/sqrt2).
int erf_argument(const Matcher& m, const Node& e, std::vector<int>& used) {
  int u = e.inputs.empty() ? -1 : e.inputs[0];
  if (!m.only_used(u)) return -1;
  int p = -1;
  int x = operand_with_const(m, u, "Div", kSqrt2, &p);
  if (x < 0) x = operand_with_const(m, u, "Mul", 1.0 / kSqrt2, &p);
  if (x < 0) return -1;
  used.push_back(p);
  return x;
}

// cube == x^3 as Pow(x, 3), (x*x)*x or x*(x*x), the square read only there.
bool is_cube(const Matcher& m, int cube, int x, std::vector<int>& used) {
  if (!m.only_used(cube)) return false;
  int p = m.producer(cube, "Pow");
  if (p >= 0) {
    const Node& n = m.g.nodes()[size_t(p)];
    if (n.inputs.size() == 2 && n.inputs[0] == x && m.is_scalar(n.inputs[1], 3.0)) {
      used.push_back(p);
      return true;
    }
    return false;
  }
  p = m.producer(cube, "Mul");
  if (p < 0) return false;
  int sq = m.other_input(p, x);
  if (sq < 0 || !m.only_used(sq)) return false;
  int q = m.producer(sq, "Mul");
  if (q < 0 || m.g.nodes()[size_t(q)].inputs[0] != x || m.g.nodes()[size_t(q)].inputs[1] != x) return false;
  used.push_back(p);
  used.push_back(q);
  return true;
}

// Tanh node t: x when its input is 0.79788 * (x + 0.044715 * x^3).
int tanh_argument(const Matcher& m, const Node& t, std::vector<int>& used) {
  int w = t.inputs.empty() ? -1 : t.inputs[0];
  if (!m.only_used(w)) return -1;
  int p = -1;
  int v = operand_with_const(m, w, "Mul", kSqrt2OverPi, &p);
  if (v < 0 || !m.only_used(v)) return -1;
  int add = m.producer(v, "Add");
  if (add < 0 || m.g.nodes()[size_t(add)].inputs.size() != 2) return -1;
  for (int side = 0; side < 2; ++side) {
    int x = m.g.nodes()[size_t(add)].inputs[size_t(side)];
    int k = m.g.nodes()[size_t(add)].inputs[size_t(1 - side)];
    int kn = -1;
    if (x < 0 || !m.only_used(k)) continue;
    int cube = operand_with_const(m, k, "Mul", 0.044715, &kn);
    std::vector<int> sub;
    if (cube < 0 || !is_cube(m, cube, x, sub)) continue;
    used.insert(used.end(), {p, add, kn});
    used.insert(used.end(), sub.begin(), sub.end());
    return x;
  }
  return -1;
}

}  // namespace

void fuse_gelu(Graph& g) {
  Matcher m(g);
  auto& nodes = m.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    bool erf = n.op_type == "Erf", tanh = n.op_type == "Tanh";
    if (m.dead[i] || !n.domain.empty() || (!erf && !tanh) || n.outputs.size() != 1) continue;
    std::vector<int> used = {int(i)};
    int x = erf ? erf_argument(m, n, used) : tanh_argument(m, n, used);
    if (x < 0 || g.value(x).inferred.dtype != DataType::Float) continue;
    int t = one_plus(m, n.outputs[0], used);
    if (t < 0) continue;
    int last = match_half_product(m, t, x, used);
    if (last < 0) continue;
    bool dup = false;
    for (int k : used) dup |= m.dead[size_t(k)] || k == last;
    if (dup) continue;
    int y = nodes[size_t(last)].outputs[0];
    m.rewrite(last, fusion::kMsDomain, erf ? "Gelu" : "FastGelu", {x}, {y});
    for (int k : used) m.kill(k);
  }
  m.finish();
}

void fuse_bias_gelu(Graph& g) {
  Matcher m(g);
  auto& nodes = m.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    if (m.dead[i] || n.outputs.size() != 1 || n.inputs.size() != 1) continue;
    bool erf;
    if (n.domain == fusion::kMsDomain && (n.op_type == "Gelu" || n.op_type == "FastGelu")) {
      erf = n.op_type == "Gelu";
    } else if (n.domain.empty() && n.op_type == "Gelu") {
      std::string approx = n.attrs.get_string("approximate", "none");
      if (approx != "none" && approx != "tanh") continue;
      erf = approx == "none";
    } else {
      continue;
    }
    int z = n.inputs[0];
    int add = m.producer(z, "Add");
    if (add < 0 || !m.only_used(z) || nodes[size_t(add)].inputs.size() != 2) continue;
    for (int side = 0; side < 2; ++side) {
      int x = nodes[size_t(add)].inputs[size_t(side)], b = nodes[size_t(add)].inputs[size_t(1 - side)];
      int64_t len = fusion::last_dim(g, x);
      if (x < 0 || len <= 0 || !fusion::row_vector(g, b, len, fusion::rank_of(g, x))) continue;
      int y = n.outputs[0];
      b = fusion::as_1d(g, b);
      m.rewrite(int(i), fusion::kMsDomain, erf ? "BiasGelu" : "FastGelu", {x, b}, {y});
      m.kill(add);
      break;
    }
  }
  m.finish();
}

}  // namespace fi
