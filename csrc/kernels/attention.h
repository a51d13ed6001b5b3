// fp32 fused multi-head attention: for every (batch b, head h)
//   O[i, :] = sum_j softmax_j(scale * Q[i, :] . K[j, :] + bias[b, h, i, j] + key_bias[b, j]) V[j, :]
// computed over tiles (flash-attention style): a block of query rows walks the keys in blocks;
// each block's scores S = scale Q K^T (+ biases) land in a per-thread scratch tile, an online
// softmax keeps each row's running max and sum and rescales the output accumulator, and
// O += P V. No score matrix bigger than one tile ever exists, so memory is independent of the
// sequence lengths. The matrix products run on the fp32 GEMM microkernels (kernels/gemm.h); the
// softmax step of a tile is per ISA (cpu/*/f32_attention_*.cc, listed in f32_attention.inc).
//
// Layouts come as strides (in floats) per batch, head and sequence position; the head dimension
// is contiguous. [B, S, H, D] (BSNH, e.g. a [B, S, H*D] projection) and [B, H, S, D] (BNSH) both
// work without copies.
#pragma once
#include <cstdint>
#include <vector>

namespace fi {
class ThreadPool;
}

namespace fi::kernels {

struct AttentionStrides {
  int64_t b = 0, h = 0, s = 0;
};

struct AttentionParams {
  int64_t batch = 0, heads = 0, q_len = 0, kv_len = 0;
  int64_t head_dim = 0;    // D of Q and K
  int64_t v_head_dim = 0;  // D of V and of the output
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;
  AttentionStrides q_st, k_st, v_st, out_st;
  float scale = 1.f;
  // Optional additive bias: bias[b*bias_st.b + h*bias_st.h + i*bias_st.s + j*bias_col], with
  // stride 0 on broadcast dimensions (bias_col 0 or 1).
  const float* bias = nullptr;
  AttentionStrides bias_st;
  int64_t bias_col = 1;
  // Optional additive per-key bias (key padding masks): key_bias[b * key_bias_b + j].
  const float* key_bias = nullptr;
  int64_t key_bias_b = 0;
  // Causal: query i sees key j only when j <= i + causal_offset (0: upper-left aligned, as ONNX
  // Runtime without a past; kv_len - q_len: lower-right). A row that sees no key gets zeros.
  bool causal = false;
  int64_t causal_offset = 0;
};

// Softmax step of one score tile (rows x cols at s, row stride ld). For row r: the first lim[r]
// columns count (all of them when lim is null; the rest get p = 0); m[r] (running max, -inf at
// start) and l[r] (running sum) are updated; each score becomes p = exp(s - m_new); alpha[r] =
// exp(m_old - m_new) is the factor the row's earlier accumulator must be scaled by.
using f32_attention_softmax_fn = void (*)(float* s, int64_t ld, int64_t rows, int64_t cols, const int64_t* lim,
                                         float* m, float* l, float* alpha);

#define FI_ATTENTION_KERNEL(isa, name) \
  void name(float*, int64_t, int64_t, int64_t, const int64_t*, float*, float*, float*);
#include "kernels/cpu/f32_attention.inc"
#undef FI_ATTENTION_KERNEL

struct F32AttentionKernel {
  const char* name;
  int tier;  // fi::IsaTier as int
  f32_attention_softmax_fn fn;
};

// Every softmax-tile kernel in the list; the best one the CPU (and FASTINFER_ISA) allow.
const std::vector<F32AttentionKernel>& f32_attention_kernels();
const F32AttentionKernel& select_f32_attention();

struct F32GemmKernel;

// The attention described by p as tasks over (batch, head, query block), for a caller that runs
// them itself (the executor's chained jobs, ops/kernel.h): tasks() of them, chunks of at least
// grain(); run(t0, t1) computes tasks [t0, t1) on the calling thread (any thread, any order, each
// once). The split suits `threads` threads. p's pointers are read only in run.
class F32AttentionTasks {
 public:
  F32AttentionTasks(const F32AttentionKernel& kernel, const AttentionParams& p, int threads);
  int64_t tasks() const { return tasks_; }
  int64_t grain() const { return grain_; }
  void run(int64_t t0, int64_t t1) const;

 private:
  const F32AttentionKernel* kernel_;
  AttentionParams p_;
  const F32GemmKernel* gemm_ = nullptr;
  int64_t kb_ = 0, mb_ = 1, qblocks_ = 1, tasks_ = 0, grain_ = 1;
};

// Runs the attention described by p, split over (batch, head, query block) on the pool.
// Throws InvalidArgument for negative sizes; sizes of zero are fine (nothing to do).
void f32_attention(const AttentionParams& p, ThreadPool* pool);
// The same with an explicit softmax-tile kernel (tests compare ISA paths with it).
void f32_attention(const F32AttentionKernel& kernel, const AttentionParams& p, ThreadPool* pool);

}  // namespace fi::kernels
