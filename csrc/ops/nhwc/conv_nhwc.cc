// ai.fastinfer NhwcConv: a float32 2-D Conv in channels-last layout, made by the graph pass
// assign_layout. X [N, H, W, C], W [M, C/group, kh, kw] (ONNX layout, constant), optional B [M],
// optional fused residual R [N, OH, OW, M] (input 3), Y [N, OH, OW, M]; attributes as Conv plus the
// fused clamp fi.clamp_min / fi.clamp_max. group 1 runs as one GEMM
//   Y[N*OH*OW, M] = A[N*OH*OW, kh*kw*C] x Wt[kh*kw*C, M]
// with the weights packed once at creation and bias (per column), residual and clamp in the GEMM
// epilogue; A is X itself for a 1x1 stride-1 unpadded conv, else read through a pointer per output
// pixel and tap (implicit GEMM, kernels::f32_gemm_indirect), or for fewer than 8 input channels
// im2row rows (tap-major, channels contiguous) built in chunks; 3x3 stride-1 convs whose size pays
// run Winograd F(4,3) instead
// (kernels/winograd_nhwc.h; the switch as Conv's, ops/nn/conv_winograd.h). Depthwise
// (group == C == M) runs the NHWC depthwise kernels. Other groups (ShuffleNet's 1x1 convs,
// ResNeXt's 3x3) run a GEMM per group on the group's columns of X and Y: A read in place at a
// stride of C for a 1x1 stride-1 unpadded conv, else through the shared pixel pointers offset to
// the group's channels (implicit GEMM), each group's weights packed on their own.
// fi.nchw_input = 1 (set by assign_layout on a region's first conv over few channels, an RGB
// stem) reads X as NCHW [N, C, H, W] in place of a reorder pass over the image: the direct stem
// kernel (kernels/conv_stem.h), or with a fused residual im2row rows gathered from the planes.
// Its fused activation, if any, goes on each row as it is made. fi.out_channels = Ctot (set by the graph pass
// write_concat_in_place): Y is a channel Concat's buffer [N, OH, OW, Ctot] and the conv writes
// channels [fi.out_offset, + M) of it (every GEMM path and Winograd take Y's pixel stride); the
// others come from input 4, the buffer as the convs before it left it (shared in place).
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include "core/thread_pool.h"
#include "kernels/conv_stem.h"
#include "kernels/dwconv_nhwc.h"
#include "kernels/gemm.h"
#include "kernels/winograd.h"
#include "kernels/winograd_nhwc.h"
#include "ops/nn/conv_util.h"
#include "ops/nn/fused_activation.h"
#include "ops/nn/conv_winograd.h"
#include "ops/nn/gemm_util.h"
#include "ops/nhwc/nhwc_ops.h"
#include "ops/nhwc/nhwc_weights.h"
#include "ops/registry.h"

namespace fi {

namespace {

// Convs over at least this many input channels read their input through the implicit GEMM
// (kernels::f32_gemm_indirect); below, a tap's run is too short to pay for its pointer loads and
// the im2row copy is made instead.
constexpr int64_t kIndirectMinChannels = 8;

// Short runs (few channels, e.g. an RGB stem) in 8-float blocks the compiler turns into single
// vector moves, rather than library calls.
inline void copy(float* dst, const float* src, int64_t n) {
  if (n >= 64) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
    return;
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) std::memcpy(dst + i, src + i, 8 * sizeof(float));
  for (; i < n; ++i) dst[i] = src[i];
}
inline void fill_zero(float* dst, int64_t n) {
  if (n >= 64) {
    std::memset(dst, 0, size_t(n) * sizeof(float));
    return;
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) std::memset(dst + i, 0, 8 * sizeof(float));
  for (; i < n; ++i) dst[i] = 0.f;
}

// The scratch and (absent) pool a kernel path needs, outside a KernelContext: heap memory held
// until it goes out of scope, and no pool (the caller is a task of a chained job).
class SerialContext {
 public:
  ThreadPool* pool() const { return nullptr; }
  void* scratch(size_t bytes) {
    blocks_.push_back(alloc_buffer(std::max<size_t>(1, bytes), /*zero=*/false));
    return blocks_.back().get();
  }

 private:
  std::vector<std::shared_ptr<void>> blocks_;
};

class NhwcConvKernel : public OpKernel {
 public:
  explicit NhwcConvKernel(const OpInit& init)
      : attrs_(init),
        clamp_(init.attrs()),
        act_(init.attrs()),
        nchw_input_(init.attrs().get_int("fi.nchw_input", 0) != 0),
        rows_hint_(gemm_rows_hint(init)),
        depthwise_(false),
        out_channels_(init.attrs().get_int("fi.out_channels", 0)),
        out_offset_(init.attrs().get_int("fi.out_offset", 0)) {
    const Tensor* w = init.constant_input(1);
    FI_CHECK(w && w->dtype() == DataType::Float && w->rank() == 4, InvalidModel,
             "NhwcConv: W must be a constant float32 [M, C/group, kh, kw] tensor");
    FI_CHECK(attrs_.output_padding.empty() && attrs_.output_shape.empty(), InvalidModel,
             "NhwcConv: output_padding/output_shape belong to ConvTranspose");
    wshape_ = w->shape();
    const int64_t M = w->dim(0), Cg = w->dim(1), kk = w->dim(2) * w->dim(3);
    const int64_t G = attrs_.group;
    FI_CHECK(G >= 1 && M % G == 0, InvalidModel, "NhwcConv: group ", G, " does not divide M ", M);
    FI_CHECK(!nchw_input_ || G == 1, InvalidModel, "NhwcConv: fi.nchw_input needs group 1");
    if (nchw_input_) {
      packed_ = pack_im2row_nchw(*w);  // for a fused residual, which the stem kernel does not add
      stem_w_.resize(size_t(Cg * kk * kernels::f32_conv_stem_padded_m(M)));
      kernels::f32_conv_stem_pack_weights(M, Cg, w->dim(2), w->dim(3), w->data<float>(), stem_w_.data());
    } else if (G == 1) {
      const std::string mode = nn::winograd_mode(init);
      // fi.winograd (graph pass plan_winograd): 1 stores F(4,3)'s transformed weights, 2 F(2,3)'s
      // (small maps, or no room in the memory budget for F(4,3)'s), 0 neither: no room in the
      // budget, the layer runs F(4,3) on the compact form (W's taps, W's bytes) instead.
      const int64_t planned = init.attrs().get_int("fi.winograd", 1);
      FI_CHECK(planned >= 0 && planned <= 2, InvalidModel, "NhwcConv: fi.winograd must be 0, 1 or 2, got ", planned);
      if (mode != "0" && w->dim(2) == 3 && w->dim(3) == 3 && all_ones(attrs_.strides) && all_ones(attrs_.dilations) &&
          kernels::f32_winograd_values_ok(w->data<float>(), w->numel())) {
        // W is kept until the first call makes a form of it (the Winograd plan, stored 4x W for
        // F(4,3) or 1.8x for F(2,3) or compact 1x, or the im2row packing), then let go; a second form, when a call needs it,
        // is made from W rebuilt out of the first (layers used at one size hold one form).
        wino_ = std::make_unique<Wino>();
        wino_->forced = mode != "1";
        wino_->tile = mode == "2" || planned == 2 ? 2 : 4;
        wino_->compact = wino_->tile == 4 && planned == 0;
        wino_->w = *w;
      } else {
        packed_ = pack_im2row(*w);
      }
    } else if (Cg == 1 && M == G) {
      depthwise_ = true;
      dw_weights_.resize(size_t(M * kk));
      kernels::f32_dwconv_nhwc_pack_weights(M, w->dim(2), w->dim(3), w->data<float>(), dw_weights_.data());
    } else {
      const int64_t Mg = M / G;
      for (int64_t grp = 0; grp < G; ++grp)
        groups_.push_back(pack_im2row(w->data<float>() + grp * Mg * Cg * kk, Mg, Cg, kk));
    }
    FI_CHECK(out_channels_ == 0 || (!depthwise_ && !nchw_input_), InvalidModel,
             "NhwcConv: fi.out_channels needs a GEMM path (not depthwise, not NCHW input)");
    FI_CHECK(out_offset_ >= 0 && out_offset_ + M <= std::max(out_channels_, M) &&
                 (out_channels_ > 0 || out_offset_ == 0),
             InvalidModel, "NhwcConv: fi.out_offset ", out_offset_, " + ", M, " channels do not fit fi.out_channels ",
             out_channels_);
  }

  // The path for `fastinfer inspect` (the Winograd choice also depends on the thread count).
  std::string describe(const std::vector<StaticInput>& in) const override {
    (void)in;
    if (depthwise_) return "f32_dwconv_nhwc";
    if (!groups_.empty())
      return std::string(groups_[0].kernel->name) +
             (is_pointwise() ? " grouped direct GEMM" : " grouped implicit GEMM");
    if (nchw_input_) return std::string(kernels::select_f32_conv_stem().name) + " direct from NCHW input";
    // Calls below the size rule (per thread: 4 output tiles F(4,3) stored, 32 compact, 8 F(2,3))
    // run the im2row GEMM.
    if (wino_)
      return wino_->compact ? "winograd F(4,3) NHWC compact"
                            : wino_->tile == 2 ? "winograd F(2,3) NHWC" : "winograd F(4,3) NHWC";
    return std::string(packed_.kernel->name) + (is_pointwise() ? " direct GEMM" : " im2row GEMM");
  }

  // W was packed (or kept as depthwise taps) at creation; its data is never read again.
  bool reads_constant_input(int i) const override { return i != 1; }
  // Y may take the memory of a fused residual R that dies here (ResNet's skip connections): one
  // stream over the activations less per call (ResNet-50, batch 1: 0.98x the time, Zen 4). Every
  // GEMM path (group 1 or a GEMM per group) reads each element of R before it writes that element
  // of Y; the depthwise path adds R after the fact and does not qualify. Into a Concat's buffer,
  // Y takes the buffer P (input 4) instead.
  int inplace_input() const override { return out_channels_ > 0 ? 4 : depthwise_ ? -1 : 3; }

  void compute(KernelContext& ctx) const override {
    const Call c = check(ctx);
    Tensor& Y = ctx.output(0, DataType::Float, Shape{c.N, c.OH, c.OW, c.ldy});
    if (Y.numel() == 0) return;
    if (c.P && c.P->data<float>() != Y.data<float>())
      std::memcpy(Y.data<float>(), c.P->data<float>(), size_t(Y.numel()) * sizeof(float));
    float* y = Y.data<float>() + out_offset_;
    const float* x = c.x;
    const nn::ConvGeom& g = c.g;
    const int64_t N = c.N, H = c.H, W = c.W, C = c.C, ldy = c.ldy;
    const float* bias = c.bias;
    const Tensor* R = c.R;

    if (!groups_.empty()) {
      run_grouped(ctx, x, g, N, H, W, C, bias, R ? R->data<float>() : nullptr, y, ldy);
      return;
    }
    if (depthwise_) {
      const kernels::DwConvGeom dg = nn::dw_conv_geometry(g);  // g was made from [N, C, H, W]
      const float lo = R ? -INFINITY : clamp_.lo, hi = R ? INFINITY : clamp_.hi;
      kernels::f32_dwconv_nhwc(kernels::select_f32_dwconv_nhwc(), dg, N, C, x, dw_weights_.data(), bias, lo, hi, y,
                               ctx.pool());
      if (R) {
        const float* r = R->data<float>();
        for (int64_t i = 0; i < Y.numel(); ++i) y[i] += r[i];
        clamp_.apply(y, Y.numel());
      }
      act_.apply(y, Y.numel(), ctx.pool());
      return;
    }

    if (nchw_input_ && !R) {  // an RGB stem: direct, no im2row copy
      kernels::f32_conv_stem(kernels::select_f32_conv_stem(), stem_geometry(c), N, x, stem_w_.data(), bias, clamp_.lo,
                             clamp_.hi, y, ctx.pool(), act_.act);
      return;
    }
    winograd_or_gemm(ctx, c, y);
  }

  // At 2+ threads the GEMM paths over NHWC X (a 1x1 as it lies, the implicit GEMM: ResNet's,
  // SqueezeNet's, Inception's and YOLO's convs) and Winograd (3x3 stride-1 convs whose size pays;
  // it ends the chain, as a bad value in X has it compute Y again afterwards), and the RGB stem's
  // rows, are handed to the executor, which may chain them with their neighbours' work. Everything
  // else runs through compute.
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    ThreadPool* pool = ctx.pool();
    if (!pool || pool->num_threads() < 2 || !groups_.empty() || depthwise_) return false;
    if (nchw_input_) return defer_stem(ctx, work);
    const Call c = check(ctx);
    const int threads = pool->num_threads();
    const bool pointwise = pointwise_in_place(c.g, c.H, c.W);
    const bool wino = !pointwise && winograd_applies(c, threads);
    const bool implicit = !pointwise && !wino && c.C >= kIndirectMinChannels;
    const double flops = 2.0 * double(c.N * c.OH * c.OW) * double(c.M) * double(c.g.k[0] * c.g.k[1] * c.C);
    if (!(pointwise || wino || implicit) || (!wino && flops < kParallelMinFlops)) return false;
    Tensor& Y = ctx.output(0, DataType::Float, Shape{c.N, c.OH, c.OW, c.ldy});
    if (Y.numel() == 0) return true;
    float* y = Y.data<float>() + out_offset_;
    if (wino && c.R && c.R->data<float>() == y) {
      // Y over R: X's values decide the path (winograd_or_gemm), which then runs once the job
      // before it has made X.
      work.finish = [this, c, y](KernelContext& cx) { winograd_or_gemm(cx, c, y); };
      work.ends_chain = true;
      return true;
    }
    if (implicit) {
      work = implicit_gemm(ctx, c, y, threads);
    } else if (pointwise) {
      auto gemm = std::make_shared<kernels::F32GemmTasks>(*packed_.kernel, c.N * c.H * c.W, c.M, c.C, c.x, c.C,
                                                          packed_.b, y, c.ldy, epilogue(c.bias, c.R, c.M, 0), threads);
      work.phases = 1;
      work.n[0] = gemm->count();
      work.grain[0] = 1;
      work.fn = [gemm](int, int, int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) gemm->run(t);
      };
    } else {
      const kernels::WinogradNhwcGeom wg = winograd_plan(c);
      float* scratch = winograd_scratch(ctx, wg, threads);
      auto tasks = std::make_shared<kernels::F32WinogradNhwcTasks>(wino_->plan, wg, c.x, c.bias,
                                                                   c.R ? c.R->data<float>() : nullptr, clamp_.lo,
                                                                   clamp_.hi, y, scratch, threads, act_.act);
      // A third phase of one task: when X held NaN, Inf or huge values (tasks->ok() false), Y
      // is computed again there on one thread (rare). The nodes after it then stay in the same
      // job: ending the job here cost ResNet-50 15 jobs a run and DenseNet-121 61 at batch 1.
      work.phases = 3;
      for (int p = 0; p < 2; ++p) work.n[p] = tasks->n(p), work.grain[p] = tasks->grain(p);
      work.n[2] = 1;
      work.grain[2] = 1;
      work.fn = [this, c, y, tasks](int phase, int slot, int64_t b, int64_t e) {
        if (phase < 2) {
          tasks->run(phase, slot, b, e);
        } else if (!tasks->ok()) {
          SerialContext serial;
          gemm_paths(serial, c, y);
        }
      };
    }
    // Into a Concat's buffer not shared with P: P's channels first, in a phase of their own.
    if (c.P && c.P->data<float>() != Y.data<float>()) copy_first(work, c.P->data<float>(), Y.data<float>(), Y.numel());
    return true;
  }

 private:
  // A call's inputs, checked, and its geometry.
  struct Call {
    nn::ConvGeom g;
    int64_t N = 0, H = 0, W = 0, C = 0, M = 0, OH = 0, OW = 0, ldy = 0;
    const Tensor* X = nullptr;
    const float* x = nullptr;
    const float* bias = nullptr;
    const Tensor* R = nullptr;  // fused residual
    const Tensor* P = nullptr;  // the Concat buffer as the convs before this one left it
  };

  // The RGB stem's rows (no residual, no Concat buffer), when they make two tasks or more: the
  // first block's job then starts with them (MobileNetV2 at batch 1 on 2 threads).
  bool defer_stem(KernelContext& ctx, DeferredWork& work) const {
    const Call c = check(ctx);
    if (c.R || c.P) return false;
    const kernels::ConvStemGeom sg = stem_geometry(c);
    const int64_t rows = c.N * c.OH, grain = kernels::f32_conv_stem_grain(sg);
    if (c.OW <= 0 || c.M <= 0 || rows < 2 * grain) return false;
    Tensor& Y = ctx.output(0, DataType::Float, Shape{c.N, c.OH, c.OW, c.ldy});
    float* y = Y.data<float>() + out_offset_;
    const kernels::F32ConvStemKernel* k = &kernels::select_f32_conv_stem();
    work.phases = 1;
    work.n[0] = rows;
    work.grain[0] = grain;
    work.fn = [this, k, sg, x = c.x, bias = c.bias, y](int, int, int64_t b, int64_t e) {
      kernels::f32_conv_stem_rows(*k, sg, b, e, x, stem_w_.data(), bias, clamp_.lo, clamp_.hi, y, act_.act);
    };
    return true;
  }

  static kernels::ConvStemGeom stem_geometry(const Call& c) {
    kernels::ConvStemGeom sg;
    sg.C = c.C, sg.H = c.H, sg.W = c.W, sg.M = c.M, sg.OH = c.OH, sg.OW = c.OW;
    sg.kh = c.g.k[0], sg.kw = c.g.k[1], sg.sh = c.g.s[0], sg.sw = c.g.s[1], sg.dh = c.g.d[0], sg.dw = c.g.d[1];
    sg.pt = c.g.pad[0], sg.pl = c.g.pad[1];
    return sg;
  }

  // Puts a copy of `count` floats from src to dst before work's phases, as a phase of its own.
  static void copy_first(DeferredWork& work, const float* src, float* dst, int64_t count) {
    constexpr int64_t kChunk = 16 * 1024;
    FI_CHECK(work.phases < DeferredWork::kMaxPhases, RuntimeError, "NhwcConv: no phase left for the copy");
    for (int p = work.phases; p > 0; --p) work.n[p] = work.n[p - 1], work.grain[p] = work.grain[p - 1];
    work.n[0] = (count + kChunk - 1) / kChunk;
    work.grain[0] = 1;
    work.phases += 1;
    auto inner = std::move(work.fn);
    work.fn = [inner, src, dst, count](int phase, int slot, int64_t b, int64_t e) {
      if (phase > 0) {
        inner(phase - 1, slot, b, e);
        return;
      }
      const int64_t lo = b * kChunk, hi = std::min(count, e * kChunk);
      std::memcpy(dst + lo, src + lo, size_t(hi - lo) * sizeof(float));
    };
  }

  Call check(KernelContext& ctx) const {
    Call c;
    const Tensor& X = ctx.in(0);
    const Tensor* B = ctx.input(2);
    c.R = ctx.input(3);
    FI_CHECK(X.dtype() == DataType::Float && X.rank() == 4, InvalidArgument, "NhwcConv: X must be float32 ",
             nchw_input_ ? "NCHW" : "NHWC", ", got ", dtype_name(X.dtype()), " ", X.shape().str());
    c.N = X.dim(0), c.M = wshape_[0];
    c.C = X.dim(nchw_input_ ? 1 : 3), c.H = X.dim(nchw_input_ ? 2 : 1), c.W = X.dim(nchw_input_ ? 3 : 2);
    c.g = nn::conv_geometry(attrs_, Shape{c.N, c.C, c.H, c.W}, wshape_, "NhwcConv");
    FI_CHECK(wshape_[1] * attrs_.group == c.C, InvalidArgument, "NhwcConv: X has ", c.C, " channels, W is ",
             wshape_.str(), " with group ", attrs_.group);
    FI_CHECK(!B || (B->dtype() == DataType::Float && B->rank() == 1 && B->dim(0) == c.M), InvalidArgument,
             "NhwcConv: B must be float32 [", c.M, "]");
    c.OH = c.g.out[0], c.OW = c.g.out[1];
    const Shape rs{c.N, c.OH, c.OW, c.M};
    FI_CHECK(!c.R || (c.R->dtype() == DataType::Float && c.R->shape() == rs), InvalidArgument,
             "NhwcConv: fused residual of shape ", c.R ? c.R->shape().str() : "", " does not match the output ",
             rs.str());
    // Into a channel Concat's buffer (fi.out_channels): Y has all its channels, this conv writes
    // [out_offset, out_offset + M) of each pixel, the rest comes from P (input 4: the buffer as the
    // convs before this one left it), in place when the planner let Y take P's memory.
    c.ldy = out_channels_ > 0 ? out_channels_ : c.M;
    const Shape ys{c.N, c.OH, c.OW, c.ldy};
    c.P = ctx.input(4);
    FI_CHECK(!c.P || (c.P->dtype() == DataType::Float && c.P->shape() == ys), InvalidArgument,
             "NhwcConv: the buffer it writes into has shape ", c.P ? c.P->shape().str() : "", ", not the output's ",
             ys.str());
    c.X = &X;
    c.x = X.data<float>();
    c.bias = B ? B->data<float>() : nullptr;
    return c;
  }

  // A 3x3 stride-1 conv whose size pays for Winograd (or forced to it).
  bool winograd_applies(const Call& c, int threads) const {
    const nn::ConvGeom& g = c.g;
    if (!wino_ || g.k[0] != 3 || g.k[1] != 3 || g.s[0] != 1 || g.s[1] != 1 || g.d[0] != 1 || g.d[1] != 1) return false;
    // Channels-last Winograd pays from 4 tiles per thread (measured against im2row on the 2-core
    // Zen 4, 1 thread: 7x7 at batch 1, 4 tiles, takes 0.4-0.5x im2row's time for 64-256
    // channels and 0.8x for 512; 4x4, one tile, 2x; 2 threads with 2 tiles each at 512
    // channels 1.3x, with 4 each 0.8x).
    // The compact form rebuilds U_xi per task (about 5.4 / tiles-per-block of the GEMMs' work):
    // it beats im2row from 32 tiles per thread (measured on ResNet-50 and SqueezeNet layers, Zen 4:
    // 16 tiles of 256 channels at par with im2row, 49 of 128 1.7x faster, 128 of 64 1.4x).
    // F(2,3) (2x2 tiles) pays from 8 per thread (ResNet-50's 7x7 layers at batch 1, 2 threads).
    const int64_t per_thread = wino_->tile == 2 ? 8 : wino_->compact ? 32 : 4;
    return wino_->forced || nn::winograd_tiles_pay(c.OH, c.OW, c.N, threads, per_thread, wino_->tile);
  }

  // The Winograd weights (made on the first call that needs them) and the call's geometry.
  kernels::WinogradNhwcGeom winograd_plan(const Call& c) const {
    std::call_once(wino_->plan_once, [&] {
      const Tensor src = wino_source();
      wino_->plan = wino_->compact ? kernels::f32_winograd_nhwc_compact_plan(src.data<float>(), c.M, c.C)
                                   : kernels::f32_winograd_nhwc_plan(src.data<float>(), c.M, c.C, wino_->tile);
      std::lock_guard<std::mutex> lk(wino_->mu);
      wino_->have_plan = true;
      wino_->w = Tensor();
    });
    kernels::WinogradNhwcGeom wg;
    wg.n = c.N;
    wg.in_h = c.H;
    wg.in_w = c.W;
    wg.out_h = c.OH;
    wg.out_w = c.OW;
    wg.pad_top = c.g.pad[0];
    wg.pad_left = c.g.pad[1];
    wg.y_stride = c.ldy;
    return wg;
  }

  // The Winograd conv's scratch for a job of `threads` threads (every one with its slot).
  float* winograd_scratch(KernelContext& ctx, const kernels::WinogradNhwcGeom& wg, int threads) const {
    return ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_winograd_nhwc_scratch_size(wino_->plan, wg, threads)));
  }

  // Group 1, X channels-last: Winograd where it applies, else (or when X holds a value Winograd
  // rejects) gemm_paths.
  void winograd_or_gemm(KernelContext& ctx, const Call& c, float* y) const {
    const int threads = ctx.pool() ? ctx.pool()->num_threads() : 1;
    // In place of R, Winograd cannot stop halfway on a bad value (Y then partly written over R):
    // such an X goes to the GEMM at once.
    const bool in_place = c.R && c.R->data<float>() == y;
    if (winograd_applies(c, threads) && (!in_place || kernels::f32_winograd_values_ok(c.x, c.X->numel()))) {
      const kernels::WinogradNhwcGeom wg = winograd_plan(c);
      float* scratch = winograd_scratch(ctx, wg, threads);
      // false: X holds NaN, Inf or huge values (never when Y is R: checked above); Y is then computed below.
      if (kernels::f32_winograd_nhwc_conv(wino_->plan, wg, c.x, c.bias, c.R ? c.R->data<float>() : nullptr, clamp_.lo,
                                          clamp_.hi, y, scratch, ctx.pool(), act_.act))
        return;
    }
    gemm_paths(ctx, c, y);
  }

  // Implicit GEMM: the microkernels read each output pixel's input pixels through a pointer per
  // kernel tap (padding taps point at C zeros), so no im2row copy is made. Two phases of one job
  // (one wake-up of the workers): the pointers, then the GEMM.
  template <class Ctx>
  DeferredWork implicit_gemm(Ctx& ctx, const Call& c, float* y, int threads) const {
    const int64_t taps = c.g.k[0] * c.g.k[1], rows = c.N * c.OH * c.OW;
    void* mem = ctx.scratch(size_t(rows * taps) * sizeof(const float*) + size_t(c.C) * sizeof(float));
    const float** ind = static_cast<const float**>(mem);
    float* zeros = reinterpret_cast<float*>(ind + rows * taps);
    im2row_weights();
    auto gemm = std::make_shared<kernels::F32GemmTasks>(*packed_.kernel, rows, c.M, taps, c.C, ind, packed_.b, y, c.ldy,
                                                        epilogue(c.bias, c.R, c.M, 0), threads);
    DeferredWork w;
    w.phases = 2;
    w.n[0] = rows;
    w.n[1] = gemm->count();
    w.grain[0] = std::max<int64_t>(256, 4096 / taps);
    w.grain[1] = 1;
    // The C zeros the padding taps point at are written by the task holding row 0 (the scratch
    // is written in tasks only: see Executor::defer_node); the GEMM reads them in phase 1.
    w.fn = [c, gemm, ind, zeros](int phase, int, int64_t b, int64_t e) {
      if (phase == 0) {
        if (b == 0) std::memset(zeros, 0, size_t(c.C) * sizeof(float));
        indirection(c.x, c.g, c.H, c.W, c.C, c.OH, c.OW, b, e, zeros, ind);
      } else
        for (int64_t t = b; t < e; ++t) gemm->run(t);
    };
    return w;
  }

  // A conv with Winograd weights that takes a GEMM path: its im2row weights, packed on the
  // first such call.
  void im2row_weights() const {
    if (!wino_) return;
    std::call_once(wino_->im2row_once, [&] {
      const Tensor src = wino_source();
      packed_ = pack_im2row(src);
      std::lock_guard<std::mutex> lk(wino_->mu);
      wino_->have_im2row = true;
      wino_->w = Tensor();
    });
  }

  // Group 1, X channels-last, no Winograd: a GEMM over X as it lies (1x1), the implicit GEMM, or
  // im2row rows (few channels).
  // Ctx: a KernelContext, or SerialContext (a Winograd conv's fallback inside a chained job).
  template <class Ctx>
  void gemm_paths(Ctx& ctx, const Call& c, float* y) const {
    const float* x = c.x;
    const nn::ConvGeom& g = c.g;
    const int64_t N = c.N, H = c.H, W = c.W, C = c.C, M = c.M, OH = c.OH, OW = c.OW, ldy = c.ldy;
    const float* bias = c.bias;
    const Tensor* R = c.R;
    const int64_t kh = g.k[0], kw = g.k[1], K = kh * kw * C, rows = N * OH * OW;
    im2row_weights();
    const kernels::F32GemmKernel& kern = *packed_.kernel;
    auto epilogue = [&](int64_t r0) { return this->epilogue(bias, R, M, r0); };
    if (!nchw_input_ && pointwise_in_place(g, H, W)) {
      kernels::f32_gemm(kern, rows, M, K, x, C, packed_.b, y, ldy, epilogue(0), ctx.pool());
      return;
    }
    if (!nchw_input_ && C >= kIndirectMinChannels) {
      const int threads = ctx.pool() ? ctx.pool()->num_threads() : 1;
      const DeferredWork w = implicit_gemm(ctx, c, y, threads);  // two phases, no finish
      parallel_phases(w.n[1] > 1 ? ctx.pool() : nullptr, w.phases, w.n, w.grain, w.fn);
      return;
    }
    // (Few input channels.) im2row in chunks of rows whose A stays in L2 (256 KiB), but no smaller than the weights, so
    // re-reading the packed weights for every chunk costs no more than the chunk itself. A task
    // is (chunk, slice of the output channels) and writes its own chunk into its thread's part of
    // the scratch; with fewer than 4 chunks per thread (small images, batch 1) the channels are
    // split too, whole panels of packed W per slice, so every thread has work and each reads
    // only its slice of the weights (the im2row copy is repeated per slice; it is cheap here).
    const int64_t chunk = std::min<int64_t>(rows, std::max<int64_t>({16, 65536 / K, M}));
    const int64_t chunks = (rows + chunk - 1) / chunk;
    const int threads = ctx.pool() ? ctx.pool()->num_threads() : 1;
    if (chunks < threads && rows * K <= (int64_t(2) << 20) &&
        2.0 * double(rows) * double(M) * double(K) >= kParallelMinFlops) {
      // Fewer chunks than threads (a strided layer at batch 1: ResNet-50's 3x3 stride 2 at 14x14 is
      // one chunk of 196 rows x 2304): the rows (up to 8 MB) are gathered once, split over the
      // threads, and one GEMM splits its tiles over them; per-slice tasks would each gather them
      // (1.8 MB, past L2) and read them unpacked once per slice (1.3x the time of this on 2
      // threads, Zen 4).
      float* a = static_cast<float*>(ctx.scratch(size_t(rows * K) * sizeof(float)));
      const int64_t grain = std::max<int64_t>(1, (rows + 4 * threads - 1) / (4 * threads));
      parallel_for(ctx.pool(), rows, grain, [&](int64_t r0, int64_t r1) {
        if (nchw_input_) im2row_nchw(x, g, H, W, C, OH, OW, r0, r1 - r0, K, a + r0 * K);
        else im2row(x, g, H, W, C, OH, OW, r0, r1 - r0, K, a + r0 * K);
      });
      kernels::f32_gemm(kern, rows, M, K, a, K, packed_.b, y, ldy, epilogue(0), ctx.pool());
      return;
    }
    const int64_t nr = packed_.b.nr, panels = (M + nr - 1) / nr;
    int64_t slices = 1;
    if (threads > 1 && chunks < 4 * threads && 2.0 * double(rows) * double(M) * double(K) >= kParallelMinFlops)
      slices = std::min(panels, (4 * int64_t(threads) + chunks - 1) / chunks);
    const int64_t slice_cols = (panels + slices - 1) / slices * nr;
    slices = (M + slice_cols - 1) / slice_cols;
    const int64_t slots = std::min<int64_t>(threads, chunks * slices);
    float* scratch = static_cast<float*>(ctx.scratch(size_t(slots * chunk * K) * sizeof(float)));
    parallel_for_slots(ctx.pool(), chunks * slices, 1, [&](int slot, int64_t t0, int64_t t1) {
      float* a = scratch + slot * chunk * K;
      int64_t have = -1;  // the chunk now in `a`
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t ci = t / slices, m0 = t % slices * slice_cols, mc = std::min(slice_cols, M - m0);
        const int64_t r0 = ci * chunk, nrows = std::min(chunk, rows - r0);
        if (ci != have) {
          if (nchw_input_) im2row_nchw(x, g, H, W, C, OH, OW, r0, nrows, K, a);
          else im2row(x, g, H, W, C, OH, OW, r0, nrows, K, a);
        }
        have = ci;
        kernels::Epilogue ep = epilogue(r0);
        if (ep.bias) ep.bias += m0;
        if (ep.residual) ep.residual += m0;
        kernels::f32_gemm(kern, nrows, mc, K, a, K, kernels::f32_packed_b_columns(packed_.b, m0, mc),
                          y + r0 * ldy + m0, ldy, ep, nullptr);
      }
    });
  }

 private:
  // A 1x1 conv, stride 1, no padding: X's pixels are the GEMM's rows as they lie.
  static bool pointwise_in_place(const nn::ConvGeom& g, int64_t H, int64_t W) {
    return g.k[0] == 1 && g.k[1] == 1 && g.s[0] == 1 && g.s[1] == 1 && g.pad[0] == 0 && g.pad[1] == 0 &&
           g.out[0] == H && g.out[1] == W;
  }

  // The GEMM's epilogue for output rows from r0: bias per column, the fused clamp and
  // activation, the residual R (NHWC, M channels) when there is one.
  kernels::Epilogue epilogue(const float* bias, const Tensor* R, int64_t M, int64_t r0) const {
    kernels::Epilogue ep;
    ep.bias = bias;
    ep.bias_per_row = false;
    ep.clamp_min = clamp_.lo;
    ep.clamp_max = clamp_.hi;
    ep.act = act_.act;
    if (R) {
      ep.residual = R->data<float>() + r0 * M;
      ep.res_row_stride = M;
      ep.res_col_stride = 1;
    }
    return ep;
  }

  // A GEMM per group (see the top): tasks are (group, block of output rows), about 4 per thread
  // when the groups alone are fewer, each GEMM on one thread.
  void run_grouped(KernelContext& ctx, const float* x, const nn::ConvGeom& g, int64_t N, int64_t H, int64_t W,
                   int64_t C, const float* bias, const float* r, float* y, int64_t ldy) const {
    const int64_t G = attrs_.group, M = wshape_[0], Mg = M / G, Cg = C / G;
    const int64_t OH = g.out[0], OW = g.out[1], taps = g.k[0] * g.k[1], rows = N * OH * OW;
    const kernels::F32GemmKernel& kern = *groups_[0].kernel;
    const bool direct = taps == 1 && g.s[0] == 1 && g.s[1] == 1 && g.pad[0] == 0 && g.pad[1] == 0 && OH == H && OW == W;
    const float** ind = nullptr;
    float* zeros = nullptr;
    if (!direct) {  // one pointer per output pixel and tap, shared by the groups (offset per group)
      void* mem = ctx.scratch(size_t(rows * taps) * sizeof(const float*) + size_t(C) * sizeof(float));
      ind = static_cast<const float**>(mem);
      zeros = reinterpret_cast<float*>(ind + rows * taps);
      std::memset(zeros, 0, size_t(C) * sizeof(float));
    }
    const int threads = ctx.pool() ? ctx.pool()->num_threads() : 1;
    const bool parallel = threads > 1 && 2.0 * double(rows) * double(M) * double(Cg * taps) >= kParallelMinFlops;
    int64_t blocks = 1;
    if (parallel && G < 4 * threads) blocks = std::min((rows + kern.mr - 1) / kern.mr, (4 * threads + G - 1) / G);
    const int64_t block_rows = ((rows + blocks - 1) / blocks + kern.mr - 1) / kern.mr * kern.mr;
    blocks = (rows + block_rows - 1) / block_rows;
    // The pointers (when there are), then the GEMMs: two phases of one job.
    const int64_t n[2] = {ind ? rows : 0, G * blocks}, grain[2] = {std::max<int64_t>(256, 4096 / taps), 1};
    parallel_phases(parallel ? ctx.pool() : nullptr, 2, n, grain, [&](int phase, int, int64_t t0, int64_t t1) {
      if (phase == 0) {
        indirection(x, g, H, W, C, OH, OW, t0, t1, zeros, ind);
        return;
      }
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t grp = t / blocks, r0 = t % blocks * block_rows, nr = std::min(block_rows, rows - r0);
        kernels::Epilogue ep;
        ep.bias = bias ? bias + grp * Mg : nullptr;
        ep.bias_per_row = false;
        ep.clamp_min = clamp_.lo;
        ep.clamp_max = clamp_.hi;
        ep.act = act_.act;
        if (r) {
          ep.residual = r + r0 * M + grp * Mg;
          ep.res_row_stride = M;
          ep.res_col_stride = 1;
        }
        float* yt = y + r0 * ldy + grp * Mg;
        if (direct)
          kernels::f32_gemm(kern, nr, Mg, Cg, x + r0 * C + grp * Cg, C, groups_[size_t(grp)].b, yt, ldy, ep, nullptr);
        else
          kernels::f32_gemm_indirect(kern, nr, Mg, taps, Cg, ind + r0 * taps, groups_[size_t(grp)].b, yt, ldy, ep,
                                     nullptr, grp * Cg);
      }
    });
  }

  bool is_pointwise() const { return wshape_[2] == 1 && wshape_[3] == 1 && all_ones(attrs_.strides); }

  // The input pixel of each output row r in [r0, r1) under each kernel tap (ky, kx), into
  // ind[r*taps + ky*kw + kx]: NHWC X's C floats there, or `zeros` where the tap is padding.
  static void indirection(const float* x, const nn::ConvGeom& g, int64_t H, int64_t W, int64_t C, int64_t OH,
                          int64_t OW, int64_t r0, int64_t r1, const float* zeros, const float** ind) {
    const int64_t kh = g.k[0], kw = g.k[1], sy = g.s[0], sx = g.s[1], py = g.pad[0], px = g.pad[1];
    const int64_t dy = g.d[0], dx = g.d[1];
    int64_t n = r0 / (OH * OW), oy = r0 / OW % OH, ox = r0 % OW;
    const float** p = ind + r0 * kh * kw;
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t ky = 0; ky < kh; ++ky) {
        const int64_t iy = oy * sy - py + ky * dy;
        const bool row_in = iy >= 0 && iy < H;
        const float* src = row_in ? x + (n * H + iy) * W * C : nullptr;
        for (int64_t kx = 0; kx < kw; ++kx) {
          const int64_t ix = ox * sx - px + kx * dx;
          *p++ = row_in && ix >= 0 && ix < W ? src + ix * C : zeros;
        }
      }
      if (++ox == OW) {
        ox = 0;
        if (++oy == OH) oy = 0, ++n;
      }
    }
  }

  // Rows [r0, r0 + nrows) of the im2row matrix of NHWC X into a (row-major, K = kh*kw*C per row,
  // tap-major: the taps of a kernel row are one contiguous run of pixels when dilation is 1).
  static void im2row(const float* x, const nn::ConvGeom& g, int64_t H, int64_t W, int64_t C, int64_t OH, int64_t OW,
                     int64_t r0, int64_t nrows, int64_t K, float* a) {
    const int64_t kh = g.k[0], kw = g.k[1], sy = g.s[0], sx = g.s[1], py = g.pad[0], px = g.pad[1];
    const int64_t dy = g.d[0], dx = g.d[1];
    int64_t n = r0 / (OH * OW), oy = r0 / OW % OH, ox = r0 % OW;  // the row's pixel, stepped below
    for (int64_t i = 0; i < nrows; ++i) {
      float* dst = a + i * K;
      const int64_t ix0 = ox * sx - px;
      for (int64_t ky = 0; ky < kh; ++ky, dst += kw * C) {
        const int64_t iy = oy * sy - py + ky * dy;
        if (iy < 0 || iy >= H) {
          fill_zero(dst, kw * C);
          continue;
        }
        const float* src = x + (n * H + iy) * W * C;
        if (dx == 1) {  // the taps of a kernel row are one contiguous run of pixels
          const int64_t lo = std::min(kw, std::max<int64_t>(0, -ix0));
          const int64_t hi = std::max(lo, std::min(kw, W - ix0));
          if (lo > 0) fill_zero(dst, lo * C);
          if (hi > lo) copy(dst + lo * C, src + (ix0 + lo) * C, (hi - lo) * C);
          if (hi < kw) fill_zero(dst + hi * C, (kw - hi) * C);
          continue;
        }
        for (int64_t kx = 0; kx < kw; ++kx) {
          const int64_t ix = ix0 + kx * dx;
          if (ix < 0 || ix >= W) fill_zero(dst + kx * C, C);
          else copy(dst + kx * C, src + ix * C, C);
        }
      }
      if (++ox == OW) {
        ox = 0;
        if (++oy == OH) oy = 0, ++n;
      }
    }
  }

  // The same rows read from an NCHW X (the region's input, as the first conv of a CNN reads it:
  // no reorder pass over the image): channel-major rows, (c, ky, kx), matching W's own order.
  // KW > 0: the kernel width as a constant (3, 5, 7), so the interior copies unroll.
  template <int KW>
  static void im2row_nchw_k(const float* x, const nn::ConvGeom& g, int64_t H, int64_t W, int64_t C, int64_t OH,
                            int64_t OW, int64_t r0, int64_t nrows, int64_t K, float* a) {
    const int64_t kh = g.k[0], kw = KW > 0 ? KW : g.k[1], sy = g.s[0], sx = g.s[1], py = g.pad[0], px = g.pad[1];
    const int64_t dy = g.d[0], dx = g.d[1];
    int64_t n = r0 / (OH * OW), oy = r0 / OW % OH, ox = r0 % OW;
    for (int64_t i = 0; i < nrows; ++i) {
      float* dst = a + i * K;
      const int64_t ix0 = ox * sx - px;
      const bool inside = ix0 >= 0 && ix0 + (kw - 1) * dx < W;
      for (int64_t c = 0; c < C; ++c) {
        const float* plane = x + (n * C + c) * H * W;
        for (int64_t ky = 0; ky < kh; ++ky, dst += kw) {
          const int64_t iy = oy * sy - py + ky * dy;
          if (iy < 0 || iy >= H) {
            for (int64_t kx = 0; kx < kw; ++kx) dst[kx] = 0.f;
            continue;
          }
          const float* src = plane + iy * W + ix0;
          if (inside) {
            for (int64_t kx = 0; kx < kw; ++kx) dst[kx] = src[kx * dx];
          } else {
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t ix = ix0 + kx * dx;
              dst[kx] = ix >= 0 && ix < W ? src[kx * dx] : 0.f;
            }
          }
        }
      }
      if (++ox == OW) {
        ox = 0;
        if (++oy == OH) oy = 0, ++n;
      }
    }
  }
  static void im2row_nchw(const float* x, const nn::ConvGeom& g, int64_t H, int64_t W, int64_t C, int64_t OH,
                          int64_t OW, int64_t r0, int64_t nrows, int64_t K, float* a) {
    switch (g.k[1]) {
      case 3: return im2row_nchw_k<3>(x, g, H, W, C, OH, OW, r0, nrows, K, a);
      case 5: return im2row_nchw_k<5>(x, g, H, W, C, OH, OW, r0, nrows, K, a);
      case 7: return im2row_nchw_k<7>(x, g, H, W, C, OH, OW, r0, nrows, K, a);
      default: return im2row_nchw_k<0>(x, g, H, W, C, OH, OW, r0, nrows, K, a);
    }
  }

  // Wt[(t*C + c), m] = W[m, c, t]: tap-major rows matching the im2row layout, packed for the GEMM.
  kernels::F32PackedWeights pack_im2row(const Tensor& w) const {
    return pack_im2row(w.data<float>(), w.dim(0), w.dim(1), w.dim(2) * w.dim(3));
  }
  // The same for W [M, Cg, kk] at src (one group's filters).
  kernels::F32PackedWeights pack_im2row(const float* src, int64_t M, int64_t Cg, int64_t kk) const {
    std::vector<float> wt(size_t(kk * Cg * M));
    for (int64_t m = 0; m < M; ++m)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t t = 0; t < kk; ++t) wt[size_t((m * kk + t) * Cg + c)] = src[(m * Cg + c) * kk + t];
    return nhwc_pack_gemm_weights(kk * Cg, M, wt.data(), rows_hint_);
  }

  // For im2row_nchw: rows (c, ky, kx) are W's own order, so W [M, C*kh*kw] packs as it is.
  kernels::F32PackedWeights pack_im2row_nchw(const Tensor& w) const {
    return nhwc_pack_gemm_weights(w.dim(1) * w.dim(2) * w.dim(3), w.dim(0), w.data<float>(), rows_hint_);
  }

  // The GEMM's rows, N*OH*OW, as shape inference saw the output [N, OH, OW, M] (a symbolic batch
  // counts 1); 0 when unknown. It picks the tile the weights are packed for.
  static int64_t gemm_rows_hint(const OpInit& init) {
    const std::vector<int64_t> d = init.output_dims(0);
    if (d.size() != 4 || d[1] <= 0 || d[2] <= 0) return 0;
    return std::max<int64_t>(1, d[0]) * d[1] * d[2];
  }

  static bool all_ones(const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [](int64_t x) { return x == 1; });
  }

  // Winograd state for a 3x3 group-1 layer: the transformed weights are made by the first call
  // that takes the path (layers whose shapes never pay cost no memory).
  struct Wino {
    // "2" / "4" / "6": every qualifying call, whatever its size; "2" in F(2,3), the others in the
    // budget's form (F(4,3) stored or compact, or F(2,3)).
    bool forced = false;
    int tile = 4;          // F(4,3) or F(2,3)
    bool compact = false;  // the plan holds W's taps, not the transformed U (over the budget)
    std::mutex mu;         // guards w, have_plan, have_im2row
    Tensor w;              // the constant W [M, C, 3, 3] until a form of it is made
    bool have_plan = false, have_im2row = false;
    std::once_flag plan_once, im2row_once;
    kernels::F32WinogradNhwcPlan plan;
  };

  // W: kept, or rebuilt from the form already made (exactly, but from a stored plan: a few ulp).
  Tensor wino_source() const {
    std::lock_guard<std::mutex> lk(wino_->mu);
    if (wino_->w.defined()) return wino_->w;
    Tensor r = Tensor::empty(DataType::Float, wshape_, /*zero=*/false);
    float* w = r.data<float>();
    if (wino_->have_plan) {
      kernels::f32_winograd_nhwc_weights(wino_->plan, w);
    } else {  // the im2row packing: B(t * C + c, m) = W[m, c, t]
      const kernels::F32PackedB& b = packed_.b;
      const int64_t M = wshape_[0], C = wshape_[1];
      for (int64_t m = 0; m < M; ++m)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t t = 0; t < 9; ++t)
            w[(m * C + c) * 9 + t] = kernels::f32_packed_b_at(b, t * C + c, m);
    }
    return r;
  }

  nn::ConvAttrs attrs_;
  nn::FusedClamp clamp_;
  nn::FusedActivation act_;  // fi.activation carried over from the Conv
  bool nchw_input_;          // fi.nchw_input: X is NCHW (im2row path only); Y is NHWC as always
  int64_t rows_hint_;        // gemm_rows_hint
  bool depthwise_;           // group == C == M: the depthwise kernels
  int64_t out_channels_;     // fi.out_channels: Y's channels when it is a Concat's buffer (0: M)
  int64_t out_offset_;       // fi.out_offset: the first of them this conv writes
  Shape wshape_;
  mutable kernels::F32PackedWeights packed_;  // group 1 (made on first im2row call when wino_ is set)
  std::vector<kernels::F32PackedWeights> groups_;  // other groups: each group's packed Wt
  std::vector<float> dw_weights_;     // depthwise: [kh*kw, C]
  std::vector<float> stem_w_;         // fi.nchw_input: [C*kh*kw, M rounded up to 16] for the stem kernel
  std::unique_ptr<Wino> wino_;        // null: no Winograd
};

}  // namespace

void register_nhwc_conv(OpRegistry& r) { r.add(kNhwcDomain, "NhwcConv", 1, make_kernel<NhwcConvKernel>); }

}  // namespace fi
