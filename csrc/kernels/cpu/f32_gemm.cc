// The fp32 GEMM driver: A and B packing, cache blocking, the 2-D split of C over the thread pool
// and the fused activation of finished tiles.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_buffer.h"
#include "core/thread_pool.h"
#include "kernels/gemm.h"
#include "kernels/transpose4.h"

namespace fi::kernels {

double f32_fma_peak_avx2(double seconds);
double f32_fma_peak_avx512(double seconds);

namespace {
// Blocking, by measurement on Zen 4 (32K L1, 1M L2; bench/bench_gemm.py --tiles): every extra K
// block re-reads and re-writes C, which cost more than keeping the B panel in L1 saves (1024^3 at
// KC 256: 92 GFLOP/s, KC 1024: 107), so K is split only past 1024: the KC x NR panel of B is
// read from L2 by the MC/MR tiles of an M block, and the packed MC x KC block of A (384K) stays in
// L2 while the panels pass.
constexpr int64_t kKC = 1024;
constexpr int64_t kMC = 96;  // rows, rounded down to a multiple of MR
// A task with at most this many B panels reads A unpacked: packing would cost more than it saves
// (4096x256x64: 79 GFLOP/s packed, 91-98 direct; 1024^3 with every task direct: 90 vs 107). 8,
// not 4: a batch-1 transformer GEMM split 1 x 8 on 2 threads (6 panels a task) packed all of A
// in every task (MiniLM b1 t2 0.977x, b8 0.984x, SqueezeNet b1 t2 0.975x, MobileNetV2 0.982x,
// ResNet-50 1.000x b1 and 1.007x b8).
constexpr int64_t kDirectMaxPanels = 8;
// Tasks with more panels read A in place too when a tile's rows of one K block take at most this
// many bytes (12 x 768 floats, 6 x 1706), which then stay in L1 and L2 from one panel to the next
// as well as a packed copy would: the packing pass is saved (MiniLM b1 t1 0.988-0.989x, b8 0.986x,
// SqueezeNet 0.990x, ResNet-50 0.994-0.999x, BERT 0.997x, MobileNetV2 and DenseNet-121 0.996-1.005x;
// 1024^3 on one thread 110 -> 112 GFLOP/s with the 6x64 tile, 2048^3 the same). The 1024^3 above
// was 12x32 tiles, whose 1024-float K block of 12 rows is 48 KiB. Not for implicit-GEMM A, nor for
// tiles of fewer than 6 rows: the AVX2 4x24 tile lost 1-5 % reading A in place (511^3 101 against
// 106 GFLOP/s packed, 128x3072x768 98 against 100).
constexpr int64_t kDirectMaxATileBytes = 40 * 1024;
// B panels up to this size (all of a task's, for one K block) are walked tile by tile.
constexpr int64_t kL1TileMajorBytes = 16 * 1024;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Where the A panels come from: packed once by the caller, row-major to pack per block, or
// through row pointers (indirect: row i, tap t at ind[i*taps + t] + a_offset, tap_k floats each).
struct ASource {
  const F32PackedA* packed = nullptr;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* const* ind = nullptr;
  int64_t taps = 1, tap_k = 0, a_offset = 0;
};

// A tile's row pointers for taps [t0, t0 + ntaps), a_offset added, in a per-thread array laid out
// as the microkernel reads them (row i's taps at i*ntaps): for an indirect A with an offset (one
// group of a grouped conv), which the microkernels do not take themselves.
const float* const* offset_tile_pointers(const ASource& src, int64_t row, int64_t mr, int64_t t0, int64_t ntaps) {
  thread_local std::vector<const float*> buf;
  if (buf.size() < size_t(mr * ntaps)) buf.resize(size_t(mr * ntaps));
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t t = 0; t < ntaps; ++t)
      buf[size_t(i * ntaps + t)] = src.ind[(row + i) * src.taps + t0 + t] + src.a_offset;
  return buf.data();
}

// A per-thread buffer for the packed A block, 64-byte aligned.
struct ABlockBufferTag;
float* a_block_buffer(size_t floats) { return thread_buffer<ABlockBufferTag>(floats); }

// The rows of each M tile: MR each, except that a short remainder (under MR/2 rows, which
// leaves a tile too few accumulators to hide the FMA latency) shares the last two tiles evenly
// with the full tile before it: 49 rows as 12, 12, 12, 7, 6 rather than 12, 12, 12, 12, 1. Only
// for A packed per block or read in place (A packed once has fixed MR-row panels).
struct MTiles {
  int64_t m = 0, mt = 0, split = 0;  // split: rows of tile mt-2 when the last two share, else 0
  int MR = 1;
  MTiles(int64_t m_, int MR_, bool may_split) : m(m_), mt((m_ + MR_ - 1) / MR_), MR(MR_) {
    const int64_t rem = m % MR;
    if (may_split && mt >= 2 && rem != 0 && 2 * rem < MR) split = (MR + rem + 1) / 2;
  }
  int64_t row(int64_t it) const { return split && it == mt - 1 ? (mt - 2) * MR + split : it * MR; }
  int64_t rows(int64_t it) const {
    if (split && it >= mt - 2) return it == mt - 2 ? split : MR + m % MR - split;
    return std::min<int64_t>(MR, m - it * MR);
  }
};

// Packs k in [0, len) of a tile's rows, row i read from the contiguous run s[i], into the tile's
// panel d (d[k*rows + i]), 4 rows at a time through 4x4 SSE transposes.
void pack_a_run(const float* const* s, int rows, int64_t len, float* d) {
  const int64_t st = rows;
  int i = 0;
  for (; i + 4 <= rows; i += 4) transpose_4_rows(s[i], s[i + 1], s[i + 2], s[i + 3], len, d + i, st);
  for (; i < rows; ++i)
    for (int64_t kk = 0; kk < len; ++kk) d[kk * st + i] = s[i][kk];
}

// Packs tiles [t0, t0 + tiles) of A, k in [k0, k0 + kc), into consecutive panels of kc x rows
// floats at a stride of kc x MR floats. A row-major, or indirect (then k0 and kc are whole taps:
// one run per tap).
void pack_a_block(const ASource& src, const MTiles& mtiles, int64_t t0, int64_t tiles, int64_t k0, int64_t kc,
                  float* dst) {
  const int MR = mtiles.MR;
  const float* s[64];
  for (int64_t t = 0; t < tiles; ++t) {
    float* d = dst + t * kc * MR;
    const int64_t r0 = mtiles.row(t0 + t);
    const int rows = int(mtiles.rows(t0 + t));
    if (!src.ind) {
      for (int i = 0; i < rows; ++i) s[i] = src.a + (r0 + i) * src.lda + k0;
      pack_a_run(s, rows, kc, d);
      continue;
    }
    for (int64_t k = 0; k < kc; k += src.tap_k) {
      const int64_t tap = (k0 + k) / src.tap_k;
      for (int i = 0; i < rows; ++i) s[i] = src.ind[(r0 + i) * src.taps + tap] + src.a_offset;
      pack_a_run(s, rows, src.tap_k, d + k * rows);
    }
  }
}

// The busiest thread's share of C over the average when the a x b blocks of C's mt x nt tiles go
// to the threads in contiguous runs of tasks (task i*b + j is block (i, j)), as a chained job
// hands them out (ops/kernel.h), counting the rows and columns each block holds.
double thread_imbalance(int64_t a, int64_t b, int64_t mt, int64_t nt, int MR, int NR, int64_t m, int64_t n,
                        int threads) {
  const int64_t tasks = a * b;
  double worst = 0;
  for (int s = 0; s < threads; ++s) {
    double load = 0;
    for (int64_t t = tasks * s / threads; t < tasks * (s + 1) / threads; ++t) {
      const int64_t i = t / b, j = t % b;
      const int64_t rows = std::min(m, mt * (i + 1) / a * MR) - std::min(m, mt * i / a * MR);
      const int64_t cols = std::min(n, nt * (j + 1) / b * NR) - std::min(n, nt * j / b * NR);
      load += double(rows) * double(cols);
    }
    worst = std::max(worst, load);
  }
  return worst * threads / std::max(1.0, double(m) * double(n));
}

// Splits C's mt x nt tiles into ms x ns blocks, `target` of them, with the threads' shares of C
// closest to even (within 2 %), then a multiple of the thread count where possible, then the least
// memory traffic: every M block of every task streams its panels of B (ms x K x N floats in all,
// at least once per MC rows), and every N block packs its rows of A again (ns x M x K floats,
// counted twice: packing writes as well as reads). 128x384x384 on 12x32 tiles, 2 threads: 1 x 8
// blocks (6 panels a thread), not 2 x 4 (72 and 56 rows). Returns the largest task's tiles over
// the average (1: even).
double split_for(int64_t target, int64_t mt, int64_t nt, int64_t mc_tiles, int64_t m, int64_t n, int64_t k, int MR,
                 int NR, int threads, int64_t& ms, int64_t& ns) {
  ms = ns = 1;
  double best = 0, best_imb = 0;
  bool best_even = false;
  for (int64_t a = 1; a <= std::min(mt, target); ++a) {
    const int64_t b = std::min(nt, std::max<int64_t>(1, target / a));
    const bool even = (a * b) % threads == 0;
    const double imb = thread_imbalance(a, b, mt, nt, MR, NR, m, n, threads);
    const double b_reads = double(std::max(a, ceil_div(mt, mc_tiles))) * double(k) * double(n);
    const double cost = b_reads + 2.0 * double(b) * double(m) * double(k);
    const bool close = std::abs(imb - best_imb) <= 0.02;
    if (ms * ns == 1 || imb < best_imb - 0.02 ||
        (close && ((even && !best_even) || (even == best_even && cost < best)))) {
      ms = a, ns = b, best = cost, best_even = even, best_imb = imb;
    }
  }
  return double(ceil_div(mt, ms) * ceil_div(nt, ns) * ms * ns) / double(mt * nt);
}

// About 4 tasks per thread balance the load. From K = 1024, one per thread when the tiles split
// evenly: every N task reads all of A again (in place, or packing it), which then costs more than
// balance saves (ResNet-50 at batch 1, 2 threads: the 1x1 convs over 1024 and 2048 channels
// 0.76-0.83x the time, 0.94x the model's node time; K = 512 no change either way). An uneven split
// (33x65 at K = 4096: 3 x 3 tiles over 2 threads) keeps 4 per thread.
void split_2d(int64_t mt, int64_t nt, int64_t mc_tiles, int64_t m, int64_t n, int64_t k, int MR, int NR, int threads,
              int64_t& ms, int64_t& ns) {
  ms = ns = 1;
  if (threads <= 1) return;
  if (k >= 1024 &&
      split_for(std::min<int64_t>(threads, mt * nt), mt, nt, mc_tiles, m, n, k, MR, NR, threads, ms, ns) <= 1.2)
    return;
  split_for(std::min<int64_t>(int64_t(threads) * 4, mt * nt), mt, nt, mc_tiles, m, n, k, MR, NR, threads, ms, ns);
}

}  // namespace

void f32_gemm_split(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, int threads, int64_t& m_split,
                    int64_t& n_split) {
  if (2.0 * double(m) * double(n) * double(std::max<int64_t>(k, 1)) < kParallelMinFlops) threads = 1;
  const int64_t mt = ceil_div(std::max<int64_t>(m, 1), kernel.mr), nt = ceil_div(std::max<int64_t>(n, 1), kernel.nr);
  split_2d(mt, nt, std::max<int64_t>(1, kMC / kernel.mr), m, n, k, kernel.mr, kernel.nr, threads, m_split, n_split);
}

namespace {

void apply_activation(const Epilogue& ep, float* c, int64_t ldc, int64_t mr, int64_t nc) {
  const bool clamp = ep.clamp_min > -INFINITY || ep.clamp_max < INFINITY;
  for (int64_t i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    f32_activation(ep.act, row, row, nc);
    if (clamp)
      for (int64_t j = 0; j < nc; ++j) {
        float v = row[j];
        v = v < ep.clamp_min ? ep.clamp_min : v;
        row[j] = v > ep.clamp_max ? ep.clamp_max : v;
      }
  }
}

// One GEMM's blocking and its split into tasks over `threads` threads (1: one task); run_task(t)
// computes task t's tiles of C. Tasks touch disjoint tiles and may run in any order.
struct GemmRun {
  const F32GemmKernel& kernel;
  int64_t m, n, k;
  ASource src;
  F32PackedB b;
  float* c;
  int64_t ldc;
  Epilogue ep, base_ep;
  int MR, NR;
  int64_t mt, nt, kq, kcb, nkb, mc_tiles;
  bool act, residual_in_c, trivial_ep;
  MTiles mtiles;
  int64_t m_split = 1, n_split = 1;

  GemmRun(const F32GemmKernel& kernel_, int64_t m_, int64_t n_, int64_t k_, const ASource& src_, const F32PackedB& b_,
          float* c_, int64_t ldc_, const Epilogue& ep_, int threads)
      : kernel(kernel_), m(m_), n(n_), k(k_), src(src_), b(b_), c(c_), ldc(ldc_), ep(ep_), base_ep(ep_),
        MR(kernel_.mr), NR(kernel_.nr), mt(ceil_div(m_, kernel_.mr)), nt(ceil_div(n_, kernel_.nr)),
        mtiles(m_, kernel_.mr, !src_.packed) {
    // One row of tiles reuses nothing across M: no K blocking, C is written once. Indirect A is
    // split between taps only.
    kq = src.ind ? std::max<int64_t>(1, src.tap_k) : 1;
    kcb = ceil_div(ceil_div(std::max<int64_t>(k, 1), kq), mt == 1 ? 1 : std::max<int64_t>(1, ceil_div(k, kKC))) * kq;
    nkb = std::max<int64_t>(1, ceil_div(k, kcb));
    mc_tiles = std::max<int64_t>(1, kMC / MR);
    act = ep.act != Activation::None;
    if (act) base_ep.clamp_min = -INFINITY, base_ep.clamp_max = INFINITY;
    // The residual in C's own memory (a conv computed in place of its residual input): one K block
    // reads each residual row in the epilogue before it stores that row, but with several the first
    // would overwrite it. Then every block accumulates into C, which starts out as the residual.
    residual_in_c = ep.residual == c && ep.res_row_stride == ldc && ep.res_col_stride == 1 && nkb > 1;
    if (residual_in_c) {
      FI_CHECK(ep.alpha == 1.f && ep.beta == 1.f, RuntimeError,
               "f32_gemm: a residual in C's memory needs alpha = beta = 1");
      base_ep.residual = nullptr;
    }
    // Nothing for the tiles to apply (a plain MatMul, or only an activation, which the driver
    // applies): they take no epilogue, whose per-row checks cost a few % of a short-K tile.
    trivial_ep = base_ep.alpha == 1.f && !base_ep.bias && !base_ep.residual && base_ep.clamp_min == -INFINITY &&
                 base_ep.clamp_max == INFINITY;
    f32_gemm_split(kernel, m, n, k, threads, m_split, n_split);
  }

  int64_t tasks() const { return m_split * n_split; }

  void run_task(int64_t t) const {
    int64_t tm = t / n_split, tn = t % n_split;
    int64_t i_begin = mt * tm / m_split, i_end = mt * (tm + 1) / m_split;
    int64_t p_begin = nt * tn / n_split, p_end = nt * (tn + 1) / n_split;
    // Packing A pays back over several B panels of a long K block; else the tiles read A in place.
    const bool small_a_tile = !src.ind && MR >= 6 && MR * kcb * int64_t(sizeof(float)) <= kDirectMaxATileBytes;
    const bool direct = !src.packed && (src.ind ? kernel.indirect != nullptr : kernel.direct != nullptr) &&
                        (p_end - p_begin <= kDirectMaxPanels || small_a_tile);
    float* abuf = src.packed || direct ? nullptr : a_block_buffer(size_t(mc_tiles * MR * kcb));
    for (int64_t kb = 0; kb < nkb; ++kb) {
      int64_t k0 = kb * kcb, kc = std::max<int64_t>(0, std::min(kcb, k - k0));
      bool last = kb == nkb - 1;
      // The task's rows in equal M blocks of at most MC rows (no short last block that would
      // stream B for a few tiles only).
      const int64_t nblk = std::max<int64_t>(1, ceil_div(i_end - i_begin, mc_tiles));
      const int64_t blk = ceil_div(i_end - i_begin, nblk);
      for (int64_t ib = i_begin; ib < i_end; ib += blk) {
        int64_t ie = std::min(i_end, ib + blk);
        if (abuf) pack_a_block(src, mtiles, ib, ie - ib, k0, kc, abuf);
        auto a_panel = [&](int64_t it) {
          const int64_t rows = std::min<int64_t>(MR, m - it * MR);
          return src.packed ? src.packed->data + it * k * MR + k0 * rows : abuf + (it - ib) * kc * MR;
        };
        auto one = [&](int64_t it, int64_t p) {
          int64_t col = p * NR, nc = std::min<int64_t>(NR, n - col);
          int64_t row = mtiles.row(it), mr = mtiles.rows(it);
          Epilogue tile_ep;
          const Epilogue* tep = nullptr;
          if (last && !trivial_ep) {
            tile_ep = base_ep;
            if (ep.bias) tile_ep.bias = ep.bias + (ep.bias_per_row ? row : col);
            if (base_ep.residual) tile_ep.residual = ep.residual + row * ep.res_row_stride + col * ep.res_col_stride;
            tep = &tile_ep;
          }
          float* ct = c + row * ldc + col;
          const float* bp = b.data + p * k * NR + k0 * NR;
          if (abuf || src.packed) {
            kernel.fn(mr, nc, kc, a_panel(it), bp, ct, ldc, kb > 0 || residual_in_c, tep);
          } else if (src.ind && src.a_offset != 0) {
            kernel.indirect(mr, nc, kc / kq, kq, offset_tile_pointers(src, row, mr, k0 / kq, kc / kq), kc / kq, bp, ct,
                            ldc, kb > 0 || residual_in_c, tep);
          } else if (src.ind) {
            kernel.indirect(mr, nc, kc / kq, kq, src.ind + row * src.taps + k0 / kq, src.taps, bp, ct, ldc,
                            kb > 0 || residual_in_c, tep);
          } else {
            kernel.direct(mr, nc, kc, src.a + row * src.lda + k0, src.lda, bp, ct, ldc, kb > 0 || residual_in_c, tep);
          }
          if (last && act) apply_activation(ep, ct, ldc, mr, nc);
        };
        // Panel by panel, each B panel stays in L1 over the block's tiles. When all of the
        // task's panels fit in L1 together (small K, few columns: a 1x1 conv over few channels),
        // tile by tile instead: each tile then writes whole rows of C, one sequential run the
        // prefetcher follows, where panel order would leave strided holes to be filled later
        // (measured 1.3-1.7x faster on 100352x16x96 with C in DRAM, Zen 4).
        if ((p_end - p_begin) * kc * NR * int64_t(sizeof(float)) <= kL1TileMajorBytes) {
          for (int64_t it = ib; it < ie; ++it)
            for (int64_t p = p_begin; p < p_end; ++p) one(it, p);
        } else {
          for (int64_t p = p_begin; p < p_end; ++p)
            for (int64_t it = ib; it < ie; ++it) one(it, p);
        }
      }
    }
  }
};

void gemm_driver(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const ASource& src,
                 const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  const GemmRun run(kernel, m, n, k, src, b, c, ldc, ep, pool ? pool->num_threads() : 1);
  if (run.tasks() == 1) {
    run.run_task(0);
    return;
  }
  parallel_for(pool, run.tasks(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) run.run_task(t);
  });
}

}  // namespace

size_t f32_pack_b_size(int64_t k, int64_t n, int nr) { return size_t(ceil_div(n, nr) * nr * k); }

F32PackedB f32_pack_b(int64_t k, int64_t n, const float* b, int64_t stride_k, int64_t stride_n, int nr,
                      float* out, ThreadPool* pool) {
  int64_t panels = ceil_div(n, nr);
  parallel_for(pool, panels, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, k)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* dst = out + p * k * nr;
      int64_t j0 = p * nr, w = std::min<int64_t>(nr, n - j0);
      if (stride_k == 1 && stride_n != 1) {  // B^T row-major (an attention's K): columns are contiguous runs
        const float* s = b + j0 * stride_n;
        int64_t j = 0;
        for (; j + 4 <= w; j += 4)
          transpose_4_rows(s + j * stride_n, s + (j + 1) * stride_n, s + (j + 2) * stride_n, s + (j + 3) * stride_n,
                           k, dst + j, nr);
        for (; j < w; ++j)
          for (int64_t kk = 0; kk < k; ++kk) dst[kk * nr + j] = s[j * stride_n + kk];
        for (int64_t kk = 0; kk < k; ++kk)
          for (int64_t jj = w; jj < nr; ++jj) dst[kk * nr + jj] = 0.f;
        continue;
      }
      for (int64_t kk = 0; kk < k; ++kk) {
        float* d = dst + kk * nr;
        const float* s = b + kk * stride_k + j0 * stride_n;
        if (stride_n == 1) {
          std::memcpy(d, s, size_t(w) * sizeof(float));
        } else {
          for (int64_t j = 0; j < w; ++j) d[j] = s[j * stride_n];
        }
        for (int64_t j = w; j < nr; ++j) d[j] = 0.f;
      }
    }
  });
  F32PackedB r;
  r.nr = nr;
  r.k = k;
  r.n = n;
  r.data = out;
  return r;
}

size_t f32_pack_a_size(int64_t m, int64_t k, int mr) { return size_t(ceil_div(m, mr) * mr * k); }

F32PackedA f32_pack_a(int64_t m, int64_t k, const float* a, int64_t stride_m, int64_t stride_k, int mr, float* out,
                      ThreadPool* pool) {
  int64_t panels = ceil_div(m, mr);
  parallel_for(pool, panels, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, k)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* d = out + p * k * mr;
      const int64_t rows = std::min<int64_t>(mr, m - p * mr);
      for (int64_t i = 0; i < rows; ++i) {
        const float* s = a + (p * mr + i) * stride_m;
        for (int64_t kk = 0; kk < k; ++kk) d[kk * rows + i] = s[kk * stride_k];
      }
    }
  });
  F32PackedA r;
  r.mr = mr;
  r.m = m;
  r.k = k;
  r.data = out;
  return r;
}

F32PackedWeights f32_pack_weights(int64_t k, int64_t n, const float* b, int64_t stride_k, int64_t stride_n,
                                  int64_t m_hint) {
  F32PackedWeights w;
  w.kernel = &select_f32_gemm(m_hint, n, k);
  size_t count = f32_pack_b_size(k, n, w.kernel->nr);
  // f32_pack_b writes every element (the last panel's columns past n as zeros): no zero-fill,
  // which would touch all of a large model's packed weights once more at creation.
  w.owner = alloc_buffer(std::max<size_t>(1, count) * sizeof(float), /*zero=*/false);
  w.b = f32_pack_b(k, n, b, stride_k, stride_n, w.kernel->nr, static_cast<float*>(w.owner.get()));
  return w;
}

bool f32_pack_weights_t_in_place(int64_t k, int64_t n, float* bt, F32PackedWeights& out, int64_t m_hint) {
  const F32GemmKernel& kernel = select_f32_gemm(m_hint, n, k);
  const int64_t nr = kernel.nr;
  if (n <= 0 || k <= 0 || n % nr != 0) return false;
  // Panel p holds [k][nr] = rows p*nr .. p*nr+nr-1 of bt transposed: the same nr*k floats.
  std::vector<float> slab(size_t(nr * k));
  for (int64_t p = 0; p < n / nr; ++p) {
    float* dst = bt + p * nr * k;
    std::memcpy(slab.data(), dst, slab.size() * sizeof(float));
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < nr; ++j) dst[kk * nr + j] = slab[size_t(j * k + kk)];
  }
  out.kernel = &kernel;
  out.owner.reset();
  out.b.nr = int(nr);
  out.b.k = k;
  out.b.n = n;
  out.b.data = bt;
  return true;
}

F32PackedWeightsA f32_pack_weights_a(int64_t m, int64_t k, const float* a, int64_t lda, int64_t n_hint) {
  F32PackedWeightsA w;
  w.kernel = &select_f32_gemm(m, n_hint, k);
  size_t count = f32_pack_a_size(m, k, w.kernel->mr);
  w.owner = alloc_buffer(std::max<size_t>(1, count) * sizeof(float));
  w.a = f32_pack_a(m, k, a, lda, 1, w.kernel->mr, static_cast<float*>(w.owner.get()));
  return w;
}

double f32_fma_peak(int tier, double seconds) {
  if (tier > int(isa_tier())) return 0;
  if (tier == int(IsaTier::Avx512)) return f32_fma_peak_avx512(seconds);
  if (tier == int(IsaTier::Avx2)) return f32_fma_peak_avx2(seconds);
  return 0;
}

void f32_gemm(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool) {
  FI_CHECK(b.nr == kernel.nr && b.k == k && b.n == n, InvalidArgument, "f32_gemm: packed B layout (nr ", b.nr,
           ", k ", b.k, ", n ", b.n, ") does not match kernel ", kernel.name, " for k ", k, ", n ", n);
  ASource src;
  src.a = a;
  src.lda = lda;
  gemm_driver(kernel, m, n, k, src, b, c, ldc, ep, pool);
}

struct F32GemmTasks::Impl : GemmRun {
  using GemmRun::GemmRun;
};

F32GemmTasks::F32GemmTasks(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                           const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep, int threads) {
  FI_CHECK(b.nr == kernel.nr && b.k == k && b.n == n, InvalidArgument, "f32_gemm: packed B layout (nr ", b.nr,
           ", k ", b.k, ", n ", b.n, ") does not match kernel ", kernel.name, " for k ", k, ", n ", n);
  if (m <= 0 || n <= 0) return;
  ASource src;
  src.a = a;
  src.lda = lda;
  impl_ = std::make_unique<Impl>(kernel, m, n, k, src, b, c, ldc, ep, threads);
}
F32GemmTasks::F32GemmTasks(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t taps, int64_t tap_k,
                           const float* const* ind, const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep,
                           int threads, int64_t a_offset) {
  FI_CHECK(taps > 0 && tap_k > 0 && b.nr == kernel.nr && b.k == taps * tap_k && b.n == n, InvalidArgument,
           "f32_gemm_indirect: packed B layout (nr ", b.nr, ", k ", b.k, ", n ", b.n, ") does not match kernel ",
           kernel.name, " for ", taps, " taps of ", tap_k, ", n ", n);
  if (m <= 0 || n <= 0) return;
  ASource src;
  src.ind = ind;
  src.taps = taps;
  src.tap_k = tap_k;
  src.a_offset = a_offset;
  impl_ = std::make_unique<Impl>(kernel, m, n, taps * tap_k, src, b, c, ldc, ep, threads);
}
F32GemmTasks::~F32GemmTasks() = default;
int64_t F32GemmTasks::count() const { return impl_ ? impl_->tasks() : 0; }
void F32GemmTasks::run(int64_t task) const { impl_->run_task(task); }

void f32_gemm_indirect(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t taps, int64_t tap_k,
                       const float* const* ind, const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep,
                       ThreadPool* pool, int64_t a_offset) {
  FI_CHECK(taps > 0 && tap_k > 0 && b.nr == kernel.nr && b.k == taps * tap_k && b.n == n, InvalidArgument,
           "f32_gemm_indirect: packed B layout (nr ", b.nr, ", k ", b.k, ", n ", b.n, ") does not match kernel ",
           kernel.name, " for ", taps, " taps of ", tap_k, ", n ", n);
  ASource src;
  src.ind = ind;
  src.taps = taps;
  src.tap_k = tap_k;
  src.a_offset = a_offset;
  gemm_driver(kernel, m, n, taps * tap_k, src, b, c, ldc, ep, pool);
}

void f32_gemm(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const F32PackedA& a, const F32PackedB& b,
              float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool) {
  FI_CHECK(b.nr == kernel.nr && b.k == k && b.n == n, InvalidArgument, "f32_gemm: packed B layout (nr ", b.nr,
           ", k ", b.k, ", n ", b.n, ") does not match kernel ", kernel.name, " for k ", k, ", n ", n);
  FI_CHECK(a.mr == kernel.mr && a.k == k && a.m == m, InvalidArgument, "f32_gemm: packed A layout (mr ", a.mr,
           ", m ", a.m, ", k ", a.k, ") does not match kernel ", kernel.name, " for m ", m, ", k ", k);
  ASource src;
  src.packed = &a;
  gemm_driver(kernel, m, n, k, src, b, c, ldc, ep, pool);
}

void f32_gemm_plain(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                    const float* b, int64_t stride_k, int64_t stride_n, float* c, int64_t ldc, const Epilogue& ep,
                    float* workspace, ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  F32PackedB pb = f32_pack_b(k, n, b, stride_k, stride_n, kernel.nr, workspace, pool);
  f32_gemm(kernel, m, n, k, a, lda, pb, c, ldc, ep, pool);
}

}  // namespace fi::kernels
