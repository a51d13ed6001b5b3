// MatMul (numpy matmul semantics): N-d batched with broadcast batch dims, 1-D operands promoted
// (A [K] -> [1, K], B [K] -> [K, 1]) and the promoted dim removed from the result.
#include "core/dispatch_type.h"
#include "ops/nn/gemm_util.h"
#include "ops/op_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

using kernels::F32GemmKernel;

// float32 runs the blocked fast GEMM; a constant 2-D B is packed once here.
class MatMulKernel : public OpKernel {
 public:
  explicit MatMulKernel(const OpInit& init) {
    const Tensor* b = init.constant_input(1);
    if (b && b->dtype() == DataType::Float && b->rank() == 2 && b->numel() > 0) {
      packed_ = kernels::f32_pack_weights(b->dim(0), b->dim(1), b->data<float>(), b->dim(1), 1, rows_hint(init));
      has_packed_ = true;
    }
  }

  // The rows of A x B (the output's dims but the last) when shape inference knows them all, else
  // 64: the packed B's tile depends on it (kernels::select_f32_gemm).
  static int64_t rows_hint(const OpInit& init) {
    const std::vector<int64_t> d = init.output_dims(0);
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < d.size(); ++i) {
      if (d[i] < 0) return 64;
      rows *= d[i];
    }
    return d.empty() ? 64 : rows;
  }

  // A packed constant B is all compute reads (B is then 2-D, so every call takes the packed path):
  // the graph may drop its copy.
  bool reads_constant_input(int i) const override { return i != 1 || !has_packed_; }

  // The GEMM microkernel for these shapes (float32), "ref_gemm" for other types.
  std::string describe(const std::vector<StaticInput>& in) const override {
    if (in.size() < 2 || in[0].dtype != DataType::Float) return in.empty() || in[0].dtype == DataType::Undefined ? "" : "ref_gemm";
    if (has_packed_) return str(packed_.kernel->name, " packed B");
    if (!in[0].known() || !in[1].known() || in[0].dims.empty() || in[1].dims.size() < 2) return "f32_gemm";
    const auto& a = in[0].dims;
    const auto& b = in[1].dims;
    int64_t M = a.size() >= 2 ? a[a.size() - 2] : 1, K = a.back(), N = b.back();
    return kernels::select_f32_gemm(M, N, K).name;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& A = ctx.in(0);
    const Tensor& B = ctx.in(1);
    FI_CHECK(A.dtype() == B.dtype(), InvalidArgument, "MatMul: A is ", dtype_name(A.dtype()), " but B is ",
             dtype_name(B.dtype()));
    FI_CHECK(A.rank() >= 1 && B.rank() >= 1, InvalidArgument, "MatMul: inputs must have rank >= 1");
    Shape as = A.shape(), bs = B.shape();
    if (as.rank() == 1) as.insert(0, 1);
    if (bs.rank() == 1) bs.push_back(1);
    int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
    FI_CHECK(bs[bs.size() - 2] == K, InvalidArgument, "MatMul: inner dimensions differ: A ", A.shape().str(),
             ", B ", B.shape().str());
    Shape ba(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
    Shape batch = broadcast_shapes(ba, bb);
    Shape out = batch;
    if (A.rank() > 1) out.push_back(M);
    if (B.rank() > 1) out.push_back(N);
    Tensor& Y = ctx.output(0, A.dtype(), out);
    if (Y.numel() == 0) return;
    int64_t nb = batch.numel();
    Shape sa = broadcast_strides(ba, batch), sb = broadcast_strides(bb, batch);
    // Matrix offsets (in matrices) of A and B for batch index t.
    auto offsets = [&](int64_t t, int64_t& oa, int64_t& ob) {
      oa = ob = 0;
      for (int d = batch.rank() - 1; d >= 0; --d) {
        int64_t idx = t % batch[size_t(d)];
        t /= batch[size_t(d)];
        oa += idx * sa[size_t(d)];
        ob += idx * sb[size_t(d)];
      }
    };
    bool b_shared = bb.numel() == 1, a_full = ba.numel() == nb;

    if (A.dtype() == DataType::Float) {
      const float* pa = A.data<float>();
      const float* pb = B.data<float>();
      float* py = Y.data<float>();
      kernels::Epilogue ep;
      if (b_shared && a_full) {  // one GEMM over all batch rows
        int64_t rows = nb * M;
        if (has_packed_ && packed_.b.k == K && packed_.b.n == N) {
          kernels::f32_gemm(*packed_.kernel, rows, N, K, pa, K, packed_.b, py, N, ep, ctx.pool());
        } else {
          const F32GemmKernel& kern = kernels::select_f32_gemm(rows, N, K);
          float* ws = ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_pack_b_size(K, N, kern.nr)));
          kernels::f32_gemm_plain(kern, rows, N, K, pa, K, pb, N, 1, py, N, ep, ws, ctx.pool());
        }
        return;
      }
      const F32GemmKernel& kern = kernels::select_f32_gemm(M, N, K);
      size_t ws_size = std::max<size_t>(1, kernels::f32_pack_b_size(K, N, kern.nr));
      int threads = ctx.pool() ? ctx.pool()->num_threads() : 1;
      int64_t chunks = std::min<int64_t>(nb, threads);
      float* ws = ctx.scratch_as<float>(ws_size * size_t(chunks));
      ThreadPool* inner = chunks > 1 ? nullptr : ctx.pool();
      parallel_for(chunks > 1 ? ctx.pool() : nullptr, chunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t ch = c0; ch < c1; ++ch) {
          for (int64_t t = nb * ch / chunks; t < nb * (ch + 1) / chunks; ++t) {
            int64_t oa, ob;
            offsets(t, oa, ob);
            kernels::f32_gemm_plain(kern, M, N, K, pa + oa * M * K, K, pb + ob * K * N, N, 1, py + t * M * N, N, ep,
                                    ws + size_t(ch) * ws_size, inner);
          }
        }
      });
      return;
    }
    dispatch_numeric(A.dtype(), "MatMul", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* pa = A.data<T>();
      const T* pb = B.data<T>();
      T* py = Y.data<T>();
      for (int64_t t = 0; t < nb; ++t) {
        int64_t oa, ob;
        offsets(t, oa, ob);
        nn::ref_gemm<T>(M, N, K, pa + oa * M * K, K, 1, pb + ob * K * N, N, 1, py + t * M * N, N, ctx.pool());
      }
    });
  }

 private:
  kernels::F32PackedWeights packed_;
  bool has_packed_ = false;
};

}  // namespace

void register_matmul_ops(OpRegistry& r) { r.add("MatMul", 1, make_kernel<MatMulKernel>); }

}  // namespace fi
