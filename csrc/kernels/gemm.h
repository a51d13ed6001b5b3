// fp32 GEMM: C[M,N] = epilogue(A[M,K] x B[K,N]).
//
// B is packed (f32_pack_b) into NR-wide panels: panel p holds columns [p*NR, p*NR+NR) for every k
// as K rows of NR floats, zero-padded past N, so a K-block [k0, k0+kc) of a panel is the contiguous
// run panel + k0*NR. A is packed the same way into MR-row panels (f32_pack_a): panel q starts at
// q*K*MR and holds its r = min(MR, M - q*MR) rows as K groups of r floats (a[k*r + i]). A row-major A is
// packed by the driver block by block (MC x KC, per thread) when a task has enough B panels to pay
// for it, else read in place by the microkernel's direct form; a constant A (conv weights) can be
// packed once. The driver blocks K by KC and M by MC, splits the (M, N) tiles over the thread
// pool in 2-D, and calls one microkernel per MR x NR tile. Microkernels are named after their tile
// and ISA (f32_gemm_8x32__avx512) and listed once in cpu/f32_gemm.inc.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/vmath.h"

namespace fi {
class ThreadPool;
}

namespace fi::kernels {

// What happens to each output element v = sum_k A[i,k] B[k,j] before it is stored, as data:
//   v = alpha * v + bias + beta * residual;  v = act(v);  v = min(max(v, clamp_min), clamp_max)
// bias is per row (bias[i]) or per column (bias[j]); residual is read at
// residual[i * res_row_stride + j * res_col_stride] with res_col_stride 0 or 1, which covers a
// full matrix, a row vector, a column vector and a scalar (ONNX Gemm's C, a residual Add).
struct Epilogue {
  float alpha = 1.f;
  const float* bias = nullptr;
  bool bias_per_row = false;
  const float* residual = nullptr;
  int64_t res_row_stride = 0;
  int64_t res_col_stride = 1;
  float beta = 1.f;
  float clamp_min = -INFINITY;
  float clamp_max = INFINITY;
  Activation act = Activation::None;  // applied by the driver to each finished tile row
};

// Microkernel: one tile of at most MR rows and NR columns over kc steps of k.
//   mr <= MR rows; nc <= NR columns; a is kc groups of mr packed floats (a[k*mr + i]); b is kc
//   rows of NR packed floats. C tile at c[i*ldc + j]. accumulate: add the existing C to the
//   product. ep: when non-null (the last K block), apply it except `act` (the driver's job); its
//   pointers are already offset to the tile's origin.
using f32_gemm_ukernel_fn = void (*)(int64_t mr, int64_t nc, int64_t kc, const float* a, const float* b, float* c,
                                     int64_t ldc, bool accumulate, const Epilogue* ep);

// The same tile reading A unpacked: row i at a + i*lda. The driver uses it where packing A would
// not pay back (few B panels per A row, e.g. N <= 2*NR).
using f32_gemm_direct_fn = void (*)(int64_t mr, int64_t nc, int64_t kc, const float* a, int64_t lda, const float* b,
                                    float* c, int64_t ldc, bool accumulate, const Epilogue* ep);

// The same tile reading A through pointers (implicit-GEMM convolution): row i's k-th group of kc
// floats (tap t of ntaps) at ind[i*ind_stride + t]; B's rows in the same order (ntaps*kc of them).
using f32_gemm_indirect_fn = void (*)(int64_t mr, int64_t nc, int64_t ntaps, int64_t kc, const float* const* ind,
                                      int64_t ind_stride, const float* b, float* c, int64_t ldc, bool accumulate,
                                      const Epilogue* ep);

// Declarations of every microkernel, from the family's list (name##_direct: the unpacked-A form,
// name##_indirect: A through row pointers).
#define FI_GEMM_KERNEL(isa, name, mr, nr) \
  void name(int64_t, int64_t, int64_t, const float*, const float*, float*, int64_t, bool, const Epilogue*); \
  void name##_direct(int64_t, int64_t, int64_t, const float*, int64_t, const float*, float*, int64_t, bool, \
                     const Epilogue*); \
  void name##_indirect(int64_t, int64_t, int64_t, int64_t, const float* const*, int64_t, const float*, float*, \
                       int64_t, bool, const Epilogue*);
#include "kernels/cpu/f32_gemm.inc"
#undef FI_GEMM_KERNEL

// One entry of the selection table.
struct F32GemmKernel {
  const char* name;
  int tier;  // fi::IsaTier as int: 0 ref, 1 avx2, 2 avx512
  int mr, nr;
  f32_gemm_ukernel_fn fn;
  f32_gemm_direct_fn direct;
  f32_gemm_indirect_fn indirect;
};

// Every kernel in the list, in list order (whether or not the CPU runs it).
const std::vector<F32GemmKernel>& f32_gemm_kernels();
// True when the CPU (and FASTINFER_ISA cap) allow kernel k.
bool f32_gemm_supported(const F32GemmKernel& k);
// From this many rows (and 64 columns) the AVX-512 6x64 tile beats the default 12x32 (Zen 4, 1
// thread, operands hot: 1-9 % faster at 196 to 3136 rows, 1024x1024x64 104 vs 97 GFLOP/s,
// 256^3 114 vs 111; 4-9 % slower at 49 rows, 1-4 % at 128 (BERT's 128x768x3072)).
constexpr int64_t kF32WideTileMinRows = 196;

// The best allowed kernel for an (m, n, k) problem: highest ISA tier, then best tile use.
const F32GemmKernel& select_f32_gemm(int64_t m, int64_t n, int64_t k);
// The kernel of that name, or nullptr.
const F32GemmKernel* find_f32_gemm(const char* name);

// A packed B: the layout travels with the data so the driver can check it against the kernel.
struct F32PackedB {
  int nr = 0;
  int64_t k = 0, n = 0;
  const float* data = nullptr;
};

// Columns [col0, col0 + cols) of a packed B as a packed B of their own (col0 a multiple of nr):
// its panels are a contiguous run of b's. For splitting one GEMM's N over threads.
inline F32PackedB f32_packed_b_columns(const F32PackedB& b, int64_t col0, int64_t cols) {
  F32PackedB s = b;
  s.n = cols;
  s.data = b.data + col0 / b.nr * b.k * b.nr;
  return s;
}

// Element (k, n) of a packed B (panel n / nr, row k, lane n % nr): for reading weights back.
inline float f32_packed_b_at(const F32PackedB& b, int64_t k, int64_t n) {
  return b.data[(n / b.nr) * b.k * b.nr + k * b.nr + n % b.nr];
}

// Number of floats f32_pack_b writes for a K x N matrix and panel width nr.
size_t f32_pack_b_size(int64_t k, int64_t n, int nr);
// Packs B(k, n) = b[k*stride_k + n*stride_n] (stride_n 1 for row-major B, stride_k 1 for B^T)
// into `out` (f32_pack_b_size floats). Returns the view.
F32PackedB f32_pack_b(int64_t k, int64_t n, const float* b, int64_t stride_k, int64_t stride_n, int nr,
                      float* out, ThreadPool* pool = nullptr);

// Owning packed weights, made once at session creation.
struct F32PackedWeights {
  std::shared_ptr<void> owner;
  F32PackedB b;
  const F32GemmKernel* kernel = nullptr;
};
F32PackedWeights f32_pack_weights(int64_t k, int64_t n, const float* b, int64_t stride_k, int64_t stride_n,
                                  int64_t m_hint = 64);

// Packs B^T in place: bt [n][k] (row-major, a transposed Gemm's B) becomes the packed B of
// f32_pack_weights(k, n, bt, 1, k) in the same memory, one nr-row slab (panel) at a time through
// a slab-sized copy; `out` then views bt (its owner left empty for the caller to set). False,
// with bt untouched, when n is not a multiple of the chosen kernel's nr.
bool f32_pack_weights_t_in_place(int64_t k, int64_t n, float* bt, F32PackedWeights& out, int64_t m_hint = 64);

// A packed A: MR-row panels as described at the top.
struct F32PackedA {
  int mr = 0;
  int64_t m = 0, k = 0;
  const float* data = nullptr;
};

// Number of floats f32_pack_a writes for an M x K matrix and panel height mr.
size_t f32_pack_a_size(int64_t m, int64_t k, int mr);
// Packs A(m, k) = a[m*stride_m + k*stride_k] into `out` (f32_pack_a_size floats). Returns the view.
F32PackedA f32_pack_a(int64_t m, int64_t k, const float* a, int64_t stride_m, int64_t stride_k, int mr, float* out,
                      ThreadPool* pool = nullptr);

// Owning packed constant A (conv weights, W[M, K] row-major at stride lda), made once at session
// creation for the kernel chosen for (m, n_hint, k); B must then be packed with kernel->nr.
struct F32PackedWeightsA {
  std::shared_ptr<void> owner;
  F32PackedA a;
  const F32GemmKernel* kernel = nullptr;
};
F32PackedWeightsA f32_pack_weights_a(int64_t m, int64_t k, const float* a, int64_t lda, int64_t n_hint = 256);

// Measured fp32 FMA throughput of one core in GFLOP/s for an ISA tier (1 avx2, 2 avx512), running
// for about `seconds`; 0 when the CPU (or FASTINFER_ISA) does not allow the tier.
double f32_fma_peak(int tier, double seconds);

// C = epilogue(A x B) with packed A and packed B (A.mr == kernel.mr, B.nr == kernel.nr).
void f32_gemm(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const F32PackedA& a, const F32PackedB& b,
              float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool);

// C = epilogue(A x B) with packed B (B.nr must equal kernel.nr).
void f32_gemm(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool);

// Implicit GEMM (a convolution without an im2row copy): C = epilogue(A x B) where row i of A
// (m rows, K = taps * tap_k) is the concatenation over t < taps of the tap_k floats at
// ind[i*taps + t] (an output pixel's input pixel under kernel tap t, channels contiguous; a
// padding tap points at tap_k zeros). B packed with its K rows in that order (B.nr == kernel.nr).
// a_offset floats are added to every pointer (one group of a grouped conv reads its channels at
// group * C/G of each pixel: the zeros must then span a_offset + tap_k floats).
void f32_gemm_indirect(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t taps, int64_t tap_k,
                       const float* const* ind, const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep,
                       ThreadPool* pool, int64_t a_offset = 0);

// How f32_gemm splits C's tiles for `threads` threads: m_split x n_split blocks, one task each
// (1 x 1 below kParallelMinFlops). For tests and benchmarks.
void f32_gemm_split(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, int threads, int64_t& m_split,
                    int64_t& n_split);

// The f32_gemm of a row-major A (lda) and packed B cut into tasks for a job of the caller's own (a
// stage of parallel_phases): split for `threads` threads as f32_gemm would split it (one task
// below kParallelMinFlops); run(t) computes task t's tiles, in any order, on any thread.
class F32GemmTasks {
 public:
  F32GemmTasks(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep, int threads);
  // The same for f32_gemm_indirect's implicit GEMM (A through ind, a_offset added).
  F32GemmTasks(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t taps, int64_t tap_k, const float* const* ind,
               const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep, int threads, int64_t a_offset = 0);
  ~F32GemmTasks();
  F32GemmTasks(const F32GemmTasks&) = delete;
  F32GemmTasks& operator=(const F32GemmTasks&) = delete;
  int64_t count() const;  // 0 for an empty C
  void run(int64_t task) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// C = epilogue(A x B) with plain B(k, n) = b[k*stride_k + n*stride_n]; packs B into `workspace`
// (f32_pack_b_size(k, n, kernel.nr) floats) first.
void f32_gemm_plain(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                    const float* b, int64_t stride_k, int64_t stride_n, float* c, int64_t ldc, const Epilogue& ep,
                    float* workspace, ThreadPool* pool);

}  // namespace fi::kernels
