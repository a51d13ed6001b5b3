// Conv (1-D/2-D/3-D..., groups incl. depthwise, strides, dilations, pads, auto_pad, optional
// bias) as im2col + GEMM per image and group: Y_g[M/g, S_out] = W_g[M/g, Ck] x col[Ck, S_out],
// NCHW layout. float32 2-D depthwise convs (group == C, M a multiple of C) run the dwconv kernels
// directly on the NCHW planes (W [M, 1, kh, kw] is already their layout); other float32 convs write
// im2col as packed B panels and run the fast GEMM with the bias fused per row (a constant W is
// packed into A panels once, at session creation); other types use the reference GEMM.
// Constant-weight 3x3 stride-1 float32 convs may take the Winograd path instead
// (ops/nn/conv_winograd.h).
#include "core/dispatch_type.h"
#include "kernels/dwconv.h"
#include "ops/nn/conv_util.h"
#include "ops/nn/fused_activation.h"
#include "ops/nn/conv_winograd.h"
#include "ops/nn/gemm_util.h"
#include "ops/nn/im2col.h"
#include "ops/registry.h"

namespace fi {

namespace {

class ConvKernel : public OpKernel {
 public:
  explicit ConvKernel(const OpInit& init) : attrs_(init), clamp_(init.attrs()), act_(init.attrs()) {
    FI_CHECK(attrs_.output_padding.empty() && attrs_.output_shape.empty(), InvalidModel,
             "Conv: output_padding/output_shape belong to ConvTranspose");
    pack_constant_weights(init.constant_input(1));
    winograd_ = nn::ConvWinograd::make(init, attrs_);
  }

  // W packed into A panels (float32, not depthwise) is all compute reads: Mg and ck come from W's
  // own shape, so the packed path is always taken. A Winograd layer keeps W for its lazy transform.
  bool reads_constant_input(int i) const override { return i != 1 || packed_w_.empty() || winograd_; }

  // The path these shapes take: a dwconv microkernel, or im2col + a GEMM microkernel (float32).
  std::string describe(const std::vector<StaticInput>& in) const override {
    if (in.size() < 2 || in[0].dtype == DataType::Undefined) return "";
    if (in[0].dtype != DataType::Float) return "im2col + ref_gemm";
    if (!in[0].known() || !in[1].known() || in[0].dims.size() < 3) return "f32 conv";
    nn::ConvGeom g = nn::conv_geometry(attrs_, Shape(in[0].dims), Shape(in[1].dims), "Conv");
    const int64_t C = in[0].dims[1], M = in[1].dims[0], G = attrs_.group;
    if (G <= 0 || C % G != 0 || M % G != 0) return "";
    const int64_t Cg = C / G, Mg = M / G;
    if (g.nd == 2 && Cg == 1) {
      const kernels::DwConvGeom dg = nn::dw_conv_geometry(g);
      return kernels::select_f32_dwconv(dg).name;
    }
    return str("im2col + ", kernels::select_f32_gemm(Mg, g.out_size(), Cg * g.kernel_size()).name);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& X = ctx.in(0);
    const Tensor& W = ctx.in(1);
    const Tensor* B = ctx.input(2);
    const Tensor* R = ctx.input(3);  // a residual added by the graph pass fuse_residual_add_into_conv
    FI_CHECK(X.dtype() == W.dtype() && (!B || B->dtype() == X.dtype()), InvalidArgument,
             "Conv: inputs must share one element type");
    nn::ConvGeom g = nn::conv_geometry(attrs_, X.shape(), W.shape(), "Conv");
    const int64_t N = X.dim(0), C = X.dim(1), M = W.dim(0), G = attrs_.group;
    FI_CHECK(C % G == 0 && M % G == 0 && W.dim(1) * G == C, InvalidArgument, "Conv: X has ", C,
             " channels, W is ", W.shape().str(), " with group ", G);
    FI_CHECK(!B || (B->rank() == 1 && B->dim(0) == M), InvalidArgument, "Conv: B must be [", M, "], got ",
             B->shape().str());
    Shape ys{N, M};
    for (int64_t o : g.out) ys.push_back(o);
    FI_CHECK(!R || (R->dtype() == X.dtype() && R->shape() == ys), InvalidArgument,
             "Conv: fused residual of shape ", R ? R->shape().str() : "", " does not match the output ", ys.str());
    Tensor& Y = ctx.output(0, X.dtype(), ys);
    if (Y.numel() == 0) return;
    if (winograd_ && winograd_->run(ctx, g, X, B, R, clamp_, Y)) {
      act_.apply(Y.data<float>(), Y.numel(), ctx.pool());
      return;
    }
    const int64_t Cg = C / G, Mg = M / G, ck = Cg * g.kernel_size(), s_in = g.in_size(), s_out = g.out_size();

    if (X.dtype() == DataType::Float && g.nd == 2 && Cg == 1) {
      const kernels::DwConvGeom dg = nn::dw_conv_geometry(g);
      // The clamp comes after a residual, which this kernel does not add: then it runs separately.
      float lo = R ? -INFINITY : clamp_.lo, hi = R ? INFINITY : clamp_.hi;
      kernels::f32_dwconv(kernels::select_f32_dwconv(dg), dg, N, C, Mg, X.data<float>(), W.data<float>(),
                          B ? B->data<float>() : nullptr, lo, hi, Y.data<float>(), ctx.pool());
      if (R) add_residual_then_clamp(Y.data<float>(), R->data<float>(), Y.numel());
      act_.apply(Y.data<float>(), Y.numel(), ctx.pool());
      return;
    }
    if (X.dtype() == DataType::Float) {
      const bool use_packed = !packed_w_.empty() && packed_w_[0].a.m == Mg && packed_w_[0].a.k == ck &&
                              int64_t(packed_w_.size()) == G;
      const kernels::F32GemmKernel& kern =
          use_packed ? *packed_w_[0].kernel : kernels::select_f32_gemm(Mg, s_out, ck);
      const size_t col_size = std::max<size_t>(1, kernels::f32_pack_b_size(ck, s_out, kern.nr));
      // Many small (image, group) problems (depthwise, grouped, batched small images) run one per
      // thread with its own column buffer; otherwise each is split over the pool.
      const int64_t jobs = N * G;
      const int threads = ctx.pool() ? ctx.pool()->num_threads() : 1;
      const bool per_job = threads > 1 && jobs >= 2 * threads && double(Mg) * double(s_out) * double(ck) < 4e6;
      const int64_t chunks = per_job ? std::min<int64_t>(jobs, threads) : 1;
      float* cols = ctx.scratch_as<float>(col_size * size_t(chunks));
      ThreadPool* inner = per_job ? nullptr : ctx.pool();
      parallel_for(per_job ? ctx.pool() : nullptr, chunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t ch = c0; ch < c1; ++ch) {
          float* col = cols + size_t(ch) * col_size;
          for (int64_t job = jobs * ch / chunks; job < jobs * (ch + 1) / chunks; ++job) {
            int64_t n = job / G, gi = job % G;
            nn::im2col_panels<float>(X.data<float>() + (n * C + gi * Cg) * s_in, Cg, g, kern.nr, col, inner);
            kernels::F32PackedB pb{kern.nr, ck, s_out, col};
            kernels::Epilogue ep;
            ep.clamp_min = clamp_.lo;
            ep.clamp_max = clamp_.hi;
            ep.act = act_.act;
            if (B) {
              ep.bias = B->data<float>() + gi * Mg;
              ep.bias_per_row = true;
            }
            if (R) {
              ep.residual = R->data<float>() + (n * M + gi * Mg) * s_out;
              ep.res_row_stride = s_out;
              ep.res_col_stride = 1;
            }
            float* y = Y.data<float>() + (n * M + gi * Mg) * s_out;
            if (use_packed) {
              kernels::f32_gemm(kern, Mg, s_out, ck, packed_w_[size_t(gi)].a, pb, y, s_out, ep, inner);
            } else {
              kernels::f32_gemm(kern, Mg, s_out, ck, W.data<float>() + gi * Mg * ck, ck, pb, y, s_out, ep, inner);
            }
          }
        }
      });
      return;
    }
    dispatch_float(X.dtype(), "Conv", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* col = ctx.scratch_as<T>(size_t(std::max<int64_t>(1, ck * s_out)));
      for (int64_t n = 0; n < N; ++n)
        for (int64_t gi = 0; gi < G; ++gi) {
          nn::im2col_panels<T>(X.data<T>() + (n * C + gi * Cg) * s_in, Cg, g, 1, col, ctx.pool());
          T* y = Y.data<T>() + (n * M + gi * Mg) * s_out;
          nn::ref_gemm<T>(Mg, s_out, ck, W.data<T>() + gi * Mg * ck, ck, 1, col, 1, ck, y, s_out, ctx.pool());
          if (B)
            for (int64_t m = 0; m < Mg; ++m) {
              double b = double(B->data<T>()[gi * Mg + m]);
              for (int64_t o = 0; o < s_out; ++o) y[m * s_out + o] = T(double(y[m * s_out + o]) + b);
            }
          if (R) add_residual_then_clamp(y, R->data<T>() + (n * M + gi * Mg) * s_out, Mg * s_out);
          else clamp_.apply(y, Mg * s_out);
        }
    });
  }

 private:
  // A constant float32 W (not depthwise) is packed once per group into GEMM A panels.
  void pack_constant_weights(const Tensor* w) {
    if (!w || w->dtype() != DataType::Float || w->rank() < 3 || w->numel() == 0) return;
    const int64_t M = w->dim(0), G = attrs_.group;
    if (G < 1 || M % G != 0 || w->dim(1) == 1) return;
    const int64_t Mg = M / G, ck = w->numel() / M;
    for (int64_t gi = 0; gi < G; ++gi)
      packed_w_.push_back(kernels::f32_pack_weights_a(Mg, ck, w->data<float>() + gi * Mg * ck, ck));
  }

  template <class T>
  void add_residual_then_clamp(T* y, const T* r, int64_t n) const {
    for (int64_t i = 0; i < n; ++i) y[i] = T(double(y[i]) + double(r[i]));
    clamp_.apply(y, n);
  }

  nn::ConvAttrs attrs_;
  nn::FusedClamp clamp_;  // a Relu/Clip fused by the graph pass fuse_clamp_activation
  nn::FusedActivation act_;  // a Sigmoid/Tanh/HardSwish/SiLU fused by fuse_activation_into_conv
  std::vector<kernels::F32PackedWeightsA> packed_w_;  // per group, when W is a constant
  std::unique_ptr<nn::ConvWinograd> winograd_;  // null unless the layer qualifies for Winograd
};

}  // namespace

void register_conv_ops(OpRegistry& r) { r.add("Conv", 1, make_kernel<ConvKernel>); }

}  // namespace fi
