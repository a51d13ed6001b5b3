// ai.fastinfer MatMulBias(A[..., K], B[K, N][, bias[N]]), attribute activation: Y[..., N] =
// act(A x B + bias), one GEMM over all leading dimensions of A flattened into M rows. A constant B
// is packed once here; the bias is added in the GEMM epilogue (per column), Relu there as a
// clamp, and the other activations (kernels::Activation, by name) on the output rows after it.
// fuse_matmul_bias emits it for MatMul -> Add(bias) [-> activation].
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/vmath.h"
#include "ops/contrib/register.h"

namespace fi {
namespace {

using kernels::Activation;

class MatMulBiasKernel : public OpKernel {
 public:
  explicit MatMulBiasKernel(const OpInit& init) {
    std::string act = init.attrs().get_string("activation", "None");
    if (act == "None") act_ = Activation::None;
    else if (act == "Relu") relu_ = true;
    else if (act == "Sigmoid") act_ = Activation::Sigmoid;
    else if (act == "Tanh") act_ = Activation::Tanh;
    else if (act == "GeluErf") act_ = Activation::GeluErf;
    else if (act == "GeluTanh") act_ = Activation::GeluTanh;
    else throw InvalidModel(str("MatMulBias: unknown activation '", act, "'"));
    const Tensor* b = init.constant_input(1);
    if (b && b->dtype() == DataType::Float && b->rank() == 2 && b->numel() > 0) {
      packed_ = kernels::f32_pack_weights(b->dim(0), b->dim(1), b->data<float>(), b->dim(1), 1);
      has_packed_ = true;
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& A = ctx.in(0);
    const Tensor& B = ctx.in(1);
    const Tensor* bias = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    FI_CHECK(A.dtype() == DataType::Float && B.dtype() == DataType::Float, InvalidArgument,
             "MatMulBias: A and B must be float32, got ", dtype_name(A.dtype()), " and ", dtype_name(B.dtype()));
    FI_CHECK(A.rank() >= 1 && B.rank() == 2, InvalidArgument, "MatMulBias: A must have rank >= 1 and B rank 2, got ",
             A.shape().str(), " and ", B.shape().str());
    int64_t K = B.dim(0), N = B.dim(1);
    FI_CHECK(A.shape().back() == K, InvalidArgument, "MatMulBias: inner dimensions differ: A ", A.shape().str(),
             ", B ", B.shape().str());
    if (bias) {
      FI_CHECK(bias->dtype() == DataType::Float && bias->rank() == 1 && bias->dim(0) == N, InvalidArgument,
               "MatMulBias: bias must be float32 [", N, "], got ", bias->shape().str());
    }
    Shape out(A.shape().begin(), A.shape().end() - 1);
    out.push_back(N);
    Tensor& Y = ctx.output(0, DataType::Float, out);
    int64_t M = K > 0 ? A.numel() / K : out.numel() / std::max<int64_t>(1, N);
    if (Y.numel() == 0) return;
    float* py = Y.data<float>();
    kernels::Epilogue ep;
    ep.bias = bias ? bias->data<float>() : nullptr;
    if (relu_) ep.clamp_min = 0.f;
    ep.act = act_;  // applied to each tile while it is in cache
    if (K == 0) {  // empty sum: act(bias)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) py[i * N + j] = std::max(ep.bias ? ep.bias[j] : 0.f, ep.clamp_min);
      kernels::f32_activation(act_, py, py, M * N);
    } else if (has_packed_ && packed_.b.k == K && packed_.b.n == N) {
      kernels::f32_gemm(*packed_.kernel, M, N, K, A.data<float>(), K, packed_.b, py, N, ep, ctx.pool());
    } else {
      const kernels::F32GemmKernel& kern = kernels::select_f32_gemm(M, N, K);
      float* ws = ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_pack_b_size(K, N, kern.nr)));
      kernels::f32_gemm_plain(kern, M, N, K, A.data<float>(), K, B.data<float>(), N, 1, py, N, ep, ws, ctx.pool());
    }
  }

  bool reads_constant_input(int i) const override { return i != 1 || !has_packed_; }

 private:
  Activation act_ = Activation::None;
  bool relu_ = false;
  kernels::F32PackedWeights packed_;
  bool has_packed_ = false;
};

}  // namespace

void register_contrib_matmul_ops(OpRegistry& r) {
  r.add(contrib::kFiDomain, "MatMulBias", 1, make_kernel<MatMulBiasKernel>);
}

}  // namespace fi
