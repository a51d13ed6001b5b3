// Gemm: Y[M,N] = alpha * A' B' + beta * C, A' = transA ? A^T : A, B' = transB ? B^T : B, with C
// unidirectionally broadcast to [M, N] (scalar, [N], [M,1], [1,N], [M,N]); C optional from opset 11.
#include "core/dispatch_type.h"
#include "ops/nn/gemm_util.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

// float32 runs the fast GEMM with alpha, beta*C fused in the epilogue; a constant B is packed once.
class GemmKernel : public OpKernel {
 public:
  explicit GemmKernel(const OpInit& init) : clamp_(init.attrs()) {
    const Attributes& at = init.attrs();
    alpha_ = at.get_float("alpha", 1.f);
    beta_ = at.get_float("beta", 1.f);
    trans_a_ = at.get_int("transA", 0) != 0;
    trans_b_ = at.get_int("transB", 0) != 0;
    if (init.opset() < 7 && at.get_int("broadcast", 0) == 0 && init.has_input(2)) legacy_no_broadcast_ = true;
    const Tensor* b = init.constant_input(1);
    if (b && b->dtype() == DataType::Float && b->rank() == 2 && b->numel() > 0) {
      int64_t k = trans_b_ ? b->dim(1) : b->dim(0), n = trans_b_ ? b->dim(0) : b->dim(1);
      // A transposed B that only this node reads, in a buffer the core owns (an initializer the
      // import copied, or a folded constant such as the light VGG-19's 411 MB fully connected
      // weight), is packed in its own memory, so session creation does not hold it twice.
      Tensor own = trans_b_ ? init.consumable_constant_input(1) : Tensor();
      if (own.defined() && kernels::f32_pack_weights_t_in_place(k, n, own.data<float>(), packed_))
        packed_.owner = own.owner();
      else
        packed_ = kernels::f32_pack_weights(k, n, b->data<float>(), trans_b_ ? 1 : n, trans_b_ ? k : 1);
      has_packed_ = true;
    }
  }

  // A packed constant B is all compute reads (its k and n are B's own): the graph may drop its copy.
  bool reads_constant_input(int i) const override { return i != 1 || !has_packed_; }

  // The GEMM microkernel for these shapes (float32), "ref_gemm" for other types.
  std::string describe(const std::vector<StaticInput>& in) const override {
    if (in.size() < 2 || in[0].dtype != DataType::Float) return in.empty() || in[0].dtype == DataType::Undefined ? "" : "ref_gemm";
    if (has_packed_) return str(packed_.kernel->name, " packed B");
    if (!in[0].known() || !in[1].known() || in[0].dims.size() != 2 || in[1].dims.size() != 2) return "f32_gemm";
    int64_t M = in[0].dims[trans_a_ ? 1 : 0], K = in[0].dims[trans_a_ ? 0 : 1], N = in[1].dims[trans_b_ ? 0 : 1];
    return kernels::select_f32_gemm(M, N, K).name;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& A = ctx.in(0);
    const Tensor& B = ctx.in(1);
    const Tensor* C = ctx.input(2);
    FI_CHECK(A.rank() == 2 && B.rank() == 2, InvalidArgument, "Gemm: A and B must be 2-D, got ", A.shape().str(),
             " and ", B.shape().str());
    FI_CHECK(A.dtype() == B.dtype() && (!C || C->dtype() == A.dtype()), InvalidArgument,
             "Gemm: inputs must share one element type");
    int64_t M = trans_a_ ? A.dim(1) : A.dim(0), K = trans_a_ ? A.dim(0) : A.dim(1);
    int64_t Kb = trans_b_ ? B.dim(1) : B.dim(0), N = trans_b_ ? B.dim(0) : B.dim(1);
    FI_CHECK(K == Kb, InvalidArgument, "Gemm: inner dimensions differ: A' is [", M, ",", K, "], B' is [", Kb, ",",
             N, "]");
    Shape out{M, N};
    Shape cs;
    if (C) {
      FI_CHECK(C->rank() <= 2, InvalidArgument, "Gemm: C must have rank <= 2, got ", C->shape().str());
      FI_CHECK(!legacy_no_broadcast_ || C->shape() == out, InvalidArgument, "Gemm: C must be [M, N] without broadcast");
      FI_CHECK(broadcast_shapes(C->shape(), out) == out, InvalidArgument, "Gemm: C of shape ", C->shape().str(),
               " does not broadcast to ", out.str());
      cs = broadcast_strides(C->shape(), out);
    }
    Tensor& Y = ctx.output(0, A.dtype(), out);
    if (Y.numel() == 0) return;
    if (A.dtype() == DataType::Float) {
      kernels::Epilogue ep;
      ep.alpha = alpha_;
      ep.clamp_min = clamp_.lo;
      ep.clamp_max = clamp_.hi;
      if (C && beta_ != 0.f) {
        ep.residual = C->data<float>();
        ep.res_row_stride = cs[0];
        ep.res_col_stride = cs[1];
        ep.beta = beta_;
      }
      const float* pa = A.data<float>();
      const bool packed_b = has_packed_ && packed_.b.k == K && packed_.b.n == N;
      const kernels::F32GemmKernel& kern = packed_b ? *packed_.kernel : kernels::select_f32_gemm(M, N, K);
      kernels::F32PackedB pb = packed_.b;
      float* ws = nullptr;
      if (!packed_b) {
        ws = ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_pack_b_size(K, N, kern.nr)) +
                                   (trans_a_ ? kernels::f32_pack_a_size(M, K, kern.mr) : 0));
        pb = kernels::f32_pack_b(K, N, B.data<float>(), trans_b_ ? 1 : N, trans_b_ ? K : 1, kern.nr, ws, ctx.pool());
      }
      if (trans_a_) {  // A^T is packed straight into the microkernels' A panels
        float* pa_buf = ws ? ws + kernels::f32_pack_b_size(K, N, kern.nr)
                           : ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_pack_a_size(M, K, kern.mr)));
        kernels::F32PackedA ap = kernels::f32_pack_a(M, K, pa, 1, M, kern.mr, pa_buf, ctx.pool());
        kernels::f32_gemm(kern, M, N, K, ap, pb, Y.data<float>(), N, ep, ctx.pool());
      } else {
        kernels::f32_gemm(kern, M, N, K, pa, K, pb, Y.data<float>(), N, ep, ctx.pool());
      }
      return;
    }
    dispatch_numeric(A.dtype(), "Gemm", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* py = Y.data<T>();
      nn::ref_gemm<T>(M, N, K, A.data<T>(), trans_a_ ? 1 : K, trans_a_ ? M : 1, B.data<T>(), trans_b_ ? 1 : N,
                      trans_b_ ? K : 1, py, N, ctx.pool());
      const T* pc = C ? C->data<T>() : nullptr;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          if (alpha_ == 1.f && (!pc || beta_ == 0.f)) continue;
          double v = double(alpha_) * double(py[i * N + j]);
          if (pc && beta_ != 0.f) v += double(beta_) * double(pc[i * cs[0] + j * cs[1]]);
          py[i * N + j] = T(v);
        }
      clamp_.apply(py, M * N);
    });
  }

 private:
  float alpha_ = 1.f, beta_ = 1.f;
  bool trans_a_ = false, trans_b_ = false, legacy_no_broadcast_ = false;
  kernels::F32PackedWeights packed_;
  bool has_packed_ = false;
  nn::FusedClamp clamp_;
};

}  // namespace

void register_gemm_ops(OpRegistry& r) { r.add("Gemm", 1, make_kernel<GemmKernel>); }

}  // namespace fi
