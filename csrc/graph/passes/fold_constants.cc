// General constant folding: a node whose inputs are all constants (initializers, Constant nodes,
// earlier folds) runs once, at session creation, with its own kernel, and its outputs become
// constants. The kernel runs in a one-node graph whose inputs are those constants, so it is the
// same kernel and the same result as at run time.
//
// Never folded: nondeterministic ops (Random*, Multinomial, Bernoulli, Dropout), ops with
// subgraphs, nodes writing a graph output, and folds that would grow the model: the outputs may
// take more bytes than the inputs only up to kMaxGrowthBytes in all (a ConstantOfShape or Expand
// to a large tensor stays a node, computed into the arena at run time). A node whose kernel
// throws (a bad model, an unsupported case) is left alone: the error then comes at run time, as
// without the pass.
#include <set>
#include <string>

#include "graph/executor.h"
#include "graph/graph.h"
#include "graph/passes/cleanup_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

constexpr size_t kMaxGrowthBytes = size_t(1) << 20;
// Outputs read only as the weights or bias of Conv/ConvTranspose/Gemm/MatMul (models that make
// their weights with ConstantOfShape or Expand) may grow up to this: those kernels pack constant
// weights once, while a weight left to run time is rebuilt and repacked on every run (the run-time
// tensor costs the same memory: the fully connected weights of the light VGG-19 and ZFNet-512 are
// 411 and 302 MB).
constexpr size_t kMaxWeightBytes = size_t(1) << 30;

bool never_fold(const Node& n) {
  static const std::set<std::string> ops = {
      "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
      "Dropout",
  };
  if (n.domain.empty() && ops.count(n.op_type)) return true;
  if (!n.implicit_inputs.empty()) return true;
  for (const auto& kv : n.attrs.all())
    if (kv.second.g || !kv.second.graphs.empty()) return true;
  return false;
}

// Ops whose outputs may be much larger than their inputs: folded only when inference knows the
// output sizes beforehand.
bool may_grow(const Node& n) {
  static const std::set<std::string> ops = {
      "ConstantOfShape", "Expand", "Tile", "Range", "Pad", "Resize", "Upsample", "OneHot", "EyeLike",
      "MatMul", "Gemm", "Einsum", "Conv", "ConvTranspose", "CenterCropPad", "Col2Im",
  };
  return !n.domain.empty() || ops.count(n.op_type) != 0;
}

// Bytes of the node's named outputs per inference, or -1 when some size is unknown.
int64_t inferred_output_bytes(const Graph& g, const Node& n) {
  int64_t total = 0;
  for (size_t o = 0; o < n.outputs.size(); ++o) {
    if (n.outputs[o] < 0 || n.output_names[o].empty()) continue;
    const TypeInfo& t = g.value(n.outputs[o]).inferred;
    if (!t.has_shape || t.dtype == DataType::Undefined) return -1;
    int64_t e = 1;
    for (int64_t d : t.dims) {
      if (d < 0 || (d > 0 && e > (int64_t(1) << 40) / d)) return -1;
      e *= d;
    }
    total += e * int64_t(dtype_size(t.dtype));
  }
  return total;
}

// Runs node n on its constant inputs; true with one tensor per named output on success.
bool run_alone(const Graph& g, const Node& n, std::vector<Tensor>& outs) {
  Graph mini;
  for (const auto& kv : g.opsets()) mini.set_opset(kv.first, kv.second);
  std::vector<std::string> in_names;
  std::set<std::string> added;
  for (int v : n.inputs) {
    if (v < 0) {
      in_names.emplace_back();
      continue;
    }
    const Value& val = g.value(v);
    in_names.push_back(val.name);
    if (added.insert(val.name).second) mini.add_initializer(val.name, val.const_value);
  }
  std::vector<std::string> out_names;
  for (size_t o = 0; o < n.outputs.size(); ++o) out_names.push_back(n.output_names[o].empty() ? std::string() : g.value(n.outputs[o]).name);
  Node& m = mini.add_node(n.name, n.op_type, n.domain, in_names, out_names);
  m.attrs = n.attrs;
  for (const std::string& nm : out_names)
    if (!nm.empty()) mini.add_output(nm, TypeInfo{});
  mini.set_optimize(false);
  try {
    mini.prepare();
    RunState st(mini, nullptr);
    st.recycle_outputs = false;  // constants: a weight released once packed is freed, not cached
    mini.executor().run(st, {}, {}, outs);
  } catch (...) {
    return false;
  }
  for (const Tensor& t : outs)
    if (!t.defined()) return false;
  return true;
}

// True when value v is read, and only as input 1 or 2 of a weight-packing op, directly or through
// ops that only reshape it (the light Inception's fully connected weight is a ConstantOfShape
// reshaped for its Gemm). `depth` bounds the chain.
bool read_only_as_weight(const Graph& g, int v, int depth = 0) {
  int readers = 0;
  for (const Node& m : g.nodes()) {
    for (size_t k = 0; k < m.inputs.size(); ++k) {
      if (m.inputs[k] != v) continue;
      const bool std_op = m.domain.empty();
      const bool weight_op = std_op && (m.op_type == "Conv" || m.op_type == "ConvTranspose" || m.op_type == "Gemm" ||
                                        m.op_type == "MatMul");
      const bool reshape_op = std_op && k == 0 && m.outputs.size() == 1 && m.outputs[0] >= 0 &&
                              (m.op_type == "Reshape" || m.op_type == "Flatten" || m.op_type == "Squeeze" ||
                               m.op_type == "Unsqueeze");
      if (weight_op && k != 0) {
        ++readers;
      } else if (reshape_op && depth < 4 && !g.value(m.outputs[0]).is_output &&
                 read_only_as_weight(g, m.outputs[0], depth + 1)) {
        ++readers;
      } else {
        return false;
      }
    }
    for (int x : m.implicit_inputs)
      if (x == v) return false;
  }
  return readers > 0;
}

// True when every output of n is read only as a weight (read_only_as_weight).
bool feeds_only_weights(const Graph& g, const Node& n) {
  for (int o : n.outputs)
    if (o >= 0 && !read_only_as_weight(g, o)) return false;
  return true;
}

}  // namespace

void fold_constants(Graph& g) {
  std::vector<Node>& nodes = g.mutable_nodes();
  std::vector<char> dead(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    if (never_fold(n) || n.outputs.empty()) continue;
    bool foldable = true;
    size_t in_bytes = 0;
    for (size_t k = 0; k < n.inputs.size() && foldable; ++k) {
      if (n.inputs[k] < 0) continue;
      const Tensor* t = cleanup::const_input(g, n, k);
      foldable = t != nullptr;
      if (t) in_bytes += t->nbytes();
    }
    for (size_t o = 0; o < n.outputs.size() && foldable; ++o)
      foldable = n.outputs[o] < 0 || !g.value(n.outputs[o]).is_output;
    if (!foldable) continue;
    const size_t limit = in_bytes + kMaxGrowthBytes;
    int64_t expect = inferred_output_bytes(g, n);
    const bool weights = expect > int64_t(limit) && expect <= int64_t(kMaxWeightBytes) && feeds_only_weights(g, n);
    if (!weights && (expect > int64_t(limit) || (expect < 0 && may_grow(n)))) continue;
    std::vector<Tensor> outs;
    if (!run_alone(g, n, outs)) continue;
    size_t out_bytes = 0;
    for (const Tensor& t : outs) out_bytes += t.nbytes();
    if (out_bytes > (weights ? kMaxWeightBytes : limit)) continue;
    size_t k = 0;
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      if (n.outputs[o] < 0 || n.output_names[o].empty()) continue;
      cleanup::make_constant(g, n.outputs[o], std::move(outs[k++]));
    }
    dead[i] = 1;
  }
  g.remove_nodes(dead);
}

}  // namespace fi
