// com.microsoft Attention (float32): the packed-QKV self-attention of ONNX Runtime's BERT models.
//   input [B, S, C] x weights [C, Hq + Hk + Hv] + bias [Hq + Hk + Hv] -> Q | K | V in one
//   [B, S, Hq + Hk + Hv] buffer (one GEMM, bias in its epilogue; constant weights packed once),
//   then the fused attention kernel reads Q, K and V from it through strides, no copies.
//   Hq = Hk = Hv = hidden unless qkv_hidden_sizes says otherwise; num_heads heads each.
//   mask_index int32: [B] key lengths, [B, S] (0 = masked key) or [B, S, S]; masked scores get
//   mask_filter_value added. attention_bias broadcastable to [B, N, S, S]. unidirectional: causal.
//   Output [B, S, Hv]. past/present, rotary embeddings and the other mask forms: NotImplemented.
#include <cmath>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "ops/kernel.h"
#include "ops/registry.h"

namespace fi {

namespace {

class PackedAttention final : public OpKernel {
 public:
  explicit PackedAttention(const OpInit& init) {
    const Attributes& a = init.attrs();
    num_heads_ = a.get_int("num_heads", 0);
    FI_CHECK(num_heads_ > 0, InvalidModel, "num_heads must be positive, got ", num_heads_);
    scale_ = a.get_float("scale", 0.f);
    mask_filter_value_ = a.get_float("mask_filter_value", -10000.f);
    causal_ = a.get_int("unidirectional", 0) != 0;
    sizes_ = a.get_ints("qkv_hidden_sizes", {});
    FI_CHECK(sizes_.empty() || sizes_.size() == 3, InvalidModel, "qkv_hidden_sizes must have 3 values");
    for (int64_t s : sizes_)
      FI_CHECK(s > 0 && s % num_heads_ == 0, InvalidModel, "qkv_hidden_sizes must be positive multiples of num_heads");
    if (!sizes_.empty())
      FI_CHECK(sizes_[0] == sizes_[1], InvalidModel, "qkv_hidden_sizes: Q and K sizes must be equal");
    FI_CHECK(a.get_int("do_rotary", 0) == 0, NotImplemented, "Attention: do_rotary is not supported");
    FI_CHECK(!init.has_input(4) && !init.has_input(6), NotImplemented, "Attention: past state is not supported");
    FI_CHECK(!init.has_output(1), NotImplemented, "Attention: the present output is not supported");
    const Tensor* w = init.constant_input(1);
    if (w && w->dtype() == DataType::Float && w->rank() == 2)
      packed_ = kernels::f32_pack_weights(w->dim(0), w->dim(1), w->data<float>(), w->dim(1), 1);
  }

  // A packed constant W is all compute reads (W's rows are checked to equal C, its width is
  // total): the graph may drop its copy.
  bool reads_constant_input(int i) const override { return i != 1 || !packed_.kernel; }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& w = ctx.in(1);
    const Tensor* bias = ctx.input(2);
    const Tensor* mask = ctx.input(3);
    const Tensor* ab = ctx.input(5);
    FI_CHECK(x.dtype() == DataType::Float && w.dtype() == DataType::Float, NotImplemented,
             "Attention: only float32 is supported");
    FI_CHECK(x.rank() == 3, InvalidArgument, "input must be 3-D [B, S, C], got rank ", x.rank());
    FI_CHECK(w.rank() == 2 && w.dim(0) == x.dim(2), InvalidArgument, "weights must be [", x.dim(2), ", 3 * hidden]");
    const int64_t B = x.dim(0), S = x.dim(1), C = x.dim(2), N = num_heads_, total = w.dim(1);
    int64_t hq, hv;
    if (sizes_.empty()) {
      FI_CHECK(total % (3 * N) == 0, InvalidArgument, "weights width ", total, " is not 3 * num_heads * head_size");
      hq = hv = total / 3;
    } else {
      FI_CHECK(sizes_[0] + sizes_[1] + sizes_[2] == total, InvalidArgument, "weights width ", total,
               " does not match qkv_hidden_sizes");
      hq = sizes_[0];
      hv = sizes_[2];
    }
    const int64_t D = hq / N, Dv = hv / N;
    if (bias) {
      FI_CHECK(bias->dtype() == DataType::Float && bias->rank() == 1 && bias->dim(0) == total, InvalidArgument,
               "bias must be float32 [", total, "]");
    }

    // QKV = x W + bias
    float* qkv = ctx.scratch_as<float>(size_t(std::max<int64_t>(1, B * S * total)));
    kernels::Epilogue ep;
    ep.bias = bias ? bias->data<float>() : nullptr;
    const bool packed = packed_.kernel && packed_.b.k == C && packed_.b.n == total;
    if (packed) {
      kernels::f32_gemm(*packed_.kernel, B * S, total, C, x.data<float>(), C, packed_.b, qkv, total, ep, ctx.pool());
    } else {
      const kernels::F32GemmKernel& gk = kernels::select_f32_gemm(B * S, total, C);
      float* ws = ctx.scratch_as<float>(std::max<size_t>(1, kernels::f32_pack_b_size(C, total, gk.nr)));
      kernels::f32_gemm_plain(gk, B * S, total, C, x.data<float>(), C, w.data<float>(), total, 1, qkv, total, ep, ws,
                              ctx.pool());
    }

    kernels::AttentionParams p;
    p.batch = B;
    p.heads = N;
    p.q_len = p.kv_len = S;
    p.head_dim = D;
    p.v_head_dim = Dv;
    p.scale = scale_ != 0.f ? scale_ : 1.f / std::sqrt(float(D));
    p.causal = causal_;
    p.q = qkv;
    p.k = qkv + hq;
    p.v = qkv + 2 * hq;
    p.q_st = p.k_st = p.v_st = {S * total, 0, total};
    p.q_st.h = p.k_st.h = D;
    p.v_st.h = Dv;

    if (mask) {
      FI_CHECK(mask->dtype() == DataType::Int32, InvalidArgument, "mask_index must be int32");
      const int32_t* m = mask->data<int32_t>();
      if (mask->rank() == 1 && mask->dim(0) == B) {
        float* kb = ctx.scratch_as<float>(size_t(std::max<int64_t>(1, B * S)));
        for (int64_t b = 0; b < B; ++b)
          for (int64_t j = 0; j < S; ++j) kb[b * S + j] = j < int64_t(m[b]) ? 0.f : mask_filter_value_;
        p.key_bias = kb;
        p.key_bias_b = S;
      } else if (mask->rank() == 2 && mask->dim(0) == B && mask->dim(1) == S) {
        float* kb = ctx.scratch_as<float>(size_t(std::max<int64_t>(1, B * S)));
        for (int64_t i = 0; i < B * S; ++i) kb[i] = m[i] > 0 ? 0.f : mask_filter_value_;
        p.key_bias = kb;
        p.key_bias_b = S;
      } else {
        FI_CHECK(mask->rank() == 3 && mask->dim(0) == B && mask->dim(1) == S && mask->dim(2) == S, NotImplemented,
                 "Attention: mask_index must be [B], [B, S] or [B, S, S]");
        FI_CHECK(!ab, NotImplemented, "Attention: a 3-D mask_index together with attention_bias is not supported");
        float* mb = ctx.scratch_as<float>(size_t(std::max<int64_t>(1, B * S * S)));
        for (int64_t i = 0; i < B * S * S; ++i) mb[i] = m[i] > 0 ? 0.f : mask_filter_value_;
        p.bias = mb;
        p.bias_st = {S * S, 0, S};
        p.bias_col = 1;
      }
    }
    if (ab) {
      FI_CHECK(ab->dtype() == DataType::Float, InvalidArgument, "attention_bias must be float32");
      FI_CHECK(ab->rank() == 4, InvalidArgument, "attention_bias must be 4-D");
      const int64_t full[4] = {B, N, S, S};
      int64_t st[4] = {0, 0, 0, 0}, stride = 1;
      for (int d = 3; d >= 0; --d) {
        FI_CHECK(ab->dim(d) == full[d] || ab->dim(d) == 1, InvalidArgument,
                 "attention_bias does not broadcast to [B, N, S, S]");
        st[d] = ab->dim(d) == 1 ? 0 : stride;
        stride *= ab->dim(d);
      }
      p.bias = ab->data<float>();
      p.bias_st = {st[0], st[1], st[2]};
      p.bias_col = st[3];
    }

    Tensor& out = ctx.output(0, DataType::Float, Shape{B, S, hv});
    p.out = out.data<float>();
    p.out_st = {S * hv, Dv, hv};
    kernels::f32_attention(p, ctx.pool());
  }

 private:
  int64_t num_heads_ = 0;
  float scale_ = 0.f, mask_filter_value_ = -10000.f;
  bool causal_ = false;
  std::vector<int64_t> sizes_;
  kernels::F32PackedWeights packed_;
};

}  // namespace

void register_packed_attention(OpRegistry& r) { r.add("com.microsoft", "Attention", 1, make_kernel<PackedAttention>); }

}  // namespace fi
