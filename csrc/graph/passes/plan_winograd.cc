// Which 3x3 stride-1 convs store their Winograd F(4,3) transformed weights, under a memory budget.
//
// Winograd trades memory for time: a layer's transformed weights hold 36 taps per (input, output)
// channel pair where the direct form holds 9, so storing them for every eligible layer makes the
// weights of a model like Inception v1 2.6x their size and its peak memory 1.4x ONNX Runtime's.
// The time they save per extra byte grows with the layer's output tiles (the work that reuses each
// transformed weight): a 56x56 layer gains 2.9x over im2row, a 14x14 one 1.8x, a 7x7 one nothing
// at batch 1. So the layers are taken in order of tiles per call (batch 1 where the batch is
// symbolic; layers of unknown size first), each while the extra bytes so far stay within
// conv.winograd_budget (FASTINFER_WINOGRAD_BUDGET) times the bytes of all the model's constants
// (0.5 by default, 0 for none, "inf" for every layer; with a nonzero fraction at least 4 MiB, so
// small models keep it). A layer left out gets fi.winograd = 0: a channels-last conv then runs
// Winograd on its compact form (W's taps, no extra bytes; kernels/winograd_nhwc.h) where a call
// has enough tiles for that to pay, else im2row; an NCHW Conv runs im2col. The kernels still apply
// their run-time size rules (nn::winograd_tiles_pay) to every layer.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "graph/graph.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace fi {

namespace {

// A few MB is small next to any runtime's own footprint: small models keep stored Winograd weights
// for their layers with the most tiles (SqueezeNet 1.1: four of its eight 3x3 layers).
constexpr double kMinBudgetBytes = double(4 << 20);

struct Candidate {
  size_t node;
  int64_t tiles;  // F(4,3) output tiles per call; max for unknown sizes
  size_t extra;   // bytes the transformed weights add over the direct form
};

bool all_equal(const std::vector<int64_t>& v, int64_t x) {
  for (int64_t e : v)
    if (e != x) return false;
  return true;
}

double budget_fraction(const Graph& g) {
  const char* env = std::getenv("FASTINFER_WINOGRAD_BUDGET");
  const std::string text = g.config("conv.winograd_budget", env && *env ? env : "0.5");
  if (text == "inf") return std::numeric_limits<double>::infinity();
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  FI_CHECK(end && *end == '\0' && !text.empty() && v >= 0 && std::isfinite(v), InvalidArgument,
           "conv.winograd_budget / FASTINFER_WINOGRAD_BUDGET must be a number >= 0 or 'inf', got '", text, "'");
  return v;
}

// The layer's Winograd candidate entry, or false when it cannot run Winograd.
bool candidate(const Graph& g, size_t i, Candidate& c) {
  const Node& n = g.nodes()[i];
  const bool nhwc = n.op_type == "NhwcConv" && n.domain == "ai.fastinfer";
  if (!(nhwc || (n.op_type == "Conv" && n.domain.empty())) || n.outputs.empty() || n.outputs[0] < 0) return false;
  if (n.attrs.get_int("group", 1) != 1 || n.attrs.get_int("fi.nchw_input", 0) != 0) return false;
  if (!all_equal(n.attrs.get_ints("strides"), 1) || !all_equal(n.attrs.get_ints("dilations"), 1)) return false;
  const Tensor* w = pass_util::const_f32(g, n, 1);
  if (!w || w->rank() != 4 || w->dim(2) != 3 || w->dim(3) != 3 || w->dim(1) < 2) return false;
  const TypeInfo& y = g.value(n.outputs[0]).inferred;
  c.node = i;
  c.tiles = std::numeric_limits<int64_t>::max();
  if (y.has_shape && y.dims.size() == 4) {
    const int64_t oh = y.dims[nhwc ? 1 : 2], ow = y.dims[nhwc ? 2 : 3], batch = y.dims[0] > 0 ? y.dims[0] : 1;
    if (oh >= 0 && ow >= 0) c.tiles = batch * ((oh + 3) / 4) * ((ow + 3) / 4);
  }
  // NhwcConv lets W go once transformed (36 taps for 9); Conv keeps it.
  c.extra = w->nbytes() * (nhwc ? 3 : 4);
  return true;
}

}  // namespace

void plan_winograd(Graph& g) {
  std::vector<Candidate> cands;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Candidate c;
    if (candidate(g, i, c)) cands.push_back(c);
  }
  if (cands.empty()) return;
  size_t weights = 0;
  for (const Value& val : g.values()) {
    if (val.is_const && val.const_value.defined()) weights += val.const_value.nbytes();
  }
  const double fraction = budget_fraction(g);
  const double budget = fraction > 0 ? std::max(fraction * double(weights), kMinBudgetBytes) : 0.0;
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    return a.tiles != b.tiles ? a.tiles > b.tiles : a.extra < b.extra;
  });
  double used = 0;
  for (const Candidate& c : cands) {
    const bool take = used + double(c.extra) <= budget;
    if (take) used += double(c.extra);
    Attribute a;
    a.type = AttrType::Int;
    a.i = take ? 1 : 0;
    g.mutable_nodes()[c.node].attrs.set("fi.winograd", a);
  }
}

}  // namespace fi
