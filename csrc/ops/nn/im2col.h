// im2col straight into the packed-panel layout of kernels/gemm.h: for one group of one image,
// B(kk, o) = X[c, o*stride - pad + kpos*dilation] (0 outside), kk = c*prod(k) + kernel offset,
// stored as panels of nr output positions: out[p*Ck*nr + kk*nr + j], o = p*nr + j (0 past the end).
// With nr == 1 this is the plain [S_out, Ck] matrix (col^T).
#pragma once
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/nn/conv_util.h"

namespace fi::nn {

constexpr int64_t kMaxPanel = 64;  // widest nr supported (the GEMM kernels use up to 32)
constexpr int kMaxDims = 14;       // spatial dims of a rank-16 tensor

template <class T>
void im2col_panels(const T* x, int64_t channels, const ConvGeom& g, int64_t nr, T* out, ThreadPool* pool) {
  const int nd = g.nd;
  FI_CHECK(nr >= 1 && nr <= kMaxPanel && nd >= 1 && nd <= kMaxDims, NotImplemented, "im2col: panel width ", nr,
           " or ", nd, " spatial dims not supported");
  const int64_t ks = g.kernel_size(), s_out = g.out_size(), s_in = g.in_size(), ck = channels * ks;
  const int64_t panels = (s_out + nr - 1) / nr;
  // Kernel offsets of each kk within a channel, as per-dim positions * dilation.
  std::vector<int64_t> koff(size_t(ks * nd));
  for (int64_t r = 0; r < ks; ++r) {
    int64_t t = r;
    for (int d = nd - 1; d >= 0; --d) {
      koff[size_t(r * nd + d)] = (t % g.k[size_t(d)]) * g.d[size_t(d)];
      t /= g.k[size_t(d)];
    }
  }
  int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, ck * nr));
  parallel_for(pool, panels, grain, [&](int64_t p0, int64_t p1) {
    int64_t base[kMaxPanel * kMaxDims];
    bool valid[kMaxPanel];
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t j = 0; j < nr; ++j) {
        int64_t o = p * nr + j;
        valid[j] = o < s_out;
        for (int d = nd - 1; d >= 0; --d) {
          int64_t od = o % g.out[size_t(d)];
          o /= g.out[size_t(d)];
          base[j * nd + d] = od * g.s[size_t(d)] - g.pad[size_t(d)];
        }
      }
      T* dst = out + p * ck * nr;
      for (int64_t c = 0; c < channels; ++c) {
        const T* xc = x + c * s_in;
        for (int64_t r = 0; r < ks; ++r, dst += nr) {
          const int64_t* kr = &koff[size_t(r * nd)];
          for (int64_t j = 0; j < nr; ++j) {
            T v = T(0);
            if (valid[j]) {
              int64_t idx = 0;
              bool in = true;
              for (int d = 0; d < nd; ++d) {
                int64_t pos = base[j * nd + d] + kr[d];
                if (pos < 0 || pos >= g.in[size_t(d)]) {
                  in = false;
                  break;
                }
                idx = idx * g.in[size_t(d)] + pos;
              }
              if (in) v = xc[idx];
            }
            dst[j] = v;
          }
        }
      }
    }
  });
}

}  // namespace fi::nn
