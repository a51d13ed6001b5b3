// ConvTranspose (N-d, groups, strides, dilations, pads, output_padding, output_shape, auto_pad,
// optional bias), NCHW: per image and group, col[(M/g)*prod(k), S_in] = W_g^T x X_g with
// W_g [C/g, (M/g)*prod(k)], then col2im scatters col into Y. float32 runs the fast GEMM on a
// row-major W_g^T (transposed once when W is constant); other types use the reference GEMM.
#include <cstring>

#include "core/dispatch_type.h"
#include "ops/nn/conv_util.h"
#include "ops/nn/gemm_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

// Y[m, out] += col[m*ks + r, s] for every input position s and kernel offset r landing inside Y.
template <class T>
void col2im(const T* col, int64_t channels, const nn::ConvGeom& g, T* y, ThreadPool* pool) {
  using Acc = nn::acc_t<T>;
  // float and double accumulate straight into Y (which holds the bias); 16-bit types in a float row.
  constexpr bool kDirect = std::is_same<Acc, T>::value;
  const int nd = g.nd;
  const int64_t ks = g.kernel_size(), s_in = g.in_size(), s_out = g.out_size();
  parallel_for(pool, channels, 1, [&](int64_t c0, int64_t c1) {
    int64_t ipos[Shape::kMaxRank], kpos[Shape::kMaxRank];
    std::vector<Acc> row;
    if (!kDirect) row.resize(size_t(s_out));
    for (int64_t m = c0; m < c1; ++m) {
      T* ym = y + m * s_out;
      Acc* acc = nullptr;
      if constexpr (kDirect) {
        acc = ym;
      } else {
        for (int64_t o = 0; o < s_out; ++o) row[size_t(o)] = Acc(ym[o]);
        acc = row.data();
      }
      for (int64_t r = 0; r < ks; ++r) {
        int64_t t = r;
        for (int d = nd - 1; d >= 0; --d) {
          kpos[d] = t % g.k[size_t(d)];
          t /= g.k[size_t(d)];
        }
        const T* src = col + (m * ks + r) * s_in;
        for (int d = 0; d < nd; ++d) ipos[d] = 0;
        for (int64_t s = 0; s < s_in; ++s) {
          int64_t idx = 0;
          bool in = true;
          for (int d = 0; d < nd; ++d) {
            int64_t o = ipos[d] * g.s[size_t(d)] - g.pad[size_t(d)] + kpos[d] * g.d[size_t(d)];
            if (o < 0 || o >= g.out[size_t(d)]) {
              in = false;
              break;
            }
            idx = idx * g.out[size_t(d)] + o;
          }
          if (in) acc[idx] += Acc(src[s]);
          for (int d = nd - 1; d >= 0; --d) {
            if (++ipos[d] < g.in[size_t(d)]) break;
            ipos[d] = 0;
          }
        }
      }
      if constexpr (!kDirect)
        for (int64_t o = 0; o < s_out; ++o) ym[o] = T(row[size_t(o)]);
    }
  });
}

class ConvTransposeKernel : public OpKernel {
 public:
  explicit ConvTransposeKernel(const OpInit& init) : attrs_(init) {
    const Tensor* w = init.constant_input(1);
    if (w && w->dtype() == DataType::Float && w->rank() >= 3 && w->dim(0) % attrs_.group == 0) {
      wt_ = transpose_weights(*w, static_cast<float*>(nullptr));
      has_wt_ = true;
    }
  }

  // The float32 path reads only the transposed copy wt_ (made when W is a constant float32, and
  // X must then be float32 too): the graph may drop its copy.
  bool reads_constant_input(int i) const override { return i != 1 || !has_wt_; }

  void compute(KernelContext& ctx) const override {
    const Tensor& X = ctx.in(0);
    const Tensor& W = ctx.in(1);
    const Tensor* B = ctx.input(2);
    FI_CHECK(X.dtype() == W.dtype() && (!B || B->dtype() == X.dtype()), InvalidArgument,
             "ConvTranspose: inputs must share one element type");
    nn::ConvGeom g = nn::conv_transpose_geometry(attrs_, X.shape(), W.shape(), "ConvTranspose");
    const int64_t N = X.dim(0), C = X.dim(1), G = attrs_.group, Mg = W.dim(1), M = Mg * G;
    FI_CHECK(W.dim(0) == C && C % G == 0, InvalidArgument, "ConvTranspose: X has ", C, " channels, W is ",
             W.shape().str(), " with group ", G);
    FI_CHECK(!B || (B->rank() == 1 && B->dim(0) == M), InvalidArgument, "ConvTranspose: B must be [", M, "]");
    Shape ys{N, M};
    for (int64_t o : g.out) ys.push_back(o);
    Tensor& Y = ctx.output(0, X.dtype(), ys);
    if (Y.numel() == 0) return;
    const int64_t Cg = C / G, rows = Mg * g.kernel_size(), s_in = g.in_size(), s_out = g.out_size();

    dispatch_float(X.dtype(), "ConvTranspose", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* py = Y.data<T>();
      for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < M; ++m) {
          T b = B ? B->data<T>()[m] : T(0);
          for (int64_t o = 0; o < s_out; ++o) py[(n * M + m) * s_out + o] = b;
        }
      if (s_in == 0) return;
      if constexpr (std::is_same<T, float>::value) {
        const float* wt = has_wt_ ? static_cast<const float*>(wt_.get()) : nullptr;
        if (!wt) {
          float* t = ctx.scratch_as<float>(size_t(W.numel()));
          transpose_weights(W, t);
          wt = t;
        }
        const kernels::F32GemmKernel& kern = kernels::select_f32_gemm(rows, s_in, Cg);
        float* ws = ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_pack_b_size(Cg, s_in, kern.nr)));
        float* col = ctx.scratch_as<float>(size_t(rows * s_in));
        for (int64_t n = 0; n < N; ++n)
          for (int64_t gi = 0; gi < G; ++gi) {
            kernels::f32_gemm_plain(kern, rows, s_in, Cg, wt + gi * rows * Cg, Cg, X.data<float>() + (n * C + gi * Cg) * s_in,
                                    s_in, 1, col, s_in, kernels::Epilogue(), ws, ctx.pool());
            col2im<float>(col, Mg, g, py + (n * M + gi * Mg) * s_out, ctx.pool());
          }
      } else {
        T* col = ctx.scratch_as<T>(size_t(rows * s_in));
        for (int64_t n = 0; n < N; ++n)
          for (int64_t gi = 0; gi < G; ++gi) {
            nn::ref_gemm<T>(rows, s_in, Cg, W.data<T>() + gi * Cg * rows, 1, rows, X.data<T>() + (n * C + gi * Cg) * s_in,
                            s_in, 1, col, s_in, ctx.pool());
            col2im<T>(col, Mg, g, py + (n * M + gi * Mg) * s_out, ctx.pool());
          }
      }
    });
  }

 private:
  // W [C, Mg*ks] per group g -> Wt [g][Mg*ks][C/g] (row-major W_g^T). Writes into `out`, or into a
  // new owned buffer (returned) when out is null.
  std::shared_ptr<void> transpose_weights(const Tensor& w, float* out) const {
    const int64_t C = w.dim(0), G = attrs_.group, Cg = C / G, rows = w.numel() / std::max<int64_t>(1, C);
    std::shared_ptr<void> owner;
    if (!out) {
      owner = alloc_buffer(std::max<size_t>(1, size_t(w.numel())) * sizeof(float));
      out = static_cast<float*>(owner.get());
    }
    const float* src = w.data<float>();
    for (int64_t gi = 0; gi < G; ++gi)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t r = 0; r < rows; ++r) out[(gi * rows + r) * Cg + c] = src[(gi * Cg + c) * rows + r];
    return owner;
  }

  nn::ConvAttrs attrs_;
  std::shared_ptr<void> wt_;
  bool has_wt_ = false;
};

}  // namespace

void register_conv_transpose_ops(OpRegistry& r) { r.add("ConvTranspose", 1, make_kernel<ConvTransposeKernel>); }

}  // namespace fi
