// Winograd glue for Conv: qualification, the on/off switch, the size rule and the call.
#include "ops/nn/conv_winograd.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace fi::nn {

namespace {

bool all_ones(const std::vector<int64_t>& v) {
  for (int64_t x : v)
    if (x != 1) return false;
  return true;
}

}  // namespace

std::string winograd_mode(const OpInit& init) {
  const char* env = std::getenv("FASTINFER_WINOGRAD");
  std::string mode = init.config("conv.winograd", env && *env ? env : "1");
  FI_CHECK(mode == "0" || mode == "1" || mode == "2" || mode == "4" || mode == "6", InvalidArgument,
           "conv.winograd / FASTINFER_WINOGRAD must be 0, 1, 2, 4 or 6, got '", mode, "'");
  return mode;
}

std::unique_ptr<ConvWinograd> ConvWinograd::make(const OpInit& init, const ConvAttrs& attrs) {
  const std::string mode = winograd_mode(init);
  const Tensor* W = init.constant_input(1);
  if (!W || W->dtype() != DataType::Float || W->rank() != 4 || W->dim(2) != 3 || W->dim(3) != 3) return nullptr;
  if (!attrs.kernel_shape.empty() && attrs.kernel_shape != std::vector<int64_t>{3, 3}) return nullptr;
  if (!all_ones(attrs.strides) || !all_ones(attrs.dilations)) return nullptr;
  const int64_t G = attrs.group, M = W->dim(0), Cg = W->dim(1);
  if (G < 1 || M < 1 || Cg < 2 || M % G != 0) return nullptr;  // depthwise convs have their own kernels
  // fi.winograd = 0: the memory budget (graph pass plan_winograd) left this layer out.
  if (mode == "1" && init.attrs().get_int("fi.winograd", 1) == 0) return nullptr;
  if (mode == "0" || !kernels::f32_winograd_values_ok(W->data<float>(), W->numel())) return nullptr;
  auto w = std::unique_ptr<ConvWinograd>(new ConvWinograd());
  w->forced_ = mode != "1";
  w->m_ = mode == "6" ? 6 : 4;
  w->w_ = *W;
  w->groups_ = G;
  w->cg_ = Cg;
  w->mg_ = M / G;
  return w;
}

const kernels::F32WinogradPlan& ConvWinograd::plan() const {
  std::call_once(once_, [&] { plan_ = kernels::f32_winograd_plan(m_, w_.data<float>(), groups_, cg_, mg_); });
  return plan_;
}

// Measured against the im2col path on this project's 2-core Zen 4 (bench/winograd_layers.py, its
// --crossover sweep): Winograd F(4,3) is faster from 16 output tiles (e.g. 14x14 at
// batch 1) up, for 3 to 512 channels; below, the transformed weights (4x the direct ones) are
// read for too little work (7x7 at batch 1-2 is 1.3-1.9x slower). With more threads each
// needs its own tiles, hence 16 per thread.
bool ConvWinograd::pays(const ConvGeom& g, int64_t n, int threads) const {
  return forced_ || winograd_tiles_pay(g.out[0], g.out[1], n, threads);
}

bool winograd_tiles_pay(int64_t out_h, int64_t out_w, int64_t n, int threads, int64_t per_thread, int64_t tile) {
  const int64_t tiles = n * ((out_h + tile - 1) / tile) * ((out_w + tile - 1) / tile);
  return tiles >= per_thread * int64_t(std::max(1, threads));
}

bool ConvWinograd::run(KernelContext& ctx, const ConvGeom& g, const Tensor& X, const Tensor* B, const Tensor* R,
                       const FusedClamp& clamp, Tensor& Y) const {
  if (X.dtype() != DataType::Float || g.nd != 2 || g.k[0] != 3 || g.k[1] != 3 || g.s[0] != 1 || g.s[1] != 1 ||
      g.d[0] != 1 || g.d[1] != 1)
    return false;
  const int64_t N = X.dim(0);
  const int threads = ctx.pool() ? ctx.pool()->num_threads() : 1;
  if (X.dim(1) != groups_ * cg_ || Y.dim(1) != groups_ * mg_ || !pays(g, N, threads))
    return false;
  kernels::WinogradGeom wg;
  wg.in_h = g.in[0];
  wg.in_w = g.in[1];
  wg.out_h = g.out[0];
  wg.out_w = g.out[1];
  wg.pad_top = g.pad[0];
  wg.pad_left = g.pad[1];
  if (!kernels::f32_winograd_values_ok(X.data<float>(), X.numel())) return false;
  const kernels::F32WinogradPlan& p = plan();
  if (!kernels::f32_winograd_fits(p, wg, N)) return false;
  float* scratch = ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_winograd_scratch_size(p, wg, N, threads)));
  kernels::f32_winograd_conv(p, wg, N, X.data<float>(), B ? B->data<float>() : nullptr,
                             R ? R->data<float>() : nullptr, clamp.lo, clamp.hi, Y.data<float>(), scratch, ctx.pool());
  return true;
}

}  // namespace fi::nn
