#include "graph/describe.h"

#include <set>

namespace fi {

namespace {

// Element count of value v's inferred shape, or -1 when unknown.
double numel_of(const Graph& g, int v) {
  if (v < 0) return -1;
  const TypeInfo& t = g.value(v).inferred;
  if (!t.has_shape) return -1;
  double n = 1;
  for (int64_t d : t.dims) {
    if (d < 0) return -1;
    n *= double(d);
  }
  return n;
}

const std::vector<int64_t>* dims_of(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] < 0) return nullptr;
  const TypeInfo& t = g.value(n.inputs[i]).inferred;
  if (!t.has_shape) return nullptr;
  for (int64_t d : t.dims)
    if (d < 0) return nullptr;
  return &t.dims;
}

double product(const std::vector<int64_t>& d, size_t from) {
  double p = 1;
  for (size_t i = from; i < d.size(); ++i) p *= double(d[i]);
  return p;
}

bool data_movement(const std::string& op) {
  static const std::set<std::string> ops = {
      "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout", "Shape", "Size",
      "Gather", "GatherElements", "GatherND", "Concat", "Split", "Slice", "Expand", "Tile", "Pad", "Cast",
      "CastLike", "ConstantOfShape", "Constant", "Range", "DepthToSpace", "SpaceToDepth", "ScatterND",
      "ScatterElements", "Scatter", "OneHot", "EyeLike", "NonZero", "Compress", "ReverseSequence", "Trilu",
      "Unique", "TopK", "ArgMax", "ArgMin", "If", "Loop", "Scan",
  };
  return ops.count(op) != 0;
}

bool reduction(const std::string& op) {
  return op.rfind("Reduce", 0) == 0 || op == "GlobalAveragePool" || op == "GlobalMaxPool" ||
         op == "GlobalLpPool";
}

}  // namespace

double estimate_flops(const Graph& g, const Node& n) {
  const std::string& op = n.op_type;
  const double out = n.outputs.empty() ? -1 : numel_of(g, n.outputs[0]);
  // Our fused and layout ops count like the ONNX op they replace.
  if (n.domain == "ai.fastinfer" && (op == "NhwcConv" || op == "MatMulBias")) {
    const auto* a = dims_of(g, n, op == "NhwcConv" ? 1 : 0);
    if (!a || a->empty() || out < 0) return -1;
    if (op != "NhwcConv") return 2 * out * double(a->back());
    const int64_t ctot = n.attrs.get_int("fi.out_channels", 0);  // its M of a Concat's channels
    return 2 * (ctot > 0 ? out / double(ctot) * double((*a)[0]) : out) * product(*a, 1);
  }
  if (n.domain == "ai.fastinfer" && op == "NhwcDwBlock") {  // expansion + depthwise + projection
    const auto* wd = dims_of(g, n, 3);
    const auto* we = dims_of(g, n, 1);
    const auto* wp = dims_of(g, n, 5);
    const double in = n.inputs.empty() ? -1 : numel_of(g, n.inputs[0]);
    if (!wd || wd->size() != 4 || out < 0 || in < 0 || (we && we->size() != 4) || (wp && wp->size() != 4)) return -1;
    const double ce = double((*wd)[0]), cin = we ? double((*we)[1]) : ce, m = wp ? double((*wp)[0]) : ce;
    const double in_px = in / cin, out_px = out / m;
    return (we ? 2 * in_px * ce * cin : 0) + 2 * out_px * ce * double((*wd)[2] * (*wd)[3]) +
           (wp ? 2 * out_px * m * ce : 0);
  }
  if (n.domain == "ai.fastinfer" && (op == "NchwToNhwc" || op == "NhwcToNchw" || op == "ChannelShuffle" ||
                                    op == "NhwcChannelShuffle" || op == "ConcatInto"))
    return 0;
  // com.microsoft attention: the two products of every head, Q K^T over the L keys and P V (the
  // softmax and the masks, a few operations per score, not counted); Attention adds its Q/K/V
  // projection, one GEMM of X [B, S, C] by W [C, Hq + Hk + Hv] (Hk = Hq, output [B, S, Hv]).
  if (n.domain == "com.microsoft" && (op == "MultiHeadAttention" || op == "Attention")) {
    const auto* x = dims_of(g, n, 0);
    if (!x || x->size() != 3 || out < 0) return -1;
    const double rows = double((*x)[0]) * double((*x)[1]);
    if (op == "MultiHeadAttention") {
      const auto* k = dims_of(g, n, 1);
      if (!k || (k->size() != 3 && k->size() != 4)) return -1;
      const double keys = double(k->size() == 3 ? (*k)[1] : (*k)[2]);
      return 2 * rows * keys * double((*x)[2]) + 2 * out * keys;
    }
    const auto* w = dims_of(g, n, 1);
    if (!w || w->size() != 2) return -1;
    const double total = double((*w)[1]), hv = out / rows, hq = (total - hv) / 2, s = double((*x)[1]);
    return 2 * rows * double((*w)[0]) * total + 2 * rows * s * (hq + hv);
  }
  if (!n.domain.empty() && op != "FusedConv" && op != "FusedGemm" && op != "FusedMatMul") return out;
  if (data_movement(op)) return 0;
  if (op == "Einsum" || op == "LSTM" || op == "GRU" || op == "RNN" || op == "Attention" || op == "DeformConv")
    return -1;  // not estimated (yet)
  if (op == "Conv" || op == "FusedConv" || op == "ConvInteger" || op == "QLinearConv") {
    const auto* w = dims_of(g, n, op == "QLinearConv" ? 3 : 1);
    if (!w || out < 0) return -1;
    return 2 * out * product(*w, 1);  // each output: C/group * kernel multiply-adds
  }
  if (op == "ConvTranspose") {
    const auto* w = dims_of(g, n, 1);
    double in = numel_of(g, n.inputs.empty() ? -1 : n.inputs[0]);
    if (!w || in < 0) return -1;
    return 2 * in * product(*w, 1);  // each input scatters into M/group * kernel outputs
  }
  if (op == "Gemm" || op == "FusedGemm") {
    const auto* a = dims_of(g, n, 0);
    if (!a || a->size() != 2 || out < 0) return -1;
    const Attribute* t = n.attrs.find("transA");
    int64_t k = t && t->type == AttrType::Int && t->i ? (*a)[0] : (*a)[1];
    return 2 * out * double(k);
  }
  if (op == "MatMul" || op == "FusedMatMul" || op == "MatMulInteger" || op == "QLinearMatMul") {
    const auto* a = dims_of(g, n, 0);
    if (!a || a->empty() || out < 0) return -1;
    return 2 * out * double(a->back());
  }
  if (reduction(op)) return numel_of(g, n.inputs.empty() ? -1 : n.inputs[0]);
  if (op == "MaxPool" || op == "AveragePool" || op == "LpPool") {
    const Attribute* k = n.attrs.find("kernel_shape");
    if (!k || k->type != AttrType::Ints || out < 0) return -1;
    double win = 1;
    for (int64_t d : k->ints) win *= double(d);
    return out * win;
  }
  return out;  // elementwise ops, activations, normalisations: one per output element
}

std::vector<NodeSummary> describe_nodes(const Graph& g) {
  std::vector<NodeSummary> out;
  for (const Node& n : g.nodes()) {
    NodeSummary s;
    s.name = n.name;
    s.op_type = n.op_type;
    s.domain = n.domain;
    s.layout = n.layout;
    if (n.kernel) {
      std::vector<StaticInput> ins;
      for (int v : n.inputs) {
        StaticInput si;
        if (v >= 0) {
          TypeInfo t = g.type_of(v);
          si.dtype = t.dtype;
          si.has_shape = t.has_shape;
          si.dims = t.dims;
          if (g.value(v).is_const && !g.value(v).is_input && g.value(v).const_value.defined()) {
            si.has_shape = true;
            si.dims.assign(g.value(v).const_value.shape().begin(), g.value(v).const_value.shape().end());
          }
        }
        ins.push_back(std::move(si));
      }
      try {
        s.kernel = n.kernel->describe(ins);
      } catch (const std::exception&) {
        s.kernel.clear();
      }
    }
    if (s.kernel.empty()) s.kernel = n.op_type;
    for (size_t o = 0; o < n.outputs.size(); ++o)
      if (n.outputs[o] >= 0 && !n.output_names[o].empty())
        s.outputs.emplace_back(n.output_names[o], g.value(n.outputs[o]).inferred);
    s.flops = estimate_flops(g, n);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace fi
