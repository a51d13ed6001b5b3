// A chain of channels-last convs [pointwise expansion ->] depthwise -> [pointwise projection]
// (MobileNet's inverted residual block, with the projection's fused residual) becomes one
// ai.fastinfer NhwcDwBlock (ops/nhwc/dw_block_nhwc.cc), which streams rows through L2 so the
// expanded tensors never go to memory. A pointwise conv here is an NhwcConv with group 1, a
// 1x1 kernel, stride 1, no padding, constant W and B, over NHWC input; the expansion has no
// residual. The values inside the chain must have this one reader and not be graph outputs; at
// least one pointwise conv must be there. Runs after assign_layout, which makes the NhwcConvs.
#include <string>

#include "graph/graph.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

constexpr const char* kDomain = "ai.fastinfer";

bool is_nhwc_conv(const Node& n) {
  return n.op_type == "NhwcConv" && n.domain == kDomain && n.outputs.size() == 1 && n.inputs.size() >= 2 &&
         n.inputs[0] >= 0 && n.attrs.get_int("fi.nchw_input", 0) == 0;
}

// Constant bias (input 2) or none.
bool bias_ok(const Graph& g, const Node& n) { return n.inputs.size() < 3 || n.inputs[2] < 0 || pass_util::const_f32(g, n, 2); }

bool all_equal(const std::vector<int64_t>& v, int64_t x) {
  for (int64_t e : v)
    if (e != x) return false;
  return true;
}

bool is_pointwise(const Graph& g, const Node& n, bool residual_ok) {
  if (!is_nhwc_conv(n) || n.attrs.get_int("group", 1) != 1 || !bias_ok(g, n)) return false;
  if (!residual_ok && n.inputs.size() > 3 && n.inputs[3] >= 0) return false;
  const Tensor* w = pass_util::const_f32(g, n, 1);
  if (!w || w->rank() != 4 || w->dim(2) != 1 || w->dim(3) != 1) return false;
  const std::string pad = n.attrs.get_string("auto_pad", "NOTSET");
  return all_equal(n.attrs.get_ints("strides"), 1) && all_equal(n.attrs.get_ints("pads"), 0) &&
         (pad == "NOTSET" || pad == "VALID");
}

bool is_depthwise(const Graph& g, const Node& n) {
  if (!is_nhwc_conv(n) || !bias_ok(g, n) || (n.inputs.size() > 3 && n.inputs[3] >= 0)) return false;
  const Tensor* w = pass_util::const_f32(g, n, 1);
  return w && w->rank() == 4 && w->dim(1) == 1 && n.attrs.get_int("group", 1) == w->dim(0) && w->dim(0) > 1;
}

// Stage attributes: fi.clamp_min -> fi.<stage>.clamp_min and so on.
void copy_stage(const Node& from, const std::string& stage, Attributes& to) {
  for (const char* a : {"clamp_min", "clamp_max", "activation"})
    if (const Attribute* v = from.attrs.find(std::string("fi.") + a)) to.set("fi." + stage + "." + a, *v);
}

void set_input(Node& n, size_t i, const Node* from, size_t j) {
  if (!from || j >= from->inputs.size() || from->inputs[j] < 0) return;
  n.inputs[i] = from->inputs[j];
  n.input_names[i] = from->input_names[j];
}

}  // namespace

void fuse_dw_block(Graph& g) {
  std::vector<int> uses = g.use_counts();
  std::vector<Node>& nodes = g.mutable_nodes();
  // The reader of each value read once.
  std::vector<int> reader(uses.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i)
    for (int v : nodes[i].inputs)
      if (v >= 0) reader[size_t(v)] = int(i);
  auto inner = [&](int v) { return v >= 0 && uses[size_t(v)] == 1 && !g.value(v).is_output; };
  std::vector<char> dead(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& d = nodes[i];
    if (dead[i] || !is_depthwise(g, d)) continue;
    int pe = g.value(d.inputs[0]).producer;
    if (pe < 0 || dead[size_t(pe)] || !inner(d.inputs[0]) || !is_pointwise(g, nodes[size_t(pe)], false)) pe = -1;
    int pp = inner(d.outputs[0]) ? reader[size_t(d.outputs[0])] : -1;
    if (pp >= 0 && !(is_pointwise(g, nodes[size_t(pp)], true) && nodes[size_t(pp)].inputs[0] == d.outputs[0] &&
                     (nodes[size_t(pp)].inputs.size() < 4 || nodes[size_t(pp)].inputs[3] != d.outputs[0])))
      pp = -1;
    if (pe < 0 && pp < 0) continue;
    const Node* e = pe >= 0 ? &nodes[size_t(pe)] : nullptr;
    const Node* p = pp >= 0 ? &nodes[size_t(pp)] : nullptr;
    Node f;
    f.name = d.name;
    f.op_type = "NhwcDwBlock";
    f.domain = kDomain;
    f.opset = 1;
    f.layout = "NHWC";
    f.inputs.assign(8, -1);
    f.input_names.assign(8, "");
    set_input(f, 0, e ? e : &d, 0);
    set_input(f, 1, e, 1);
    set_input(f, 2, e, 2);
    set_input(f, 3, &d, 1);
    set_input(f, 4, &d, 2);
    set_input(f, 5, p, 1);
    set_input(f, 6, p, 2);
    set_input(f, 7, p, 3);
    const Node& last = p ? *p : d;
    f.outputs = last.outputs;
    f.output_names = last.output_names;
    for (const char* a : {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"})
      if (const Attribute* v = d.attrs.find(a)) f.attrs.set(a, *v);
    if (e) copy_stage(*e, "expand", f.attrs);
    copy_stage(d, "dw", f.attrs);
    if (p) copy_stage(*p, "project", f.attrs);
    // The block takes the last conv's place: its inputs (the residual included) exist by then.
    const size_t at = size_t(pp >= 0 ? pp : int(i));
    if (pe >= 0) dead[size_t(pe)] = 1;
    if (at != i) dead[i] = 1;
    nodes[at] = std::move(f);
  }
  g.remove_nodes(dead);
}

}  // namespace fi
