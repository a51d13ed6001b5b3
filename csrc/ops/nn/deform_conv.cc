// DeformConv (opset 19, 2-D): like Conv, but each kernel tap of each output position samples X
// at its regular position plus a learned offset (bilinear, zeros outside), times an optional mask.
// Per image and group: col[(C/g)*kH*kW, oH*oW] is built by sampling, then Y_g = W_g x col (+ bias).
// Layouts: offset [N, offset_group*kH*kW*2, oH, oW] as (dy, dx) pairs; mask [N, offset_group*kH*kW, oH, oW].
#include <cmath>

#include "core/dispatch_type.h"
#include "ops/nn/conv_util.h"
#include "ops/nn/gemm_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

class DeformConvKernel : public OpKernel {
 public:
  explicit DeformConvKernel(const OpInit& init) : attrs_(init) {
    offset_group_ = init.attrs().get_int("offset_group", 1);
    FI_CHECK(offset_group_ >= 1, InvalidModel, "DeformConv: offset_group must be >= 1");
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& X = ctx.in(0);
    const Tensor& W = ctx.in(1);
    const Tensor& off = ctx.in(2);
    const Tensor* B = ctx.input(3);
    const Tensor* mask = ctx.input(4);
    DataType dt = X.dtype();
    FI_CHECK(W.dtype() == dt && off.dtype() == dt && (!B || B->dtype() == dt) && (!mask || mask->dtype() == dt),
             InvalidArgument, "DeformConv: inputs must share one element type");
    FI_CHECK(X.rank() == 4, NotImplemented, "DeformConv: only 2-D inputs are supported, got ", X.shape().str());
    nn::ConvGeom g = nn::conv_geometry(attrs_, X.shape(), W.shape(), "DeformConv");
    const int64_t N = X.dim(0), C = X.dim(1), M = W.dim(0), G = attrs_.group, OG = offset_group_;
    FI_CHECK(C % G == 0 && M % G == 0 && W.dim(1) * G == C, InvalidArgument, "DeformConv: X has ", C,
             " channels, W is ", W.shape().str(), " with group ", G);
    FI_CHECK(C % OG == 0, InvalidArgument, "DeformConv: channels ", C, " not divisible by offset_group ", OG);
    const int64_t K = g.kernel_size(), oh = g.out[0], ow = g.out[1], s_out = oh * ow;
    FI_CHECK(off.shape() == (Shape{N, OG * K * 2, oh, ow}), InvalidArgument, "DeformConv: offset must be ",
             Shape{N, OG * K * 2, oh, ow}.str(), ", got ", off.shape().str());
    FI_CHECK(!mask || mask->shape() == (Shape{N, OG * K, oh, ow}), InvalidArgument, "DeformConv: mask must be ",
             Shape{N, OG * K, oh, ow}.str());
    FI_CHECK(!B || (B->rank() == 1 && B->dim(0) == M), InvalidArgument, "DeformConv: B must be [", M, "]");
    Tensor& Y = ctx.output(0, dt, Shape{N, M, oh, ow});
    if (Y.numel() == 0) return;
    const int64_t Cg = C / G, Mg = M / G, ck = Cg * K, ih = g.in[0], iw = g.in[1], c_per_og = C / OG;

    dispatch_float(dt, "DeformConv", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = std::conditional_t<std::is_same<T, double>::value, double, float>;
      T* col = ctx.scratch_as<T>(size_t(std::max<int64_t>(1, ck * s_out)));
      float* ws = nullptr;
      const kernels::F32GemmKernel* kern = nullptr;
      if constexpr (std::is_same<T, float>::value) {
        kern = &kernels::select_f32_gemm(Mg, s_out, ck);
        ws = ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_pack_b_size(ck, s_out, kern->nr)));
      }
      for (int64_t n = 0; n < N; ++n)
        for (int64_t gi = 0; gi < G; ++gi) {
          parallel_for(ctx.pool(), Cg, 1, [&](int64_t c0, int64_t c1) {
            for (int64_t cl = c0; cl < c1; ++cl) {
              int64_t c = gi * Cg + cl, og = c / c_per_og;
              const T* xc = X.data<T>() + (n * C + c) * ih * iw;
              for (int64_t k = 0; k < K; ++k) {
                int64_t ki = k / g.k[1], kj = k % g.k[1];
                const T* dy = off.data<T>() + ((n * OG + og) * K * 2 + 2 * k) * s_out;
                const T* dx = dy + s_out;
                const T* mk = mask ? mask->data<T>() + ((n * OG + og) * K + k) * s_out : nullptr;
                T* dst = col + (cl * K + k) * s_out;
                for (int64_t o = 0; o < s_out; ++o) {
                  int64_t i = o / ow, j = o % ow;
                  A y = A(i * g.s[0] - g.pad[0] + ki * g.d[0]) + A(dy[o]);
                  A x = A(j * g.s[1] - g.pad[1] + kj * g.d[1]) + A(dx[o]);
                  dst[o] = T(sample<T, A>(xc, ih, iw, y, x) * (mk ? A(mk[o]) : A(1)));
                }
              }
            }
          });
          T* y = Y.data<T>() + (n * M + gi * Mg) * s_out;
          const T* w = W.data<T>() + gi * Mg * ck;
          if constexpr (std::is_same<T, float>::value) {
            kernels::Epilogue ep;
            if (B) {
              ep.bias = B->data<float>() + gi * Mg;
              ep.bias_per_row = true;
            }
            kernels::f32_gemm_plain(*kern, Mg, s_out, ck, w, ck, col, s_out, 1, y, s_out, ep, ws, ctx.pool());
          } else {
            nn::ref_gemm<T>(Mg, s_out, ck, w, ck, 1, col, s_out, 1, y, s_out, ctx.pool());
            if (B)
              for (int64_t m = 0; m < Mg; ++m)
                for (int64_t o = 0; o < s_out; ++o)
                  y[m * s_out + o] = T(A(y[m * s_out + o]) + A(B->data<T>()[gi * Mg + m]));
          }
        }
    });
  }

 private:
  // Bilinear sample of an ih x iw plane at (y, x); corners outside the plane read as 0.
  template <class T, class A>
  static A sample(const T* x, int64_t ih, int64_t iw, A y, A xf) {
    if (!(y > A(-1) && y < A(ih) && xf > A(-1) && xf < A(iw))) return A(0);
    A fy = std::floor(y), fx = std::floor(xf);
    int64_t y0 = int64_t(fy), x0 = int64_t(fx);
    A ly = y - fy, lx = xf - fx;
    auto at = [&](int64_t r, int64_t c) { return (r >= 0 && r < ih && c >= 0 && c < iw) ? A(x[r * iw + c]) : A(0); };
    return (A(1) - ly) * ((A(1) - lx) * at(y0, x0) + lx * at(y0, x0 + 1)) +
           ly * ((A(1) - lx) * at(y0 + 1, x0) + lx * at(y0 + 1, x0 + 1));
  }

  nn::ConvAttrs attrs_;
  int64_t offset_group_ = 1;
};

}  // namespace

void register_deform_conv_ops(OpRegistry& r) { r.add("DeformConv", 19, make_kernel<DeformConvKernel>); }

}  // namespace fi
