// ai.fastinfer NhwcDwBlock: a MobileNet-style inverted residual block in channels-last layout,
// made by the graph pass fuse_dw_block from a chain of NhwcConvs:
//   E = act_e(clamp_e(X x We + Be))            pointwise expansion  (optional: E = X)
//   D = act_d(clamp_d(depthwise(E; Wd) + Bd))  depthwise kh x kw, any stride, pads, dilation
//   Y = act_p(clamp_p(D x Wp + Bp + R))        pointwise projection (optional: Y = D)
// Inputs X [N, H, W, C], We [Ce, C, 1, 1], Be [Ce], Wd [Ce, 1, kh, kw], Bd [Ce], Wp [M, Ce, 1, 1],
// Bp [M], R [N, OH, OW, M]; absent ones are "". Weights and biases are constants, packed at
// creation. Attributes: the depthwise conv's, and per stage fi.expand.* / fi.dw.* / fi.project.*
// clamp_min, clamp_max, activation.
//
// Streamed (the point of the op): a task is a run of output rows of one image. A few output rows
// at a time, it expands the input rows they read into a window of rows (rows the step before
// already expanded stay; only new ones are computed), runs the depthwise rows from the window
// into a small buffer and projects that buffer into Y. E and D stay in L2 and never go to DRAM:
// in the early MobileNetV2 blocks each is 6x the size of the block's input. Rows read by two
// tasks (the halo) are expanded by both, so where splitting images into tasks would recompute
// many rows (small images on several threads) the op runs staged: the three stages over whole
// tensors, each split over the pool its own way. conv.dw_block / FASTINFER_DW_BLOCK = stream or
// staged forces one; auto (default) picks.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_buffer.h"
#include "core/thread_pool.h"
#include "kernels/dwconv_nhwc.h"
#include "kernels/gemm.h"
#include "ops/nhwc/nhwc_ops.h"
#include "ops/nhwc/nhwc_weights.h"
#include "ops/nn/conv_util.h"
#include "ops/nn/fused_activation.h"
#include "ops/nn/gemm_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

enum In { kX = 0, kWe, kBe, kWd, kBd, kWp, kBp, kR, kInputs };

// The window of expanded rows plus the depthwise rows of one step stay under this many bytes
// (half of Zen 4's 1 MiB L2: X's and Y's rows stream through the rest).
constexpr int64_t kStepBytes = 384 * 1024;
// Auto mode streams unless the halo rows the task split adds exceed this share of the rows. 0.3
// lets a 7x7 block split in two stream (2 of 7 rows expanded twice) rather than run staged:
// MobileNetV2's last 7x7 blocks at batch 1 on 2 threads 0.84-0.89x the time with the workers
// lingering within runs (session.intra_op.allow_spinning = 1), 1.01-1.04x without (Zen 4).
constexpr double kMaxHaloShare = 0.3;

// One pointwise stage: packed W [K -> M], its bias, clamp and activation.
struct Pointwise {
  bool present = false;
  int64_t k = 0, m = 0;
  kernels::F32PackedWeights w;
  std::vector<float> bias;  // empty: none
  nn::FusedClamp clamp;
  nn::FusedActivation act;

  Pointwise(const OpInit& init, int wi, int bi, const char* prefix, int64_t rows_hint = 0)
      : clamp(init.attrs(), prefix), act(init.attrs(), prefix) {
    if (!init.has_input(wi)) return;
    const Tensor* w = init.constant_input(wi);
    FI_CHECK(w && w->dtype() == DataType::Float && w->rank() == 4 && w->dim(2) == 1 && w->dim(3) == 1, InvalidModel,
             "NhwcDwBlock: input ", wi, " must be a constant float32 [M, K, 1, 1] pointwise weight");
    present = true;
    m = w->dim(0);
    k = w->dim(1);
    this->w = nhwc_pack_gemm_weights(k, m, w->data<float>(), rows_hint);
    bias = constant_bias(init, bi, m);
  }

  kernels::Epilogue epilogue(const float* residual, int64_t res_stride) const {
    kernels::Epilogue ep;
    ep.bias = bias.empty() ? nullptr : bias.data();
    ep.clamp_min = clamp.lo;
    ep.clamp_max = clamp.hi;
    ep.act = act.act;
    ep.residual = residual;
    ep.res_row_stride = res_stride;
    return ep;
  }

  // Y[rows, m] = epilogue(A[rows, k] x W) with A at stride k.
  void run(int64_t rows, const float* a, float* y, const float* residual, ThreadPool* pool) const {
    kernels::f32_gemm(*w.kernel, rows, m, k, a, k, w.b, y, m, epilogue(residual, m), pool);
  }

  static std::vector<float> constant_bias(const OpInit& init, int bi, int64_t n) {
    if (!init.has_input(bi)) return {};
    const Tensor* b = init.constant_input(bi);
    FI_CHECK(b && b->dtype() == DataType::Float && b->rank() == 1 && b->dim(0) == n, InvalidModel,
             "NhwcDwBlock: input ", bi, " must be a constant float32 [", n, "] bias");
    return std::vector<float>(b->data<float>(), b->data<float>() + n);
  }
};

// The expansion GEMM's rows per call when they are many, for its tile choice (nhwc_weights.h): the
// block's input pixels from 28x28 up (a streamed step then expands 280+ rows; MobileNetV2's blocks
// 2-6 take 0.95-0.97x the time with the 6x64 tile, one A/B per node), else 0 (smaller maps expand
// a few rows at a time).
int64_t expansion_rows_hint(const OpInit& init) {
  const std::vector<int64_t> d = init.output_dims(0);
  if (d.size() != 4 || d[1] <= 0 || d[2] <= 0) return 0;
  const std::vector<int64_t> st = init.attrs().get_ints("strides");
  const int64_t px = d[1] * d[2] * (st.size() == 2 ? st[0] * st[1] : 1);
  return px >= 784 ? px : 0;
}

std::string dw_block_mode(const OpInit& init) {
  const char* env = std::getenv("FASTINFER_DW_BLOCK");
  std::string mode = init.config("conv.dw_block", env && *env ? env : "auto");
  FI_CHECK(mode == "auto" || mode == "stream" || mode == "staged", InvalidArgument,
           "conv.dw_block / FASTINFER_DW_BLOCK must be auto, stream or staged, got '", mode, "'");
  return mode;
}

class NhwcDwBlockKernel : public OpKernel {
 public:
  explicit NhwcDwBlockKernel(const OpInit& init)
      : attrs_(init),
        mode_(dw_block_mode(init)),
        expand_(init, kWe, kBe, "fi.expand.", expansion_rows_hint(init)),
        project_(init, kWp, kBp, "fi.project."),
        dw_clamp_(init.attrs(), "fi.dw."),
        dw_act_(init.attrs(), "fi.dw.") {
    FI_CHECK(init.num_inputs() <= kInputs, InvalidModel, "NhwcDwBlock: at most ", int(kInputs), " inputs");
    const Tensor* wd = init.constant_input(kWd);
    FI_CHECK(wd && wd->dtype() == DataType::Float && wd->rank() == 4 && wd->dim(1) == 1, InvalidModel,
             "NhwcDwBlock: Wd must be a constant float32 [C, 1, kh, kw] depthwise weight");
    wd_shape_ = wd->shape();
    ce_ = wd->dim(0);
    FI_CHECK(attrs_.group == ce_, InvalidModel, "NhwcDwBlock: group ", attrs_.group, " is not the depthwise ",
             ce_, " channels");
    FI_CHECK(!expand_.present || expand_.m == ce_, InvalidModel, "NhwcDwBlock: the expansion makes ", expand_.m,
             " channels, the depthwise conv takes ", ce_);
    FI_CHECK(!project_.present || project_.k == ce_, InvalidModel, "NhwcDwBlock: the projection reads ",
             project_.k, " channels, the depthwise conv makes ", ce_);
    FI_CHECK(project_.present || !init.has_input(kR), InvalidModel, "NhwcDwBlock: a residual needs the projection");
    dw_w_.resize(size_t(ce_ * wd->dim(2) * wd->dim(3)));
    kernels::f32_dwconv_nhwc_pack_weights(ce_, wd->dim(2), wd->dim(3), wd->data<float>(), dw_w_.data());
    dw_bias_ = Pointwise::constant_bias(init, kBd, ce_);
  }

  std::string describe(const std::vector<StaticInput>& in) const override {
    (void)in;
    std::string s = mode_ == "staged" ? "staged " : "rows streamed through L2: ";
    if (expand_.present) s += std::string(expand_.w.kernel->name) + " expansion, ";
    s += kernels::select_f32_dwconv_nhwc().name;
    if (project_.present) s += std::string(", ") + project_.w.kernel->name + " projection";
    return s;
  }

  // Only the activations (X, R) are read at run time; the weights were packed.
  bool reads_constant_input(int i) const override { return i == kX || i == kR; }

  void compute(KernelContext& ctx) const override {
    const Call c = check(ctx);
    if (c.empty) {
      ctx.output(0, DataType::Float, c.ys);
      return;
    }
    DeferredWork work;
    plan(ctx, c, ctx.pool(), work);
    run_deferred(work, ctx, work.phases == 1 || c.staged_flops >= kParallelMinFlops ? ctx.pool() : nullptr);
  }

  // At 2+ threads a block that splits into tasks runs as part of the executor's chained job: a
  // worker then stays for the next blocks, where each block's own job would wake it again.
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    ThreadPool* pool = ctx.pool();
    if (!pool || pool->num_threads() < 2) return false;
    const Call c = check(ctx);
    if (c.empty) return false;
    if (c.stream ? c.r.n * c.r.splits < 2 : c.staged_flops < kParallelMinFlops) return false;
    plan(ctx, c, pool, work);
    return true;
  }

 private:
  struct Run {
    kernels::DwConvGeom dg;
    int64_t n = 0, splits = 1;
    const float *x = nullptr, *res = nullptr;
    float* y = nullptr;
  };

  // A call's inputs, checked, its geometry and its mode.
  struct Call {
    Run r;
    Shape ys;
    bool empty = false, stream = true;
    double staged_flops = 0;  // the whole block's flops (the staged mode's parallel threshold)
  };

  Call check(KernelContext& ctx) const {
    const Tensor& X = ctx.in(kX);
    const Tensor* R = ctx.input(kR);
    const int64_t cin = expand_.present ? expand_.k : ce_;
    FI_CHECK(X.dtype() == DataType::Float && X.rank() == 4 && X.dim(3) == cin, InvalidArgument,
             "NhwcDwBlock: X must be float32 NHWC with ", cin, " channels, got ", dtype_name(X.dtype()), " ",
             X.shape().str());
    const int64_t N = X.dim(0), H = X.dim(1), W = X.dim(2);
    const nn::ConvGeom cg = nn::conv_geometry(attrs_, Shape{N, ce_, H, W}, wd_shape_, "NhwcDwBlock");
    const int64_t OH = cg.out[0], OW = cg.out[1], M = project_.present ? project_.m : ce_;
    Call c;
    c.ys = Shape{N, OH, OW, M};
    FI_CHECK(!R || (R->dtype() == DataType::Float && R->shape() == c.ys), InvalidArgument,
             "NhwcDwBlock: residual of shape ", R ? R->shape().str() : "", " does not match the output ",
             c.ys.str());
    c.empty = c.ys.numel() == 0;
    Run& r = c.r;
    r.dg = nn::dw_conv_geometry(cg);
    r.n = N;
    r.x = X.data<float>();
    r.res = R ? R->data<float>() : nullptr;
    const int threads = ctx.pool() ? ctx.pool()->num_threads() : 1;
    // Tasks per image: one when the images alone keep the threads busy, else one per thread. Two
    // per thread would balance better but double the halo rows, which then push the 14x14 and
    // 28x28 blocks of MobileNetV2 at batch 1 on 2 threads past kMaxHaloShare into the staged
    // mode, whose phase barriers cost more than the halo (those blocks 0.86-0.94x the time, the
    // model 0.99x; with session.intra_op.allow_spinning = 1, 0.85-0.91x and 0.97x; Zen 4).
    r.splits = N >= threads ? 1 : std::min<int64_t>(OH, (threads + N - 1) / N);
    const int64_t halo = (r.dg.kh - 1) * r.dg.dil_h + 1 - r.dg.stride_h;
    c.stream = mode_ == "stream" ||
               (mode_ == "auto" && double((r.splits - 1) * std::max<int64_t>(0, halo)) <= kMaxHaloShare * H);
    const kernels::DwConvGeom& g = r.dg;
    const int64_t in_px = N * g.in_h * g.in_w, out_px = N * g.out_h * g.out_w;
    c.staged_flops = 2.0 * double(out_px * ce_ * g.kh * g.kw);
    if (expand_.present) c.staged_flops += 2.0 * double(in_px) * double(expand_.k * ce_);
    if (project_.present) c.staged_flops += 2.0 * double(out_px) * double(ce_ * project_.m);
    return c;
  }

  // Takes the output (and the staged mode's scratch) and fills `work` with the block's phases.
  void plan(KernelContext& ctx, const Call& c, ThreadPool* pool, DeferredWork& work) const {
    Run r = c.r;
    r.y = ctx.output(0, DataType::Float, c.ys).data<float>();
    if (c.stream) plan_streamed(r, work);
    else plan_staged(ctx, r, c.staged_flops >= kParallelMinFlops && pool ? pool->num_threads() : 1, work);
  }

  void depthwise_rows(const kernels::DwConvGeom& g, int64_t oy0, int64_t oy1, const float* x, float* y) const {
    const kernels::F32DwConvNhwcKernel& k = kernels::select_f32_dwconv_nhwc();
    const float* bias = dw_bias_.empty() ? nullptr : dw_bias_.data();
    if (oy0 < oy1) k.fn(g, ce_, oy0, oy1, x, dw_w_.data(), bias, dw_clamp_.lo, dw_clamp_.hi, y);
  }

  // The three stages as the phases of one job: a worker woken for the expansion stays for the
  // depthwise rows and the projection (a wake-up costs 25-40 us here; MobileNetV2's 14x14 and
  // 7x7 blocks at batch 1 take 0.1-0.2 ms on 2 threads).
  void plan_staged(KernelContext& ctx, const Run& r, int threads, DeferredWork& work) const {
    const kernels::DwConvGeom& g = r.dg;
    const int64_t in_px = r.n * g.in_h * g.in_w, out_px = r.n * g.out_h * g.out_w;
    float* e = expand_.present ? ctx.scratch_as<float>(size_t(in_px * ce_ + (project_.present ? out_px * ce_ : 0)))
                               : ctx.scratch_as<float>(size_t(project_.present ? out_px * ce_ : 1));
    float* d = project_.present ? (expand_.present ? e + in_px * ce_ : e) : r.y;
    const float* ein = expand_.present ? e : r.x;
    std::shared_ptr<kernels::F32GemmTasks> ex, pr;
    if (expand_.present)
      ex = std::make_shared<kernels::F32GemmTasks>(*expand_.w.kernel, in_px, ce_, expand_.k, r.x, expand_.k,
                                                   expand_.w.b, e, ce_, expand_.epilogue(nullptr, ce_), threads);
    if (project_.present)
      pr = std::make_shared<kernels::F32GemmTasks>(*project_.w.kernel, out_px, project_.m, ce_, d, ce_, project_.w.b,
                                                   r.y, project_.m, project_.epilogue(r.res, project_.m), threads);
    const int64_t dw_rows = r.n * g.out_h, in_img = g.in_h * g.in_w * ce_, out_img = g.out_h * g.out_w * ce_;
    work.phases = 3;
    work.n[0] = ex ? ex->count() : 0;
    work.n[1] = dw_rows;
    work.n[2] = pr ? pr->count() : 0;
    work.grain[0] = work.grain[2] = 1;
    work.grain[1] = std::max<int64_t>(1, dw_rows / (4 * threads));
    work.fn = [this, g, ex, pr, d, ein, in_img, out_img](int phase, int, int64_t b, int64_t end) {
      for (int64_t t = b; t < end; ++t) {
        if (phase == 0) {
          ex->run(t);
        } else if (phase == 2) {
          pr->run(t);
        } else {
          const int64_t img = t / g.out_h, oy = t % g.out_h;
          float* drow = d + img * out_img + oy * g.out_w * ce_;
          depthwise_rows(g, oy, oy + 1, ein + img * in_img, d + img * out_img);
          dw_act_.apply(drow, g.out_w * ce_, nullptr);
        }
      }
    };
  }

  // One task per run of output rows of one image (Run::splits per image), each streamed through
  // its thread's window buffer (stream_buffer).
  void plan_streamed(const Run& r, DeferredWork& work) const {
    const kernels::DwConvGeom& g = r.dg;
    const int64_t kspan = (g.kh - 1) * g.dil_h + 1;  // input rows one output row reads
    const int64_t in_row = g.in_w * ce_, out_row = g.out_w * ce_;
    // Output rows per step: the window (the input rows they read) and their depthwise rows fit
    // kStepBytes.
    const int64_t row_bytes = int64_t(sizeof(float)) * ((expand_.present ? g.stride_h * in_row : 0) +
                                                         (project_.present ? out_row : 0));
    const int64_t fixed = expand_.present ? int64_t(sizeof(float)) * (kspan - g.stride_h) * in_row : 0;
    const int64_t step = std::max<int64_t>(1, std::min(g.out_h, (kStepBytes - fixed) / std::max<int64_t>(1, row_bytes)));
    const int64_t win_rows = expand_.present ? std::min(g.in_h, (step - 1) * g.stride_h + kspan) : 0;
    const int64_t buf_floats = win_rows * in_row + (project_.present ? step * out_row : 0);
    const int64_t rows_per_task = (g.out_h + r.splits - 1) / r.splits;
    work.phases = 1;
    work.n[0] = r.n * r.splits;
    work.grain[0] = 1;
    work.fn = [this, r, step, buf_floats, win_rows, in_row, rows_per_task](int, int, int64_t t0, int64_t t1) {
      float* win = stream_buffer(size_t(buf_floats));
      float* dbuf = win + win_rows * in_row;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / r.splits, oy0 = t % r.splits * rows_per_task;
        const int64_t oy1 = std::min(r.dg.out_h, oy0 + rows_per_task);
        if (oy0 < oy1) stream_rows(r, n, oy0, oy1, step, win, dbuf);
      }
    };
  }

  // The calling thread's window and depthwise rows, kept from block to block: every block's
  // window then starts in this core's L2, and the streamed mode needs no run scratch at all (it
  // had each block of a chained job take fresh memory while the queued nodes' scratch stayed
  // taken: MobileNetV2 at batch 1, 2 threads, 17 blocks, some 13 MB of cold windows).
  struct WindowTag;
  static float* stream_buffer(size_t floats) { return thread_buffer<WindowTag>(floats); }

  // Output rows [oy0, oy1) of image n, `step` at a time, through the window `win` (expanded rows)
  // and `dbuf` (depthwise rows).
  void stream_rows(const Run& r, int64_t n, int64_t oy0, int64_t oy1, int64_t step, float* win, float* dbuf) const {
    const kernels::DwConvGeom& g = r.dg;
    const int64_t kspan = (g.kh - 1) * g.dil_h + 1, in_row = g.in_w * ce_, out_row = g.out_w * ce_;
    const int64_t M = project_.present ? project_.m : ce_;
    const float* x = r.x + n * g.in_h * g.in_w * (expand_.present ? expand_.k : ce_);
    float* y = r.y + n * g.out_h * g.out_w * M;
    int64_t e0 = 0, e1 = 0;  // the window holds expanded rows [e0, e1)
    for (int64_t oy = oy0; oy < oy1; oy += step) {
      const int64_t oe = std::min(oy1, oy + step);
      // The input rows [lo, hi) that output rows [oy, oe) read, inside the image.
      const int64_t lo = std::max<int64_t>(0, oy * g.stride_h - g.pad_top);
      const int64_t hi = std::max(lo, std::min(g.in_h, (oe - 1) * g.stride_h - g.pad_top + kspan));
      const float* rows = x;  // the depthwise input: X itself, or the window
      int64_t first = 0;      // its first row
      if (expand_.present) {
        if (lo < e0 || lo >= e1) {
          e0 = e1 = lo;
        } else if (lo > e0) {  // keep the rows this step shares with the last
          std::memmove(win, win + (lo - e0) * in_row, size_t((e1 - lo) * in_row) * sizeof(float));
          e0 = lo;
        }
        if (hi > e1) {
          expand_.run((hi - e1) * g.in_w, x + e1 * g.in_w * expand_.k, win + (e1 - e0) * in_row, nullptr, nullptr);
          e1 = hi;
        }
        rows = win;
        first = e0;
      }
      // The depthwise geometry seen from the window: row oy - oy0 of dbuf reads window rows
      // shifted by `first`; rows outside the window are outside the image (padding).
      kernels::DwConvGeom wg = g;
      wg.in_h = expand_.present ? e1 - e0 : g.in_h;
      wg.pad_top = g.pad_top + first - oy * g.stride_h;
      float* d = project_.present ? dbuf : y + oy * out_row;
      depthwise_rows(wg, 0, oe - oy, rows, d);
      dw_act_.apply(d, (oe - oy) * out_row, nullptr);
      if (project_.present)
        project_.run((oe - oy) * g.out_w, dbuf, y + oy * g.out_w * M, r.res ? r.res + (n * g.out_h + oy) * g.out_w * M : nullptr,
                     nullptr);
    }
  }

  nn::ConvAttrs attrs_;
  std::string mode_;
  Pointwise expand_, project_;
  nn::FusedClamp dw_clamp_;
  nn::FusedActivation dw_act_;
  Shape wd_shape_;
  int64_t ce_ = 0;               // the expanded (depthwise) channels
  std::vector<float> dw_w_;      // [kh*kw, ce_]
  std::vector<float> dw_bias_;   // [ce_] or empty
};

}  // namespace

void register_nhwc_dw_block(OpRegistry& r) { r.add(kNhwcDomain, "NhwcDwBlock", 1, make_kernel<NhwcDwBlockKernel>); }

}  // namespace fi
