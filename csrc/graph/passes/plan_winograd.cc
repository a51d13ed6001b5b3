// Which 3x3 stride-1 convs store Winograd transformed weights, F(4,3) or F(2,3), under a memory
// budget.
//
// Winograd trades memory for time: a layer's F(4,3) transformed weights hold 36 taps per (input,
// output) channel pair where the direct form holds 9, so storing them for every eligible layer makes
// the weights of a model like Inception v1 2.6x their size and its peak memory 1.4x ONNX Runtime's.
// F(2,3) holds 16 (1.8x), for 2.25x fewer FMAs than direct where F(4,3) has 4x fewer (less its 4x4
// tiles' overhang past the image edge).
// The time they save per extra byte grows with the layer's output tiles (the work that reuses each
// transformed weight): a 56x56 layer gains 2.9x over im2row, a 14x14 one 1.8x, a 7x7 one nothing
// at batch 1. So the layers are taken in order of tiles per call (batch 1 where the batch is
// symbolic; layers of unknown size first), each while the extra bytes so far stay within
// conv.winograd_budget (FASTINFER_WINOGRAD_BUDGET) times the bytes of all the model's constants
// (0.5 by default, 0 for none, "inf" for every layer; with a nonzero fraction at least 3 MiB, so
// small models keep it). A layer gets fi.winograd = 1 (F(4,3) stored), 2 (F(2,3) stored; channels-
// last convs only) or 0 (left out: a channels-last conv then runs F(4,3) on its compact form, W's
// taps and no extra bytes (kernels/winograd_nhwc.h), where a call has enough tiles for that to pay,
// else im2row; an NCHW Conv runs im2col). A channels-last layer takes F(2,3):
// - where its weights are large for its tiles (at most 16 F(4,3) tiles per image, C x M of 256 x 256
//   or more: ResNet-50's 14x14 and 7x7 layers at batch 1). F(4,3)'s 36 weight matrices then stream
//   from DRAM for a few tiles each, and its 4x4 tiles overhang a 7x7 map by a third: measured on
//   single layers (Zen 4, batch 1, time / im2row's at 1 and 2 threads): 512 ch 7x7 F(4,3) 1.07 /
//   1.27, F(2,3) 0.88 / 0.94; 256 ch 14x14 0.64 / 0.62 against 0.61 / 0.57. With fewer channels
//   F(4,3) wins (128 ch 14x14: 0.47 against 0.59), and so it does at batch 8 (512 ch 7x7: 0.51
//   against 0.75; 256 ch 14x14: 0.49 against 0.52);
// - where the budget has room for its F(2,3) but not its F(4,3) weights and the layer has under
//   64 F(4,3) tiles per image (the compact F(4,3) pays from 32 tiles per thread): small layers
//   first get F(2,3) (a floor), then, most tiles first, F(4,3) in its place while the budget lasts.
// The kernels still apply their run-time size rules (nn::winograd_tiles_pay) to every layer.
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
// (SqueezeNet 1.1: F(4,3) for its four 3x3 layers of 27x27 and up, F(2,3) for its four 13x13 ones,
// 2.5 MB; at 4 MiB, two of the 13x13 ones took F(4,3) and its peak RSS passed ONNX Runtime's).
constexpr double kMinBudgetBytes = double(3 << 20);

struct Candidate {
  size_t node;
  int64_t tiles;    // F(4,3) output tiles per call; max for unknown sizes
  size_t extra;     // bytes F(4,3)'s transformed weights add over the direct form
  size_t extra2;    // and F(2,3)'s; 0: no F(2,3) (an NCHW Conv)
  bool prefer2;     // F(2,3) is the faster form (see above)
};

// F(2,3) over F(4,3) for a channels-last layer with up to this many F(4,3) tiles per call and
// C x M of at least kPrefer2Weights.
constexpr int64_t kPrefer2MaxTiles = 16;
constexpr int64_t kPrefer2Weights = 256 * 256;
// Compact F(4,3) beats a stored F(2,3) from here (its size rule is 32 tiles per thread).
constexpr int64_t kCompactTiles = 64;

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
  // NhwcConv lets W go once transformed (36 or 16 taps for 9); Conv keeps it.
  c.extra = w->nbytes() * (nhwc ? 3 : 4);
  c.extra2 = nhwc ? w->nbytes() * 7 / 9 : 0;
  c.prefer2 = nhwc && c.tiles <= kPrefer2MaxTiles && w->dim(0) * w->dim(1) >= kPrefer2Weights;
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
  // Two passes, most tiles first in each: F(2,3) for the layers that prefer it and, as a floor, for
  // those too small for the compact form; then F(4,3) for the others while the budget lasts (in
  // place of their F(2,3)). A small model thus gets a stored form for every small layer before
  // F(4,3) for some (SqueezeNet 1.1's 13x13 layers: all four F(2,3), not two F(4,3) and two im2row).
  std::vector<int> form(cands.size(), 0);
  double used = 0;
  auto bytes = [](const Candidate& c, int f) { return double(f == 1 ? c.extra : f == 2 ? c.extra2 : 0); };
  auto take = [&](size_t i, int f) {
    const double more = bytes(cands[i], f) - bytes(cands[i], form[i]);
    if ((f == 2 && cands[i].extra2 == 0) || used + more > budget) return;
    used += more;
    form[i] = f;
  };
  for (size_t i = 0; i < cands.size(); ++i)
    if (cands[i].prefer2 || cands[i].tiles < kCompactTiles) take(i, 2);
  for (size_t i = 0; i < cands.size(); ++i)
    if (!cands[i].prefer2) take(i, 1);
  for (size_t i = 0; i < cands.size(); ++i) {
    Attribute a;
    a.type = AttrType::Int;
    a.i = form[i];
    g.mutable_nodes()[cands[i].node].attrs.set("fi.winograd", a);
  }
}

}  // namespace fi
