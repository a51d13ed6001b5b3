// The fp32 GEMM driver: B packing, cache blocking and the 2-D split of C over the thread pool.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/gemm.h"

namespace fi::kernels {

namespace {
constexpr int64_t kKC = 256;  // K block: an MR x KC slice of A and a KC x NR panel of B stay in L1
constexpr int64_t kMC = 96;   // M block (rows), rounded to MR: MC x KC of A stays in L2

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

size_t f32_pack_b_size(int64_t k, int64_t n, int nr) { return size_t(ceil_div(n, nr) * nr * k); }

F32PackedB f32_pack_b(int64_t k, int64_t n, const float* b, int64_t stride_k, int64_t stride_n, int nr,
                      float* out, ThreadPool* pool) {
  int64_t panels = ceil_div(n, nr);
  parallel_for(pool, panels, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, k)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* dst = out + p * k * nr;
      int64_t j0 = p * nr, w = std::min<int64_t>(nr, n - j0);
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

F32PackedWeights f32_pack_weights(int64_t k, int64_t n, const float* b, int64_t stride_k, int64_t stride_n,
                                  int64_t m_hint) {
  F32PackedWeights w;
  w.kernel = &select_f32_gemm(m_hint, n, k);
  size_t count = f32_pack_b_size(k, n, w.kernel->nr);
  w.owner = alloc_buffer(std::max<size_t>(1, count) * sizeof(float));
  w.b = f32_pack_b(k, n, b, stride_k, stride_n, w.kernel->nr, static_cast<float*>(w.owner.get()));
  return w;
}

void f32_gemm(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const F32PackedB& b, float* c, int64_t ldc, const Epilogue& ep, ThreadPool* pool) {
  FI_CHECK(b.nr == kernel.nr && b.k == k && b.n == n, InvalidArgument, "f32_gemm: packed B layout (nr ", b.nr,
           ", k ", b.k, ", n ", b.n, ") does not match kernel ", kernel.name, " for k ", k, ", n ", n);
  if (m <= 0 || n <= 0) return;
  const int MR = kernel.mr, NR = kernel.nr;
  const int64_t mt = ceil_div(m, MR), nt = ceil_div(n, NR);
  const int64_t nkb = std::max<int64_t>(1, ceil_div(k, kKC));
  const int64_t mc_tiles = std::max<int64_t>(1, kMC / MR);

  int threads = pool ? pool->num_threads() : 1;
  int64_t m_split = 1, n_split = 1;
  if (threads > 1 && double(m) * double(n) * double(std::max<int64_t>(k, 1)) >= 32768.0) {
    int64_t target = int64_t(threads) * 4;
    // Roughly square blocks of C: each task reads an M-slice of A and an N-slice of B.
    int64_t want_m = int64_t(std::sqrt(double(target) * double(m) / double(n)) + 0.5);
    m_split = std::min(mt, std::max<int64_t>(1, std::min(want_m, target)));
    n_split = std::min(nt, ceil_div(target, m_split));
  }

  auto run_task = [&](int64_t t) {
    int64_t tm = t / n_split, tn = t % n_split;
    int64_t i_begin = mt * tm / m_split, i_end = mt * (tm + 1) / m_split;
    int64_t p_begin = nt * tn / n_split, p_end = nt * (tn + 1) / n_split;
    for (int64_t kb = 0; kb < nkb; ++kb) {
      int64_t k0 = kb * kKC, kc = std::min(kKC, k - k0);
      if (kc < 0) kc = 0;
      bool last = kb == nkb - 1;
      for (int64_t ib = i_begin; ib < i_end; ib += mc_tiles) {
        int64_t ie = std::min(i_end, ib + mc_tiles);
        for (int64_t p = p_begin; p < p_end; ++p) {
          int64_t col = p * NR, nc = std::min<int64_t>(NR, n - col);
          const float* panel = b.data + p * k * NR + k0 * NR;
          for (int64_t it = ib; it < ie; ++it) {
            int64_t row = it * MR, mr = std::min<int64_t>(MR, m - row);
            Epilogue tile_ep;
            const Epilogue* tep = nullptr;
            if (last) {
              tile_ep = ep;
              if (ep.bias) tile_ep.bias = ep.bias + (ep.bias_per_row ? row : col);
              if (ep.residual) tile_ep.residual = ep.residual + row * ep.res_row_stride + col * ep.res_col_stride;
              tep = &tile_ep;
            }
            kernel.fn(mr, nc, kc, a + row * lda + k0, lda, panel, c + row * ldc + col, ldc, kb > 0, tep);
          }
        }
      }
    }
  };
  int64_t tasks = m_split * n_split;
  if (tasks == 1) {
    run_task(0);
  } else {
    parallel_for(pool, tasks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) run_task(t);
    });
  }
}

void f32_gemm_plain(const F32GemmKernel& kernel, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                    const float* b, int64_t stride_k, int64_t stride_n, float* c, int64_t ldc, const Epilogue& ep,
                    float* workspace, ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  F32PackedB pb = f32_pack_b(k, n, b, stride_k, stride_n, kernel.nr, workspace, pool);
  f32_gemm(kernel, m, n, k, a, lda, pb, c, ldc, ep, pool);
}

}  // namespace fi::kernels
