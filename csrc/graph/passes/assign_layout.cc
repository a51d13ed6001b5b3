// Channels-last layout for CNN regions: float32 2-D Conv (group 1, depthwise, or grouped: 1x1 or 8+
// channels per group; constant weights, with any fused clamp/residual) becomes ai.fastinfer
// NhwcConv, and the ops after it that are layout-transparent or have an NHWC kernel follow it into
// NHWC: MaxPool/AveragePool/GlobalAveragePool, inference BatchNormalization (-> Nhwc*), elementwise
// unary ops, Add/Sub/Mul/Div of two same-shape values, Concat and Split on the channel axis
// (-> axis 3), ChannelShuffle (-> NhwcChannelShuffle), LRN (-> NhwcLRN), and Resize with constant
// roi, scales or sizes (permuted to NHWC order). Values cross the region's edge through one reorder each:
// NchwToNhwc before the first NHWC reader of an NCHW value, NhwcToNchw after the producer of an
// NHWC value that a graph output, a subgraph or any NCHW op reads (the reorder keeps the original
// value, so outside readers are unchanged). A region needs two Convs to pay for its reorders.
// Runs last, after the fusions; FASTINFER_LAYOUT=nchw turns it off, =nhwc converts single Convs too.
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "graph/graph.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

constexpr const char* kDomain = "ai.fastinfer";

// Inference proved v is a float32 rank-4 tensor.
bool is_f32_4d(const Graph& g, int v) {
  if (v < 0) return false;
  const TypeInfo& t = g.value(v).inferred;
  return t.dtype == DataType::Float && t.has_shape && t.dims.size() == 4;
}

bool is_unary(const std::string& op) {
  static const std::set<std::string> ops = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid",
                                            "HardSwish", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Abs",
                                            "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Mish", "Identity"};
  return ops.count(op) != 0;
}

// Channels per group from which a grouped k x k conv runs channels-last (NhwcConv's implicit GEMM).
constexpr int64_t kGroupedMinChannels = 8;

// A 2-D float32 Conv whose weights are constant and whose grouping NhwcConv runs.
bool conv_ok(const Graph& g, const Node& n) {
  if (n.outputs.size() != 1 || n.inputs.size() < 2 || n.inputs.size() > 4) return false;
  const Tensor* w = pass_util::const_f32(g, n, 1);
  if (!w || w->rank() != 4 || !is_f32_4d(g, n.inputs[0]) || !is_f32_4d(g, n.outputs[0])) return false;
  if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !pass_util::const_f32(g, n, 2)) return false;
  if (n.inputs.size() > 3 && n.inputs[3] >= 0 && !is_f32_4d(g, n.inputs[3])) return false;
  const int64_t group = n.attrs.get_int("group", 1);
  const int64_t c = g.value(n.inputs[0]).inferred.dims[1];
  if (group == 1 || (w->dim(1) == 1 && w->dim(0) == group && c == group)) return true;  // dense, depthwise
  // Other groups: a GEMM per group, for 1x1 or for convs with enough channels per group to read
  // through the implicit GEMM's pointers (a few channels per tap would not pay their loads).
  return group > 1 && c == group * w->dim(1) && w->dim(0) % group == 0 &&
         (w->dim(2) * w->dim(3) == 1 || w->dim(1) >= kGroupedMinChannels);
}

// A constant (initializer) input i of n, or null; `absent` is set when the input is not given.
const Tensor* const_input(const Graph& g, const Node& n, size_t i, bool& absent) {
  absent = i >= n.inputs.size() || n.inputs[i] < 0;
  if (absent) return nullptr;
  const Value& v = g.value(n.inputs[i]);
  return v.is_const && !v.is_input ? &v.const_value : nullptr;
}

// A Resize (opset 11+) of a 4-D tensor whose roi, scales and sizes are absent, empty or constant.
// Resize treats each axis on its own, so it runs on NHWC data with those constants permuted to
// NHWC order (resizing N or C too, should the model ask for it).
bool resize_ok(const Graph& g, const Node& n) {
  if (g.opset(n.domain) < 11 || n.inputs.empty() || !is_f32_4d(g, n.inputs[0]) || n.attrs.has("axes")) return false;
  for (size_t i = 1; i < 4; ++i) {
    bool absent = false;
    const Tensor* t = const_input(g, n, i, absent);
    if (absent) continue;
    if (!t || t->rank() != 1) return false;
    const int64_t len = t->numel();
    if (len != 0 && len != (i == 1 ? 8 : 4)) return false;
  }
  return true;
}

// NCHW -> NHWC order of a constant vector of 4 (sizes, scales) or 8 (roi: starts, then ends).
Tensor permute_to_nhwc(const Tensor& t) {
  Tensor r = Tensor::empty(t.dtype(), t.shape());
  const size_t es = dtype_size(t.dtype());
  static const int perm[4] = {0, 2, 3, 1};
  const auto* src = static_cast<const unsigned char*>(t.raw());
  auto* dst = static_cast<unsigned char*>(r.raw());
  for (int64_t half = 0; half < t.numel() / 4; ++half)
    for (size_t d = 0; d < 4; ++d)
      std::memcpy(dst + (size_t(half) * 4 + d) * es, src + (size_t(half) * 4 + size_t(perm[d])) * es, es);
  return r;
}

// The layout inputs (indices that carry the activation) of node n when it can run channels-last
// given which values are NHWC; empty when it stays NCHW. Every output must be a float32 4-D
// tensor; only Split has more than one.
std::vector<size_t> nhwc_inputs(const Graph& g, const Node& n, const std::vector<char>& nhwc) {
  const bool shuffle = n.domain == kDomain && n.op_type == "ChannelShuffle";  // fuse_channel_shuffle's
  if ((!n.domain.empty() && !shuffle) || n.outputs.empty() || (n.outputs.size() != 1 && n.op_type != "Split"))
    return {};
  for (int o : n.outputs)
    if (o < 0 || !is_f32_4d(g, o)) return {};
  const std::string& op = n.op_type;
  if (op == "Conv") {
    if (!conv_ok(g, n)) return {};
    if (n.inputs.size() > 3 && n.inputs[3] >= 0) return {0, 3};
    return {0};
  }
  auto any_nhwc = [&](const std::vector<size_t>& idx) {
    for (size_t i : idx)
      if (nhwc[size_t(n.inputs[i])]) return true;
    return false;
  };
  std::vector<size_t> idx;
  if (op == "MaxPool" || op == "AveragePool") {
    if (n.inputs.size() != 1 || !is_f32_4d(g, n.inputs[0]) || n.attrs.get_ints("kernel_shape").size() != 2) return {};
    idx = {0};
  } else if (op == "BatchNormalization") {
    // Inference form with constant per-channel parameters (opset 9+, or spatial 1 before that).
    if (n.inputs.size() != 5 || !is_f32_4d(g, n.inputs[0]) || n.attrs.get_int("training_mode", 0) != 0) return {};
    if (g.opset(n.domain) < 9 && n.attrs.get_int("spatial", 1) != 1) return {};
    const int64_t c = g.value(n.inputs[0]).inferred.dims[1];
    for (size_t k = 1; k < 5; ++k) {
      const Tensor* t = pass_util::const_f32(g, n, k);
      if (!t || t->rank() != 1 || t->dim(0) != c) return {};
    }
    idx = {0};
  } else if (op == "GlobalAveragePool") {
    if (n.inputs.size() != 1 || !is_f32_4d(g, n.inputs[0])) return {};
    idx = {0};
  } else if (is_unary(op)) {
    if (n.inputs.empty() || !is_f32_4d(g, n.inputs[0])) return {};
    for (size_t i = 1; i < n.inputs.size(); ++i)  // Clip's bounds: scalars
      if (n.inputs[i] >= 0 && g.value(n.inputs[i]).producer >= 0 && !g.value(n.inputs[i]).is_const) return {};
    idx = {0};
  } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    if (n.inputs.size() != 2 || !is_f32_4d(g, n.inputs[0]) || !is_f32_4d(g, n.inputs[1])) return {};
    if (!pass_util::same_shape(g, n.inputs[0], n.inputs[1]) || !pass_util::same_shape(g, n.inputs[0], n.outputs[0])) return {};
    idx = {0, 1};
  } else if (op == "Concat") {
    int64_t axis = n.attrs.get_int("axis", 1);
    if (axis != 1 && axis != -3) return {};
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!is_f32_4d(g, n.inputs[i])) return {};
      idx.push_back(i);
    }
  } else if (op == "Split") {
    int64_t axis = n.attrs.get_int("axis", 0);
    if ((axis != 1 && axis != -3) || n.inputs.empty() || !is_f32_4d(g, n.inputs[0])) return {};
    idx = {0};  // the split sizes (input 1) are along the same axis: unchanged
  } else if (op == "Resize") {
    if (!resize_ok(g, n)) return {};
    idx = {0};
  } else if (op == "LRN") {
    if (n.inputs.size() != 1 || !is_f32_4d(g, n.inputs[0])) return {};
    idx = {0};
  } else if (shuffle) {
    if (n.inputs.size() != 1 || !is_f32_4d(g, n.inputs[0])) return {};
    idx = {0};
  } else {
    return {};
  }
  return any_nhwc(idx) ? idx : std::vector<size_t>{};
}

// NCHW dims -> NHWC dims of an inferred type.
TypeInfo to_nhwc_type(const TypeInfo& t) {
  TypeInfo r = t;
  static const int perm[4] = {0, 2, 3, 1};
  for (size_t d = 0; d < 4; ++d) {
    r.dims[d] = t.dims[size_t(perm[d])];
    if (t.dim_params.size() == 4) r.dim_params[d] = t.dim_params[size_t(perm[d])];
  }
  return r;
}

// A region's entry conv over at most kNchwInputMaxC channels (an RGB stem) that is not 1x1 reads
// its NCHW input itself (NhwcConv fi.nchw_input): its im2row gathers the few channels as cheaply
// from planes as from pixels, and the reorder pass over the whole image is saved.
constexpr int64_t kNchwInputMaxC = 4;
bool reads_nchw_directly(const Graph& g, const Node& n) {
  if (n.op_type != "Conv" || n.attrs.get_int("group", 1) != 1) return false;
  const Tensor* w = pass_util::const_f32(g, n, 1);
  return w && w->dim(1) <= kNchwInputMaxC && w->dim(2) * w->dim(3) > 1;
}

void set_int_attr(Node& n, const char* name, int64_t v) {
  Attribute a;
  a.type = AttrType::Int;
  a.i = v;
  n.attrs.set(name, a);
}

Node reorder_node(const Graph& g, const std::string& op, int in, int out) {
  Node n;
  n.name = str(g.value(out).name, "/", op);
  n.op_type = op;
  n.domain = kDomain;
  n.opset = 1;
  n.inputs = {in};
  n.outputs = {out};
  n.layout = op == "NchwToNhwc" ? "NCHW->NHWC" : "NHWC->NCHW";
  n.input_names = {g.value(in).name};
  n.output_names = {g.value(out).name};
  return n;
}

}  // namespace

void assign_layout(Graph& g) {
  const char* env = std::getenv("FASTINFER_LAYOUT");
  if (env && std::strcmp(env, "nchw") == 0) return;
  std::vector<Node>& nodes = g.mutable_nodes();
  const size_t nv0 = g.values().size();
  // Which nodes go channels-last: in order, so a node sees its producers' decisions.
  std::vector<char> nhwc(nv0, 0);
  std::vector<std::vector<size_t>> layout_in(nodes.size());
  bool any = false;
  for (size_t i = 0; i < nodes.size(); ++i) {
    layout_in[i] = nhwc_inputs(g, nodes[i], nhwc);
    if (layout_in[i].empty()) continue;
    for (int o : nodes[i].outputs) nhwc[size_t(o)] = 1;
    any = true;
  }
  if (!any) return;
  // Regions: nodes joined by the NHWC values between them. A region with a single Conv would pay
  // two reorders for one conv; it stays NCHW unless FASTINFER_LAYOUT=nhwc.
  const size_t min_convs = env && std::strcmp(env, "nhwc") == 0 ? 1 : 2;
  std::vector<int> root(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) root[i] = int(i);
  auto find = [&](int i) {
    while (root[size_t(i)] != i) i = root[size_t(i)] = root[size_t(root[size_t(i)])];
    return i;
  };
  for (size_t i = 0; i < nodes.size(); ++i)
    for (size_t k : layout_in[i]) {
      const int p = g.value(nodes[i].inputs[k]).producer;
      if (p >= 0 && !layout_in[size_t(p)].empty()) root[size_t(find(p))] = find(int(i));
    }
  std::vector<size_t> convs(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i)
    if (!layout_in[i].empty() && nodes[i].op_type == "Conv") ++convs[size_t(find(int(i)))];
  for (size_t i = 0; i < nodes.size(); ++i)
    if (!layout_in[i].empty() && convs[size_t(find(int(i)))] < min_convs) {
      for (int o : nodes[i].outputs) nhwc[size_t(o)] = 0;
      layout_in[i].clear();
    }
  any = false;
  for (const auto& li : layout_in) any |= !li.empty();
  if (!any) return;
  // NHWC values that something NCHW reads: graph outputs, other inputs of any node, subgraph captures.
  std::vector<char> need_nchw(nv0, 0);
  for (int o : g.outputs()) need_nchw[size_t(o)] = 1;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (n.inputs[k] < 0) continue;
      bool layout = false;
      for (size_t li : layout_in[i]) layout |= li == k;
      if (!layout) need_nchw[size_t(n.inputs[k])] = 1;
    }
    for (int v : n.implicit_inputs) need_nchw[size_t(v)] = 1;
  }
  g.set_opset(kDomain, 1);
  std::vector<int> nhwc_id(nv0, -1);  // the channels-last twin of an NCHW value
  std::vector<Node> out;
  out.reserve(nodes.size() * 2);
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node n = std::move(nodes[i]);
    if (layout_in[i].empty()) {
      out.push_back(std::move(n));
      continue;
    }
    for (size_t k : layout_in[i]) {
      const int v = n.inputs[k];
      if (k == 0 && nhwc_id[size_t(v)] < 0 && reads_nchw_directly(g, n)) {
        set_int_attr(n, "fi.nchw_input", 1);  // keeps its NCHW input: no reorder
        continue;
      }
      if (nhwc_id[size_t(v)] < 0) {  // an NCHW value entering the region
        const int t = g.add_value(g.value(v).name + "_nhwc");
        g.mutable_value(t).inferred = to_nhwc_type(g.value(v).inferred);
        nhwc_id[size_t(v)] = t;
        out.push_back(reorder_node(g, "NchwToNhwc", v, t));
      }
      n.inputs[k] = nhwc_id[size_t(v)];
      n.input_names[k] = g.value(n.inputs[k]).name;
    }
    std::vector<std::pair<int, int>> back;  // (NHWC output, its NCHW value) for outside readers
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const int y = n.outputs[k];
      const int t = g.add_value(g.value(y).name + "_nhwc");
      g.mutable_value(t).inferred = to_nhwc_type(g.value(y).inferred);
      nhwc_id[size_t(y)] = t;
      n.outputs[k] = t;
      n.output_names[k] = g.value(t).name;
      if (need_nchw[size_t(y)]) back.emplace_back(t, y);
    }
    n.layout = "NHWC";
    if (n.op_type == "Conv" || n.op_type == "MaxPool" || n.op_type == "AveragePool" ||
        n.op_type == "GlobalAveragePool" || n.op_type == "BatchNormalization" || n.op_type == "LRN") {
      n.op_type = "Nhwc" + n.op_type;
      n.domain = kDomain;
      n.opset = 1;
    } else if (n.op_type == "ChannelShuffle") {
      n.op_type = "NhwcChannelShuffle";
    } else if (n.op_type == "Concat" || n.op_type == "Split") {
      set_int_attr(n, "axis", 3);
    } else if (n.op_type == "Resize") {
      for (size_t k = 1; k < 4 && k < n.inputs.size(); ++k) {
        bool absent = false;
        const Tensor* c = const_input(g, n, k, absent);
        if (absent || c->numel() == 0) continue;
        n.inputs[k] = g.add_constant(g.value(n.inputs[k]).name + "_nhwc", permute_to_nhwc(*c));
        n.input_names[k] = g.value(n.inputs[k]).name;
      }
    }
    out.push_back(std::move(n));
    for (const auto& [t, y] : back) out.push_back(reorder_node(g, "NhwcToNchw", t, y));
  }
  nodes = std::move(out);
  g.remove_nodes(std::vector<char>(nodes.size(), 0));  // renumbers producers
}

}  // namespace fi
