// Multi-head self-attention as torch.onnx.export writes it for a BERT-style layer (both the
// dynamo and the TorchScript exporter):
//   q4 = Transpose<0,2,1,3>(Reshape(q3, [B, S, H, D]))          (same for v: v4)
//   kT = Transpose<0,2,3,1>(Reshape(k3, [B, L, H, D]))          (or Transpose<0,1,3,2> of k4)
//   s  = MatMul(q4, kT) [Div c | Mul c] [Add mask] ;  p = Softmax(s, axis -1)
//   y  = Reshape(Transpose<0,2,1,3>(MatMul(p, v4)), [B, S, H*Dv])
// becomes one com.microsoft MultiHeadAttention(q3, k3, v3, attention_bias = mask) with num_heads
// H and scale 1/c (or c), running on the fused attention kernel: no head-split copies and no
// S x L score tensor. Only when inference proved the shapes (head count and sizes known, the
// reshapes only split/merge the last axis, the mask broadcasts to [B, H, S, L] without growing
// the scores), the data is float32, the scale is a constant scalar and no intermediate has another
// reader. The shape computations that fed only the removed reshapes go away too.
#include <cmath>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

bool is_op(const Node& n, const char* op) { return n.op_type == op && n.domain.empty(); }

// Attribute readers that never throw: a wrong-typed attribute simply does not match (the kernel
// reports it later with the node's name).
bool int_attr(const Node& n, const char* name, int64_t dflt, int64_t& out) {
  const Attribute* a = n.attrs.find(name);
  if (!a) {
    out = dflt;
    return true;
  }
  if (a->type != AttrType::Int) return false;
  out = a->i;
  return true;
}

bool has_perm(const Node& n, const std::vector<int64_t>& perm) {
  const Attribute* a = n.attrs.find("perm");
  return a && a->type == AttrType::Ints && a->ints == perm;
}

// Dimension i of a and dimension j of b are provably equal (same size or same symbol).
bool same_dim(const TypeInfo& a, size_t i, const TypeInfo& b, size_t j) {
  if (a.dims[i] >= 0 || b.dims[j] >= 0) return a.dims[i] == b.dims[j];
  const std::string& pa = i < a.dim_params.size() ? a.dim_params[i] : std::string();
  const std::string& pb = j < b.dim_params.size() ? b.dim_params[j] : std::string();
  return !pa.empty() && pa == pb;
}

const TypeInfo* shape_of(const Graph& g, int v, size_t rank) {
  if (v < 0) return nullptr;
  const TypeInfo& t = g.value(v).inferred;
  if (t.dtype != DataType::Float || !t.has_shape || t.dims.size() != rank) return nullptr;
  return &t;
}

class Matcher {
 public:
  explicit Matcher(Graph& g) : g_(g), nodes_(g.mutable_nodes()), uses_(g.use_counts()) {}

  // The producer of value v when v has exactly one reader, is not a graph output and the
  // producer is `op`; else -1.
  // With `shared`, v may have other readers too (the node then stays for them).
  int private_producer(int v, const char* op, bool shared = false) const {
    if (v < 0 || (!shared && (uses_[size_t(v)] != 1 || g_.value(v).is_output))) return -1;
    int p = g_.value(v).producer;
    if (p < 0 || !is_op(nodes_[size_t(p)], op) || nodes_[size_t(p)].outputs.size() != 1) return -1;
    if (nodes_[size_t(p)].inputs.empty()) return -1;
    return p;
  }

  bool transpose_perm(int t, const std::vector<int64_t>& perm) const { return has_perm(nodes_[size_t(t)], perm); }

  // v = Transpose<perm>(Reshape(x3, shape)); returns the Reshape. Other readers
  // (Shape nodes of dynamo's exports) are fine: these nodes go only if nothing else reads them.
  int head_split(int v, std::vector<int64_t> perm) const {
    int t = private_producer(v, "Transpose", true);
    if (t < 0 || !transpose_perm(t, perm)) return -1;
    int r = private_producer(nodes_[size_t(t)].inputs[0], "Reshape", true);
    if (r < 0 || nodes_[size_t(r)].inputs.size() != 2) return -1;
    return r;
  }

  // Reshape r splits the last axis of a rank-3 input into (H, D) (proved by inference). Returns
  // false otherwise; sets h and d.
  bool splits_last(int r, int64_t& h, int64_t& d) const {
    const Node& n = nodes_[size_t(r)];
    const TypeInfo* x = shape_of(g_, n.inputs[0], 3);
    const TypeInfo* y = shape_of(g_, n.outputs[0], 4);
    if (!x || !y || y->dims[2] <= 0 || y->dims[3] <= 0) return false;
    h = y->dims[2];
    d = y->dims[3];
    return same_dim(*x, 0, *y, 0) && same_dim(*x, 1, *y, 1) && x->dims[2] == h * d;
  }

  // When v = Div(x, c) (div allowed) or Mul(x, c) / Mul(c, x) with a private constant scalar c:
  // folds c into scale_ and moves v to x. False when the scale is unusable.
  bool take_scale(int& v, bool div) {
    int sc = div ? private_producer(v, "Div") : -1;
    if (sc < 0) sc = private_producer(v, "Mul");
    if (sc < 0) return true;
    const Node& n = nodes_[size_t(sc)];
    if (n.inputs.size() != 2) return false;
    int k = -1;
    for (int j = 0; j < 2; ++j) {
      const Tensor* c = pass_util::const_f32(g_, n, size_t(j));
      if (c && c->numel() == 1 && (j == 1 || is_op(n, "Mul"))) k = j;
    }
    if (k < 0) return true;  // not a scale: the caller's next step decides
    float c = pass_util::const_f32(g_, n, size_t(k))->data<float>()[0];
    scale_ *= is_op(n, "Div") ? 1.f / c : c;
    if (!std::isfinite(scale_) || scale_ == 0.f) return false;
    v = n.inputs[size_t(1 - k)];
    return true;
  }

  // K^T per head from a rank-3 key projection: Transpose<0,2,3,1>(Reshape(k3)), or
  // Transpose<0,1,3,2> of the [B, H, L, D] split, or (dynamo's scaled_dot_product_attention)
  // Reshape(Transpose<0,2,1>(Reshape([B, H, L, D] split, [B*H, L, D])), [B, H, D, L]).
  // Returns the head-split Reshape or -1.
  int key_transposed(int kt) {
    int r = head_split(kt, {0, 2, 3, 1});
    if (r >= 0) return r;
    int t = private_producer(kt, "Transpose");
    if (t >= 0) {
      if (!transpose_perm(t, {0, 1, 3, 2})) return -1;
      return head_split(nodes_[size_t(t)].inputs[0], {0, 2, 1, 3});
    }
    int r2 = private_producer(kt, "Reshape");
    if (r2 < 0) return -1;
    int t3 = private_producer(nodes_[size_t(r2)].inputs[0], "Transpose");
    if (t3 < 0 || !transpose_perm(t3, {0, 2, 1})) return -1;
    int r3 = private_producer(nodes_[size_t(t3)].inputs[0], "Reshape");
    if (r3 < 0) return -1;
    int k4 = nodes_[size_t(r3)].inputs[0];
    const TypeInfo* a = shape_of(g_, k4, 4);
    const TypeInfo* b = shape_of(g_, nodes_[size_t(r3)].outputs[0], 3);
    const TypeInfo* c = shape_of(g_, kt, 4);
    if (!a || !b || !c) return -1;
    // [B, H, L, D] -> [X, L, D] -> [X, D, L] -> [B, H, D, L]
    if (!same_dim(*b, 1, *a, 2) || !same_dim(*b, 2, *a, 3)) return -1;
    if (!same_dim(*c, 0, *a, 0) || !same_dim(*c, 1, *a, 1) || !same_dim(*c, 2, *a, 3) || !same_dim(*c, 3, *a, 2))
      return -1;
    return head_split(k4, {0, 2, 1, 3});
  }

  // Nodes reading v that are Shape ops (they read its shape only).
  int shape_readers(int v) const {
    int n = 0;
    for (const Node& m : nodes_)
      if (is_op(m, "Shape"))
        for (int w : m.inputs) n += w == v;
    return n;
  }

  bool match(size_t si) {
    const Node& sm = nodes_[si];
    if (!is_op(sm, "Softmax") || sm.inputs.size() != 1 || sm.outputs.size() != 1) return false;
    if (!sm.attrs.has("axis") && g_.opset("") < 13) return false;  // the old default axis is 1
    int64_t axis = -1;
    if (!int_attr(sm, "axis", -1, axis) || (axis != -1 && axis != 3)) return false;

    // Scores: [Add(mask)] of [Div/Mul(scale)] of MatMul.
    int s = sm.inputs[0];
    mask_ = -1;
    int add = private_producer(s, "Add");
    if (add >= 0) {
      const Node& a = nodes_[size_t(add)];
      if (a.inputs.size() != 2) return false;
      int side = -1;
      for (int k = 0; k < 2; ++k) {
        int pv = a.inputs[size_t(k)];
        if (pv < 0 || uses_[size_t(pv)] != 1 || g_.value(pv).producer < 0) continue;
        const Node& p = nodes_[size_t(g_.value(pv).producer)];
        // The scores side: the MatMul itself, or a Div/Mul of it (a mask may be a Mul too, e.g.
        // (1 - m) * -10000, private to this Add when the model has one layer).
        bool scores_side = is_op(p, "MatMul");
        if (is_op(p, "Div") || is_op(p, "Mul"))
          for (int w : p.inputs)
            if (w >= 0 && g_.value(w).producer >= 0 && is_op(nodes_[size_t(g_.value(w).producer)], "MatMul"))
              scores_side = true;
        if (scores_side) side = k;
      }
      if (side < 0) return false;
      mask_ = a.inputs[size_t(1 - side)];
      s = a.inputs[size_t(side)];
    }
    scale_ = 1.f;
    if (!take_scale(s, true)) return false;
    int mm1 = private_producer(s, "MatMul");
    if (mm1 < 0 || nodes_[size_t(mm1)].inputs.size() != 2) return false;
    const TypeInfo* scores = shape_of(g_, s, 4);
    if (!scores) return false;

    // Q, K^T, V head splits.
    int qs = nodes_[size_t(mm1)].inputs[0], kt = nodes_[size_t(mm1)].inputs[1];
    if (!take_scale(qs, false) || !take_scale(kt, false)) return false;
    int rq = head_split(qs, {0, 2, 1, 3});
    if (rq < 0) return false;
    int rk = key_transposed(kt);
    if (rk < 0) return false;
    int p_out = sm.outputs[0];
    if (uses_[size_t(p_out)] != 1 || g_.value(p_out).is_output) return false;
    int mm2 = -1;
    for (size_t j = 0; j < nodes_.size(); ++j)
      if (is_op(nodes_[j], "MatMul") && nodes_[j].inputs.size() == 2 && nodes_[j].inputs[0] == p_out) mm2 = int(j);
    if (mm2 < 0) return false;
    int rv = head_split(nodes_[size_t(mm2)].inputs[1], {0, 2, 1, 3});
    if (rv < 0) return false;

    // Merge of the heads: Reshape(Transpose<0,2,1,3>(o)).
    int o = nodes_[size_t(mm2)].outputs[0];
    int tr = -1;
    for (size_t j = 0; j < nodes_.size(); ++j)
      if (is_op(nodes_[j], "Transpose") && !nodes_[j].inputs.empty() && nodes_[j].inputs[0] == o) tr = int(j);
    if (tr < 0 || uses_[size_t(o)] != 1 || g_.value(o).is_output || !transpose_perm(tr, {0, 2, 1, 3})) return false;
    int to = nodes_[size_t(tr)].outputs[0];
    int rm = -1;
    for (size_t j = 0; j < nodes_.size(); ++j)
      if (is_op(nodes_[j], "Reshape") && nodes_[j].inputs.size() == 2 && nodes_[j].inputs[0] == to) rm = int(j);
    // Besides the final Reshape, only Shape nodes may read the merged heads: exporters compute that
    // Reshape's target from them when the shapes are dynamic. They die with the target (rewrite);
    // one that lives on keeps the unfused nodes it needs, still correct.
    if (rm < 0 || g_.value(to).is_output || uses_[size_t(to)] != 1 + shape_readers(to)) return false;
    final_ = rm;

    // Shapes.
    int64_t hq, d, hk, dk, hv, dv;
    if (!splits_last(rq, hq, d) || !splits_last(rk, hk, dk) || !splits_last(rv, hv, dv)) return false;
    if (hq != hk || hq != hv || d != dk) return false;
    q3_ = nodes_[size_t(rq)].inputs[0];
    k3_ = nodes_[size_t(rk)].inputs[0];
    v3_ = nodes_[size_t(rv)].inputs[0];
    const TypeInfo& q = g_.value(q3_).inferred;
    const TypeInfo& k = g_.value(k3_).inferred;
    const TypeInfo& v = g_.value(v3_).inferred;
    if (!same_dim(q, 0, k, 0) || !same_dim(q, 0, v, 0) || !same_dim(k, 1, v, 1)) return false;
    const TypeInfo* y = shape_of(g_, nodes_[size_t(rm)].outputs[0], 3);
    // y's batch is P.V's (o's), the broadcast of the batches of Q, K, V (proved equal below) and of
    // the mask. Inference names a broadcast of two symbols anew, so that link can be lost; it holds
    // whenever the mask does not enlarge the scores, which the fused kernel checks at run time.
    const TypeInfo* pv = shape_of(g_, o, 4);
    const bool batch_ok = y && (same_dim(*y, 0, q, 0) || (pv && same_dim(*y, 0, *pv, 0)));
    if (!y || !batch_ok || !same_dim(*y, 1, q, 1) || y->dims[2] != hq * dv) return false;
    // scores are [B, H, S, L]
    if (!same_dim(*scores, 0, q, 0) || scores->dims[1] != hq || !same_dim(*scores, 2, q, 1) ||
        !same_dim(*scores, 3, k, 1))
      return false;
    if (mask_ >= 0) {
      const TypeInfo& m = g_.value(mask_).inferred;
      if (m.dtype != DataType::Float || !m.has_shape || m.dims.empty() || m.dims.size() > 4) return false;
      // Each mask dim is 1 or the scores' dim. Inference may have lost that a symbolic dim equals
      // the scores' (a Slice of position ids, a broadcast of two symbols): the fused kernel checks
      // it at run time, and a mask that would enlarge the scores raises there instead.
      for (size_t j = 0; j < m.dims.size(); ++j) {
        size_t sd = 4 - m.dims.size() + j;
        const bool symbolic = m.dims[j] < 0 || scores->dims[sd] < 0;
        if (m.dims[j] != 1 && !same_dim(m, j, *scores, sd) && !symbolic) return false;
      }
    }
    heads_ = hq;
    return true;
  }

  // Rewrites the matched pattern: the final Reshape becomes the fused node; every node above it
  // that nothing reads any more (the pattern, the shape arithmetic feeding its reshapes) is dropped.
  void rewrite(std::vector<char>& dead) {
    Node& n = nodes_[size_t(final_)];
    n.op_type = "MultiHeadAttention";
    n.domain = "com.microsoft";
    n.attrs = Attributes();
    Attribute h;
    h.type = AttrType::Int;
    h.i = heads_;
    n.attrs.set("num_heads", h);
    Attribute sc;
    sc.type = AttrType::Float;
    sc.f = scale_;
    n.attrs.set("scale", sc);
    std::vector<int> old_inputs = n.inputs;
    n.inputs = {q3_, k3_, v3_};
    if (mask_ >= 0) n.inputs.insert(n.inputs.end(), {-1, -1, mask_});
    n.input_names.clear();
    for (int v : n.inputs) n.input_names.push_back(v >= 0 ? g_.value(v).name : std::string());
    for (int v : n.inputs)
      if (v >= 0) ++uses_[size_t(v)];
    for (int v : old_inputs)
      if (v >= 0) --uses_[size_t(v)];
    drop_dead_producers(old_inputs, dead);
  }

 private:
  // Removes the producers of `values` whose outputs nobody reads any more, recursively.
  void drop_dead_producers(const std::vector<int>& values, std::vector<char>& dead) {
    for (int v : values) {
      if (v < 0) continue;
      int p = g_.value(v).producer;
      if (p < 0 || dead[size_t(p)]) continue;
      const Node& n = nodes_[size_t(p)];
      if (!n.implicit_inputs.empty()) continue;
      bool unused = true;
      for (int o : n.outputs)
        if (o >= 0 && (uses_[size_t(o)] > 0 || g_.value(o).is_output)) unused = false;
      if (!unused) continue;
      dead[size_t(p)] = 1;
      for (int w : n.inputs)
        if (w >= 0) --uses_[size_t(w)];
      drop_dead_producers(n.inputs, dead);
    }
  }

  Graph& g_;
  std::vector<Node>& nodes_;
  std::vector<int> uses_;
  int mask_ = -1, final_ = -1, q3_ = -1, k3_ = -1, v3_ = -1;
  int64_t heads_ = 0;
  float scale_ = 1.f;
};

}  // namespace

void fuse_attention(Graph& g) {
  std::vector<Node>& nodes = g.mutable_nodes();
  std::vector<char> dead(nodes.size(), 0);
  Matcher m(g);
  bool any = false;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (dead[i] || !is_op(nodes[i], "Softmax")) continue;
    if (!m.match(i)) continue;
    m.rewrite(dead);
    any = true;
  }
  if (!any) return;
  if (g.opset("com.microsoft") == 0) g.set_opset("com.microsoft", 1);
  g.remove_nodes(dead);
}

}  // namespace fi
