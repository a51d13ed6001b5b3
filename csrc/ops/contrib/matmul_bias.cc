// ai.fastinfer MatMulBias(A[..., K], B[K, N][, bias[N]]), attribute activation: Y[..., N] =
// act(A x B + bias), one GEMM over all leading dimensions of A flattened into M rows. A constant B
// is packed once here; the bias is added in the GEMM epilogue (per column), Relu there as a
// clamp, and the other activations (kernels::Activation, by name) on the output rows after it.
// fuse_matmul_bias emits it for MatMul -> Add(bias) [-> activation].
#include <algorithm>

#include "core/thread_pool.h"
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
    const Call c = check(ctx);
    Tensor& Y = ctx.output(0, DataType::Float, c.out);
    if (Y.numel() == 0) return;
    float* py = Y.data<float>();
    const kernels::Epilogue ep = epilogue(c);
    if (c.K == 0) {  // empty sum: act(bias)
      for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j) py[i * c.N + j] = std::max(ep.bias ? ep.bias[j] : 0.f, ep.clamp_min);
      kernels::f32_activation(act_, py, py, c.M * c.N);
    } else if (packed_for(c)) {
      kernels::f32_gemm(*packed_.kernel, c.M, c.N, c.K, c.a, c.K, packed_.b, py, c.N, ep, ctx.pool());
    } else {
      const kernels::F32GemmKernel& kern = kernels::select_f32_gemm(c.M, c.N, c.K);
      float* ws = ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_pack_b_size(c.K, c.N, kern.nr)));
      kernels::f32_gemm_plain(kern, c.M, c.N, c.K, c.a, c.K, ctx.in(1).data<float>(), c.N, 1, py, c.N, ep, ws,
                              ctx.pool());
    }
  }

  // With B packed, at 2+ threads, the GEMM's tasks go to the executor's chained job (a
  // transformer layer's Q, K and V projections, its feed-forward pair).
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    ThreadPool* pool = ctx.pool();
    if (!pool || pool->num_threads() < 2) return false;
    const Call c = check(ctx);
    if (c.K == 0 || !packed_for(c) || 2.0 * double(c.M) * double(c.N) * double(c.K) < kParallelMinFlops) return false;
    Tensor& Y = ctx.output(0, DataType::Float, c.out);
    if (Y.numel() == 0) return true;
    auto gemm = std::make_shared<kernels::F32GemmTasks>(*packed_.kernel, c.M, c.N, c.K, c.a, c.K, packed_.b,
                                                        Y.data<float>(), c.N, epilogue(c), pool->num_threads());
    work.phases = 1;
    work.n[0] = gemm->count();
    work.grain[0] = 1;
    work.fn = [gemm](int, int, int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) gemm->run(t);
    };
    return true;
  }

  bool reads_constant_input(int i) const override { return i != 1 || !has_packed_; }

 private:
  // A call's checked inputs: Y[M, N] (shape out) = A[M, K] x B[K, N].
  struct Call {
    int64_t M = 0, N = 0, K = 0;
    Shape out;
    const float* a = nullptr;
    const float* bias = nullptr;
  };

  Call check(KernelContext& ctx) const {
    const Tensor& A = ctx.in(0);
    const Tensor& B = ctx.in(1);
    const Tensor* bias = ctx.num_inputs() > 2 ? ctx.input(2) : nullptr;
    FI_CHECK(A.dtype() == DataType::Float && B.dtype() == DataType::Float, InvalidArgument,
             "MatMulBias: A and B must be float32, got ", dtype_name(A.dtype()), " and ", dtype_name(B.dtype()));
    FI_CHECK(A.rank() >= 1 && B.rank() == 2, InvalidArgument, "MatMulBias: A must have rank >= 1 and B rank 2, got ",
             A.shape().str(), " and ", B.shape().str());
    Call c;
    c.K = B.dim(0), c.N = B.dim(1);
    FI_CHECK(A.shape().back() == c.K, InvalidArgument, "MatMulBias: inner dimensions differ: A ", A.shape().str(),
             ", B ", B.shape().str());
    if (bias) {
      FI_CHECK(bias->dtype() == DataType::Float && bias->rank() == 1 && bias->dim(0) == c.N, InvalidArgument,
               "MatMulBias: bias must be float32 [", c.N, "], got ", bias->shape().str());
    }
    c.out = Shape(A.shape().begin(), A.shape().end() - 1);
    c.out.push_back(c.N);
    c.M = c.K > 0 ? A.numel() / c.K : c.out.numel() / std::max<int64_t>(1, c.N);
    c.a = A.data<float>();
    c.bias = bias ? bias->data<float>() : nullptr;
    return c;
  }

  bool packed_for(const Call& c) const { return has_packed_ && packed_.b.k == c.K && packed_.b.n == c.N; }

  kernels::Epilogue epilogue(const Call& c) const {
    kernels::Epilogue ep;
    ep.bias = c.bias;
    if (relu_) ep.clamp_min = 0.f;
    ep.act = act_;  // applied to each tile while it is in cache
    return ep;
  }

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
