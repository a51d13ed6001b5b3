// Per-channel affine chains become one inference BatchNormalization. Old caffe2 exports write a
// BatchNormalization's affine part (or the whole of it) as Mul(x, s) -> Add(., b) with constants
// of shape [C, 1, 1]; nothing folded those, so the Conv before them kept its activation unfused
// and the layout pass left them NCHW. A chain of Mul / Add / Sub(., constant) on a float32 rank-4
// value x [N, C, H, W], each constant a float32 scalar or of a shape that broadcasts as
// [1, C, 1, 1] (per channel), computes y = x * s[c] + b[c]; it becomes
//  - the BatchNormalization that produces x, with scale * s and B * s + b, when x has no other
//    reader (BN -> Mul -> Add folds fully);
//  - else BatchNormalization(x, scale s, B b, mean 0, var 1, epsilon 0), which computes exactly
//    x * s + b: when a Conv with constant weights produces x and nothing else reads x
//    (fold_batchnorm_into_conv then folds it), or when some constant of the chain really is
//    per channel (C > 1 values). A chain of scalars after anything else stays as it is (it may
//    be part of another pattern, e.g. an attention score scale).
// Each intermediate of the chain must have the next chain node as its only reader and be no
// graph output; every node's inferred output shape must equal x's (no broadcast of x).
#include <vector>

#include "graph/graph.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

// The known channel count of x when inference proved it a float32 rank-4 tensor; else -1.
int64_t channels_of(const Graph& g, int x) {
  if (x < 0) return -1;
  const TypeInfo& t = g.value(x).inferred;
  if (t.dtype != DataType::Float || !t.has_shape || t.dims.size() != 4 || t.dims[1] <= 0) return -1;
  return t.dims[1];
}

// The C per-channel values of constant t broadcast against [N, C, H, W]: t is a scalar or its shape,
// right-aligned to rank 4, is [1, C or 1, 1, 1]. `wide` is set when t holds C > 1 values.
bool channel_values(const Tensor& t, int64_t C, std::vector<double>& out, bool& wide) {
  if (t.rank() > 4) return false;
  int64_t dims[4] = {1, 1, 1, 1};
  for (size_t k = 0; k < t.rank(); ++k) dims[4 - t.rank() + k] = t.dim(k);
  if (dims[0] != 1 || dims[2] != 1 || dims[3] != 1 || (dims[1] != 1 && dims[1] != C)) return false;
  const float* p = t.data<float>();
  out.resize(size_t(C));
  for (int64_t c = 0; c < C; ++c) out[size_t(c)] = double(p[dims[1] == 1 ? 0 : c]);
  wide = wide || (dims[1] == C && C > 1);
  return true;
}

// One chain step: node i is Mul / Add / Sub(v, constant) on v with a per-channel constant and an
// output shaped like x; folds it into y = v * s + b. False (changing nothing) otherwise.
bool apply_step(const Graph& g, const Node& n, int v, int x, int64_t C, std::vector<double>& s,
                std::vector<double>& b, bool& wide) {
  if (!n.domain.empty() || n.inputs.size() != 2 || n.outputs.size() != 1 || n.outputs[0] < 0) return false;
  const bool mul = n.op_type == "Mul", add = n.op_type == "Add", sub = n.op_type == "Sub";
  if (!mul && !add && !sub) return false;
  size_t side = n.inputs[0] == v ? 1 : n.inputs[1] == v ? 0 : 2;
  if (side == 2 || n.inputs[0] == n.inputs[1] || (sub && side != 1)) return false;
  const Tensor* t = pass_util::const_f32(g, n, side);
  if (!t || !pass_util::same_shape(g, x, n.outputs[0])) return false;
  std::vector<double> k;
  if (!channel_values(*t, C, k, wide)) return false;
  for (size_t c = 0; c < size_t(C); ++c) {
    if (mul) {
      s[c] *= k[c];
      b[c] *= k[c];
    } else {
      b[c] += sub ? -k[c] : k[c];
    }
  }
  return true;
}

// Node p is an inference BatchNormalization with constant float32 parameters of C values and no
// training outputs, whose output 0 can take new parameters.
bool mergeable_bn(const Graph& g, const Node& p, int64_t C) {
  if (p.op_type != "BatchNormalization" || !p.domain.empty() || p.inputs.size() != 5) return false;
  if (p.attrs.get_int("training_mode", 0) != 0 || p.attrs.get_int("spatial", 1) != 1) return false;
  for (size_t o = 1; o < p.output_names.size(); ++o)
    if (!p.output_names[o].empty()) return false;
  for (size_t k = 1; k < 5; ++k) {
    const Tensor* t = pass_util::const_f32(g, p, k);
    if (!t || t->numel() != C) return false;
  }
  return true;
}

Tensor vec_f32(const std::vector<double>& v) {
  Tensor t = Tensor::empty(DataType::Float, Shape{int64_t(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.data<float>()[i] = float(v[i]);
  return t;
}

}  // namespace

void fold_channel_affine(Graph& g) {
  if (g.opset("") < 6) return;  // BatchNormalization's first version without consumed_inputs
  fusion::Matcher m(g);
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    if (m.dead[i]) continue;
    const Node& first = g.nodes()[i];
    if (first.inputs.size() != 2 || first.inputs[0] < 0 || first.inputs[1] < 0) continue;
    const int x = pass_util::const_f32(g, first, 0) ? first.inputs[1] : first.inputs[0];
    const int64_t C = channels_of(g, x);
    if (C <= 0 || g.value(x).is_const) continue;
    std::vector<double> s(size_t(C), 1.0), b(size_t(C), 0.0);
    bool wide = false;
    std::vector<int> chain;
    int v = x;
    for (int ni = int(i); ni >= 0 && apply_step(g, g.nodes()[size_t(ni)], v, x, C, s, b, wide);) {
      chain.push_back(ni);
      v = g.nodes()[size_t(ni)].outputs[0];
      std::vector<int> next = m.consumers(v);
      ni = m.only_used(v) && next.size() == 1 ? next[0] : -1;
    }
    if (chain.empty()) continue;
    const int y = v;  // the chain's result
    const int pi = g.value(x).producer;
    const bool sole = m.only_used(x) && pi >= 0 && !m.dead[size_t(pi)];
    if (sole && mergeable_bn(g, g.nodes()[size_t(pi)], C)) {
      Node& bn = m.nodes()[size_t(pi)];
      std::vector<double> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
      const float* sc = pass_util::const_f32(g, bn, 1)->data<float>();
      const float* sh = pass_util::const_f32(g, bn, 2)->data<float>();
      for (size_t c = 0; c < size_t(C); ++c) {
        scale[c] = double(sc[c]) * s[c];
        shift[c] = double(sh[c]) * s[c] + b[c];
      }
      for (int k = 1; k <= 2; ++k) {
        bn.inputs[size_t(k)] = g.add_constant(bn.name + (k == 1 ? "_scale" : "_B"), vec_f32(k == 1 ? scale : shift));
        bn.input_names[size_t(k)] = g.value(bn.inputs[size_t(k)]).name;
      }
      bn.outputs[0] = y;
      bn.output_names[0] = g.value(y).name;
      g.mutable_value(y).producer = pi;
      for (int ni : chain) m.kill(ni);
      continue;
    }
    const bool conv = sole && g.nodes()[size_t(pi)].op_type == "Conv" && g.nodes()[size_t(pi)].domain.empty() &&
                      pass_util::const_f32(g, g.nodes()[size_t(pi)], 1);
    if (!conv && !wide) continue;
    const std::string name = g.nodes()[i].name;
    const int sv = g.add_constant(name + "_scale", vec_f32(s));
    const int bv = g.add_constant(name + "_B", vec_f32(b));
    const int mv = g.add_constant(name + "_mean", vec_f32(std::vector<double>(size_t(C), 0.0)));
    const int vv = g.add_constant(name + "_var", vec_f32(std::vector<double>(size_t(C), 1.0)));
    m.rewrite(int(i), "", "BatchNormalization", {x, sv, bv, mv, vv}, {y});
    fusion::set_float_attr(m.nodes()[i], "epsilon", 0.f);
    for (size_t k = 1; k < chain.size(); ++k) m.kill(chain[k]);
  }
  m.finish();
}

}  // namespace fi
