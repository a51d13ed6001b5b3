// com.microsoft MultiHeadAttention (float32) on the fused attention kernel (kernels/attention.h).
//   query [B, S, N*D]; key [B, L, N*D] or [B, N, L, D]; value [B, L, N*Dv] or [B, N, L, Dv];
//   bias [N*D + N*D + N*Dv] (optional, added to the Q/K/V projections, 3-D key/value only);
//   key_padding_mask int32 [B, L] (0 = masked) or [B] (key lengths): masked keys get
//   mask_filter_value added to their scores; attention_bias broadcastable to [B, N, S, L];
//   unidirectional: causal mask (query i sees keys j <= i; S >= L only). Output [B, S, N*Dv]. Packed QKV/KV forms and past/present
//   key-value caches are not supported (NotImplemented).
#include <cmath>
#include <cstring>
#include <memory>

#include "kernels/attention.h"
#include "ops/kernel.h"
#include "ops/registry.h"

namespace fi {

namespace {

class MultiHeadAttention final : public OpKernel {
 public:
  explicit MultiHeadAttention(const OpInit& init) {
    num_heads_ = init.attrs().get_int("num_heads", 0);
    FI_CHECK(num_heads_ > 0, InvalidModel, "num_heads must be positive, got ", num_heads_);
    scale_ = init.attrs().get_float("scale", 0.f);
    mask_filter_value_ = init.attrs().get_float("mask_filter_value", -10000.f);
    causal_ = init.attrs().get_int("unidirectional", 0) != 0;
    FI_CHECK(init.has_input(1) && init.has_input(2), NotImplemented,
             "MultiHeadAttention: packed QKV / KV inputs are not supported (key and value are required)");
    for (int i = 6; i < init.num_inputs(); ++i)
      FI_CHECK(!init.has_input(i), NotImplemented, "MultiHeadAttention: past key/value inputs are not supported");
    for (int i = 1; i < init.num_outputs(); ++i)
      FI_CHECK(!init.has_output(i), NotImplemented, "MultiHeadAttention: only output 0 is supported");
  }

  void compute(KernelContext& ctx) const override { kernels::f32_attention(setup(ctx), ctx.pool()); }

  // At 2+ threads the (batch, head, query block) tasks go to the executor's chained job (between
  // the Q/K/V and output projections). Not with a bias or key padding mask, which are read to
  // set the attention up.
  bool defer(KernelContext& ctx, DeferredWork& work) const override {
    if (!ctx.pool() || ctx.pool()->num_threads() < 2 || ctx.input(3) || ctx.input(4)) return false;
    auto job = std::make_shared<kernels::F32AttentionTasks>(kernels::select_f32_attention(), setup(ctx),
                                                            ctx.pool()->num_threads());
    if (job->tasks() < 2) return false;  // compute runs it (one task keeps the other threads waiting)
    work.phases = 1;
    work.n[0] = job->tasks();
    work.grain[0] = job->grain();
    work.fn = [job](int, int, int64_t t0, int64_t t1) { job->run(t0, t1); };
    return true;
  }

 private:
  // Checks the inputs, takes the output and describes the attention; a bias or key padding mask
  // is read here (into scratch).
  kernels::AttentionParams setup(KernelContext& ctx) const {
    const Tensor& q = ctx.in(0);
    const Tensor& k = ctx.in(1);
    const Tensor& v = ctx.in(2);
    const Tensor* bias = ctx.input(3);
    const Tensor* kpm = ctx.input(4);
    const Tensor* ab = ctx.input(5);
    for (const Tensor* t : {&q, &k, &v})
      FI_CHECK(t->dtype() == DataType::Float, NotImplemented, "MultiHeadAttention: only float32 is supported");
    FI_CHECK(q.rank() == 3, InvalidArgument, "query must be 3-D [B, S, hidden], got rank ", q.rank());
    const int64_t B = q.dim(0), S = q.dim(1), hidden = q.dim(2), N = num_heads_;
    FI_CHECK(hidden % N == 0, InvalidArgument, "query hidden size ", hidden, " is not a multiple of num_heads ", N);
    const int64_t D = hidden / N;
    FI_CHECK(k.rank() == v.rank() && (k.rank() == 3 || k.rank() == 4), InvalidArgument,
             "key and value must both be 3-D or both 4-D, got ranks ", k.rank(), " and ", v.rank());
    const bool bnsh = k.rank() == 4;
    int64_t L, Dv;
    if (bnsh) {
      FI_CHECK(k.dim(0) == B && k.dim(1) == N && k.dim(3) == D, InvalidArgument, "key must be [B, N, L, D] = [", B,
               ", ", N, ", L, ", D, "]");
      L = k.dim(2);
      FI_CHECK(v.dim(0) == B && v.dim(1) == N && v.dim(2) == L, InvalidArgument, "value must be [B, N, L, Dv]");
      Dv = v.dim(3);
    } else {
      FI_CHECK(k.dim(0) == B && k.dim(2) == hidden, InvalidArgument, "key must be [B, L, ", hidden, "]");
      L = k.dim(1);
      FI_CHECK(v.dim(0) == B && v.dim(1) == L && v.dim(2) % N == 0, InvalidArgument,
               "value must be [B, L, N*Dv] with L = ", L);
      Dv = v.dim(2) / N;
    }
    const int64_t vh = N * Dv;
    // ONNX Runtime masks every row but the last one upper-left here: no consistent meaning to copy.
    FI_CHECK(!causal_ || S >= L, NotImplemented,
             "MultiHeadAttention: unidirectional with fewer queries than keys (", S, " < ", L, ") is not supported");

    kernels::AttentionParams p;
    p.batch = B;
    p.heads = N;
    p.q_len = S;
    p.kv_len = L;
    p.head_dim = D;
    p.v_head_dim = Dv;
    p.scale = scale_ != 0.f ? scale_ : (D > 0 ? 1.f / std::sqrt(float(D)) : 1.f);
    p.causal = causal_;
    p.q = q.data<float>();
    p.k = k.data<float>();
    p.v = v.data<float>();
    p.q_st = {S * hidden, D, hidden};
    if (bnsh) {
      p.k_st = {N * L * D, L * D, D};
      p.v_st = {N * L * Dv, L * Dv, Dv};
    } else {
      p.k_st = {L * hidden, D, hidden};
      p.v_st = {L * vh, Dv, vh};
    }

    if (bias) {
      FI_CHECK(bias->dtype() == DataType::Float, InvalidArgument, "bias must be float32");
      FI_CHECK(bias->rank() == 1 && bias->dim(0) == 2 * hidden + vh, InvalidArgument, "bias must have shape [",
               2 * hidden + vh, "], got rank ", bias->rank());
      FI_CHECK(!bnsh, NotImplemented, "MultiHeadAttention: bias with 4-D key/value is not supported");
      const float* bv = bias->data<float>();
      p.q = add_bias(ctx, q.data<float>(), B * S, hidden, bv);
      p.k = add_bias(ctx, k.data<float>(), B * L, hidden, bv + hidden);
      p.v = add_bias(ctx, v.data<float>(), B * L, vh, bv + 2 * hidden);
    }

    if (kpm) {
      FI_CHECK(kpm->dtype() == DataType::Int32, InvalidArgument, "key_padding_mask must be int32");
      float* kb = ctx.scratch_as<float>(size_t(std::max<int64_t>(1, B * L)));
      const int32_t* m = kpm->data<int32_t>();
      if (kpm->rank() == 2 && kpm->dim(0) == B && kpm->dim(1) == L) {
        for (int64_t i = 0; i < B * L; ++i) kb[i] = m[i] > 0 ? 0.f : mask_filter_value_;
      } else if (kpm->rank() == 1 && kpm->dim(0) == B) {
        for (int64_t b = 0; b < B; ++b)
          for (int64_t j = 0; j < L; ++j) kb[b * L + j] = j < int64_t(m[b]) ? 0.f : mask_filter_value_;
      } else {
        FI_CHECK(false, NotImplemented, "MultiHeadAttention: key_padding_mask must be [B, L] or [B]");
      }
      p.key_bias = kb;
      p.key_bias_b = L;
    }

    if (ab) {
      FI_CHECK(ab->dtype() == DataType::Float, InvalidArgument, "attention_bias must be float32");
      FI_CHECK(ab->rank() >= 1 && ab->rank() <= 4, InvalidArgument, "attention_bias must have rank 1..4");
      const int64_t full[4] = {B, N, S, L};
      int64_t st[4] = {0, 0, 0, 0}, stride = 1;
      for (int d = 3, a = ab->rank() - 1; a >= 0; --d, --a) {
        const int64_t n = ab->dim(a);
        FI_CHECK(n == full[d] || n == 1, InvalidArgument, "attention_bias shape does not broadcast to [B, N, S, L] = [",
                 B, ", ", N, ", ", S, ", ", L, "]");
        st[d] = n == 1 ? 0 : stride;
        stride *= n;
      }
      p.bias = ab->data<float>();
      p.bias_st = {st[0], st[1], st[2]};
      p.bias_col = st[3];
    }

    Tensor& out = ctx.output(0, DataType::Float, Shape{B, S, vh});
    p.out = out.data<float>();
    p.out_st = {S * vh, Dv, vh};
    return p;
  }

  static const float* add_bias(KernelContext& ctx, const float* x, int64_t rows, int64_t cols, const float* b) {
    float* y = ctx.scratch_as<float>(size_t(std::max<int64_t>(1, rows * cols)));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = x[r * cols + c] + b[c];
    return y;
  }

  int64_t num_heads_ = 0;
  float scale_ = 0.f, mask_filter_value_ = -10000.f;
  bool causal_ = false;
};

}  // namespace

void register_multi_head_attention(OpRegistry& r) {
  r.add("com.microsoft", "MultiHeadAttention", 1, make_kernel<MultiHeadAttention>);
}

}  // namespace fi
