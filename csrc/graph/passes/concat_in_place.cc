// Channels-last Concats (axis 3, after assign_layout) whose inputs come from convs: each such conv
// writes its output straight into the Concat's buffer, its M channels at their offset in every
// pixel (NhwcConv fi.out_channels / fi.out_offset, a GEMM with ldc = the Concat's channels), so
// that part of the Concat's copy disappears (SqueezeNet's fire modules, Inception's branches).
//   The convs form a chain in node order: the first makes the buffer (the Concat's shape), each
//   next one takes it as input 4 and writes into it in place (the memory planner gives its output
//   the buffer's memory, which dies there); the last one's output is the Concat's output, or, when
//   some inputs come from elsewhere (a pooling branch), an ai.fastinfer ConcatInto copies those in.
// A conv qualifies when its output is read by the Concat alone (once) and is no graph output, and
// it runs on a GEMM path (not depthwise, not an NCHW-input stem).
#include <algorithm>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/passes/fusion_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

// The channels of an NHWC value, when inference knows them; else -1.
int64_t channels(const Graph& g, int v) {
  const TypeInfo& t = g.value(v).inferred;
  return t.has_shape && t.dims.size() == 4 && t.dims[3] > 0 ? t.dims[3] : -1;
}

// Node p can write v into a Concat's buffer: an NhwcConv on a GEMM path, not yet chained.
bool writes_in_place(const Graph& g, const Node& p, int v, const std::vector<int>& uses) {
  if (p.domain != "ai.fastinfer" || p.op_type != "NhwcConv" || p.outputs.size() != 1 || p.inputs.size() > 4)
    return false;
  if (uses[size_t(v)] != 1 || g.value(v).is_output || p.attrs.has("fi.out_channels")) return false;
  if (p.attrs.get_int("fi.nchw_input", 0) != 0) return false;
  const Tensor* w = pass_util::const_f32(g, p, 1);
  return w && w->rank() == 4 && !(w->dim(1) == 1 && p.attrs.get_int("group", 1) == w->dim(0) && w->dim(0) > 1);
}

}  // namespace

void write_concat_in_place(Graph& g) {
  std::vector<Node>& nodes = g.mutable_nodes();
  const std::vector<int> uses = g.use_counts();
  std::vector<char> dead(nodes.size(), 0);
  for (size_t ci = 0; ci < nodes.size(); ++ci) {
    if (nodes[ci].op_type != "Concat" || !nodes[ci].domain.empty() || nodes[ci].layout != "NHWC" ||
        nodes[ci].outputs.size() != 1 || nodes[ci].attrs.get_int("axis", 0) != 3)
      continue;
    const int y = nodes[ci].outputs[0];
    const int64_t total = channels(g, y);
    if (total < 0) continue;
    // Each input's channel offset; the qualifying ones by producer, in node order.
    std::vector<int64_t> offset;
    std::vector<std::pair<int, size_t>> writers;  // (producer, input index)
    int64_t at = 0;
    bool known = true;
    for (size_t i = 0; i < nodes[ci].inputs.size() && known; ++i) {
      const int v = nodes[ci].inputs[i];
      const int64_t c = v >= 0 ? channels(g, v) : -1;
      known = c > 0;
      offset.push_back(at);
      at += c;
      const int p = known ? g.value(v).producer : -1;
      if (p >= 0 && writes_in_place(g, nodes[size_t(p)], v, uses)) writers.emplace_back(p, i);
    }
    if (!known || at != total || writers.empty()) continue;
    std::sort(writers.begin(), writers.end());
    const bool all = writers.size() == nodes[ci].inputs.size();
    int buffer = -1;
    for (size_t j = 0; j < writers.size(); ++j) {
      Node& p = nodes[size_t(writers[j].first)];
      fusion::set_int_attr(p, "fi.out_channels", total);
      fusion::set_int_attr(p, "fi.out_offset", offset[writers[j].second]);
      if (buffer >= 0) {
        p.inputs.resize(5, -1);
        p.input_names.resize(5);
        p.inputs[4] = buffer;
        p.input_names[4] = g.value(buffer).name;
      }
      int out = y;
      if (!(all && j + 1 == writers.size())) {
        out = g.add_value(g.value(y).name + "/part" + std::to_string(j));
        g.mutable_value(out).inferred = g.value(y).inferred;
      }
      p.outputs[0] = out;
      p.output_names[0] = g.value(out).name;
      buffer = out;
    }
    Node& c = nodes[ci];
    if (all) {
      dead[ci] = 1;
      continue;
    }
    // The inputs no conv wrote: copied in by ConcatInto, in place on the buffer.
    std::vector<int> ins = {buffer};
    std::vector<std::string> names = {g.value(buffer).name};
    std::vector<int64_t> offs;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      bool written = false;
      for (const auto& w : writers) written |= w.second == i;
      if (written) continue;
      ins.push_back(c.inputs[i]);
      names.push_back(c.input_names[i]);
      offs.push_back(offset[i]);
    }
    c.domain = "ai.fastinfer";
    c.op_type = "ConcatInto";
    c.opset = 1;
    c.inputs = ins;
    c.input_names = names;
    Attribute a;
    a.type = AttrType::Ints;
    a.ints = offs;
    c.attrs.set("offsets", a);
  }
  g.remove_nodes(dead);  // renumbers producers
}

}  // namespace fi
