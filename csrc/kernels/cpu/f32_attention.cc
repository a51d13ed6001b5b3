// The fp32 fused attention driver (see kernels/attention.h): the split over (batch, head, query
// block), K/V block packing, the two matrix products on the GEMM microkernels and the online
// softmax bookkeeping.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/gemm.h"

namespace fi::kernels {

namespace {
constexpr int64_t kQueryBlock = 128;  // query rows per task: its score tile is kQueryBlock x kKeyBlock
constexpr int64_t kKeyBlock = 256;   // keys per block: packed K^T and V blocks stay in L2

constexpr int tier_ref = int(IsaTier::Ref);
constexpr int tier_avx2 = int(IsaTier::Avx2);
constexpr int tier_avx512 = int(IsaTier::Avx512);

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One task's scratch: score tile, packed K^T and V blocks, row state. Per thread, grown once.
struct Scratch {
  std::vector<float> s, pk, pv, m, l, alpha;
  std::vector<int64_t> lim;
};

Scratch& thread_scratch() {
  static thread_local Scratch sc;
  return sc;
}

void grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

// Rows [i0, i1) of head (b, h).
void attention_block(const F32AttentionKernel& sk, const F32GemmKernel& gk, const AttentionParams& p, int64_t b,
                     int64_t h, int64_t i0, int64_t i1, int64_t kb) {
  const int64_t rows = i1 - i0, D = p.head_dim, Dv = p.v_head_dim;
  const int MR = gk.mr, NR = gk.nr;
  const float* q = p.q + b * p.q_st.b + h * p.q_st.h + i0 * p.q_st.s;
  const float* k = p.k + b * p.k_st.b + h * p.k_st.h;
  const float* v = p.v + b * p.v_st.b + h * p.v_st.h;
  float* o = p.out + b * p.out_st.b + h * p.out_st.h + i0 * p.out_st.s;
  const int64_t os = p.out_st.s;

  Scratch& sc = thread_scratch();
  grow(sc.s, size_t(rows * kb));
  grow(sc.pk, f32_pack_b_size(D, kb, NR));
  grow(sc.pv, f32_pack_b_size(kb, Dv, NR));
  grow(sc.m, size_t(rows));
  grow(sc.l, size_t(rows));
  grow(sc.alpha, size_t(rows));
  if (sc.lim.size() < size_t(rows)) sc.lim.resize(size_t(rows));
  float* S = sc.s.data();
  std::fill(sc.m.begin(), sc.m.begin() + rows, -INFINITY);
  std::fill(sc.l.begin(), sc.l.begin() + rows, 0.f);

  const int64_t offset = p.causal_offset;  // causal: row i sees keys j <= i + offset
  bool first = true;
  for (int64_t j0 = 0; j0 < p.kv_len; j0 += kb) {
    if (p.causal && j0 > i1 - 1 + offset) break;
    const int64_t nc = std::min(kb, p.kv_len - j0);
    f32_pack_b(D, nc, k + j0 * p.k_st.s, 1, p.k_st.s, NR, sc.pk.data());
    f32_pack_b(nc, Dv, v + j0 * p.v_st.s, p.v_st.s, 1, NR, sc.pv.data());

    // S = scale * Q K^T + key_bias + bias
    Epilogue ep;
    ep.alpha = p.scale;
    for (int64_t c0 = 0; c0 < nc; c0 += NR) {
      const float* panel = sc.pk.data() + (c0 / NR) * D * NR;
      const int64_t w = std::min<int64_t>(NR, nc - c0);
      ep.bias = p.key_bias ? p.key_bias + b * p.key_bias_b + j0 + c0 : nullptr;
      for (int64_t r0 = 0; r0 < rows; r0 += MR) {
        const int64_t mr = std::min<int64_t>(MR, rows - r0);
        if (p.bias) {
          ep.residual = p.bias + b * p.bias_st.b + h * p.bias_st.h + (i0 + r0) * p.bias_st.s + (j0 + c0) * p.bias_col;
          ep.res_row_stride = p.bias_st.s;
          ep.res_col_stride = p.bias_col;
        }
        gk.direct(mr, w, D, q + r0 * p.q_st.s, p.q_st.s, panel, S + r0 * kb + c0, kb, false, &ep);
      }
    }
    const int64_t* lim = nullptr;
    if (p.causal) {
      for (int64_t r = 0; r < rows; ++r) sc.lim[size_t(r)] = i0 + r + 1 + offset - j0;
      lim = sc.lim.data();
    }
    sk.fn(S, kb, rows, nc, lim, sc.m.data(), sc.l.data(), sc.alpha.data());

    // O = alpha O + P V
    if (!first) {
      for (int64_t r = 0; r < rows; ++r) {
        const float a = sc.alpha[size_t(r)];
        if (a == 1.f) continue;
        float* orow = o + r * os;
        for (int64_t d = 0; d < Dv; ++d) orow[d] *= a;
      }
    }
    for (int64_t c0 = 0; c0 < Dv; c0 += NR) {
      const float* panel = sc.pv.data() + (c0 / NR) * nc * NR;
      const int64_t w = std::min<int64_t>(NR, Dv - c0);
      for (int64_t r0 = 0; r0 < rows; r0 += MR) {
        const int64_t mr = std::min<int64_t>(MR, rows - r0);
        gk.direct(mr, w, nc, S + r0 * kb, kb, panel, o + r0 * os + c0, os, !first, nullptr);
      }
    }
    first = false;
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* orow = o + r * os;
    const float l = sc.l[size_t(r)];
    const float inv = first || !(l > 0.f) ? 0.f : 1.f / l;
    for (int64_t d = 0; d < Dv; ++d) orow[d] = first ? 0.f : orow[d] * inv;
  }
}

}  // namespace

const std::vector<F32AttentionKernel>& f32_attention_kernels() {
  static const std::vector<F32AttentionKernel> table = {
#define FI_ATTENTION_KERNEL(isa, name) {#name, tier_##isa, &name},
#include "kernels/cpu/f32_attention.inc"
#undef FI_ATTENTION_KERNEL
  };
  return table;
}

const F32AttentionKernel& select_f32_attention() {
  const F32AttentionKernel* best = &f32_attention_kernels().front();
  for (const F32AttentionKernel& e : f32_attention_kernels())
    if (e.tier <= int(isa_tier()) && e.tier > best->tier) best = &e;
  return *best;
}

void f32_attention(const AttentionParams& p, ThreadPool* pool) { f32_attention(select_f32_attention(), p, pool); }

F32AttentionTasks::F32AttentionTasks(const F32AttentionKernel& kernel, const AttentionParams& p, int threads)
    : kernel_(&kernel), p_(p) {
  FI_CHECK(p.batch >= 0 && p.heads >= 0 && p.q_len >= 0 && p.kv_len >= 0 && p.head_dim >= 0 && p.v_head_dim >= 0,
           InvalidArgument, "attention: negative size");
  if (p.batch == 0 || p.heads == 0 || p.q_len == 0 || p.v_head_dim == 0) return;
  gemm_ = &select_f32_gemm(kQueryBlock, std::max<int64_t>(p.v_head_dim, 1), p.head_dim);
  kb_ = std::min(ceil_div(p.kv_len, gemm_->nr) * gemm_->nr, kKeyBlock);
  const int64_t heads = p.batch * p.heads;
  mb_ = kQueryBlock;
  if (threads > 1 && heads * ceil_div(p.q_len, mb_) < 4 * threads) {
    const int64_t want = ceil_div(4 * threads, heads);  // query blocks per head
    mb_ = std::max<int64_t>(gemm_->mr, ceil_div(ceil_div(p.q_len, want), gemm_->mr) * gemm_->mr);
  }
  qblocks_ = ceil_div(p.q_len, mb_);
  tasks_ = heads * qblocks_;
  const double flops = 4.0 * double(mb_) * double(p.kv_len) * double(p.head_dim + p.v_head_dim);
  grain_ = flops >= 1e5 ? 1 : std::max<int64_t>(1, int64_t(1e5 / std::max(flops, 1.0)));
}

void F32AttentionTasks::run(int64_t t0, int64_t t1) const {
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t bh = t / qblocks_, qb = t % qblocks_;
    const int64_t i0 = qb * mb_, i1 = std::min(p_.q_len, i0 + mb_);
    attention_block(*kernel_, *gemm_, p_, bh / p_.heads, bh % p_.heads, i0, i1, kb_);
  }
}

void f32_attention(const F32AttentionKernel& kernel, const AttentionParams& p, ThreadPool* pool) {
  const F32AttentionTasks job(kernel, p, pool ? pool->num_threads() : 1);
  parallel_for(pool, job.tasks(), job.grain(), [&](int64_t t0, int64_t t1) { job.run(t0, t1); });
}

}  // namespace fi::kernels
