// im2col straight into the packed-panel layout of kernels/gemm.h: for one group of one image,
// B(kk, o) = X[c, o*stride - pad + kpos*dilation] (0 outside), kk = c*prod(k) + kernel offset,
// stored as panels of nr output positions: out[p*Ck*nr + kk*nr + j], o = p*nr + j (0 past the end).
// With nr == 1 this is the plain [S_out, Ck] matrix (col^T).
// A panel is cut into segments of consecutive positions along the last spatial dim; each segment
// is a strided (or, at stride 1, contiguous) run of one input row between two zero-filled ends.
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/nn/conv_util.h"

namespace fi::nn {

constexpr int64_t kMaxPanel = 64;  // widest nr supported (the GEMM kernels use up to 32)
constexpr int kMaxDims = 14;       // spatial dims of a rank-16 tensor

// True for a 1x1 convolution with stride 1 and no padding (the input plane is already col).
inline bool is_pointwise(const ConvGeom& g) {
  for (int d = 0; d < g.nd; ++d)
    if (g.k[size_t(d)] != 1 || g.s[size_t(d)] != 1 || g.pad[size_t(d)] != 0 || g.in[size_t(d)] != g.out[size_t(d)])
      return false;
  return true;
}

template <class T>
void im2col_panels(const T* x, int64_t channels, const ConvGeom& g, int64_t nr, T* out, ThreadPool* pool) {
  const int nd = g.nd;
  FI_CHECK(nr >= 1 && nr <= kMaxPanel && nd >= 1 && nd <= kMaxDims, NotImplemented, "im2col: panel width ", nr,
           " or ", nd, " spatial dims not supported");
  const int64_t ks = g.kernel_size(), s_out = g.out_size(), s_in = g.in_size(), ck = channels * ks;
  const int64_t panels = (s_out + nr - 1) / nr;
  const size_t last = size_t(nd - 1);
  const int64_t out_last = g.out[last], in_last = g.in[last], st_last = g.s[last], pad_last = g.pad[last];
  // Kernel offsets of each kk within a channel, as per-dim positions * dilation (on the stack for
  // the usual kernels, so a steady-state run allocates nothing here).
  int64_t koff_small[512];
  std::vector<int64_t> koff_big;
  int64_t* koff = koff_small;
  if (ks * nd > 512) {
    koff_big.resize(size_t(ks * nd));
    koff = koff_big.data();
  }
  for (int64_t r = 0; r < ks; ++r) {
    int64_t t = r;
    for (int d = nd - 1; d >= 0; --d) {
      koff[r * nd + d] = (t % g.k[size_t(d)]) * g.d[size_t(d)];
      t /= g.k[size_t(d)];
    }
  }
  int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, ck * nr));
  if (is_pointwise(g)) {  // 1x1, stride 1, no padding: each panel row is a plain run of one channel
    parallel_for(pool, panels, grain, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        int64_t o = p * nr, len = std::min(nr, s_out - o);
        T* dst = out + p * ck * nr;
        for (int64_t c = 0; c < channels; ++c, dst += nr) {
          std::memcpy(static_cast<void*>(dst), x + c * s_in + o, size_t(len) * sizeof(T));
          for (int64_t j = len; j < nr; ++j) dst[j] = T(0);
        }
      }
    });
    return;
  }
  parallel_for(pool, panels, grain, [&](int64_t p0, int64_t p1) {
    // Segments of the panel: first position along the last dim, length, and the outer dims'
    // input base coordinates (o_d * stride - pad).
    int64_t seg_ow[kMaxPanel], seg_len[kMaxPanel], seg_base[kMaxPanel * kMaxDims];
    for (int64_t p = p0; p < p1; ++p) {
      int64_t nseg = 0, o = p * nr, filled = 0;
      while (filled < nr && o < s_out) {
        int64_t ow = o % out_last, outer = o / out_last;
        int64_t len = std::min(nr - filled, out_last - ow);
        len = std::min(len, s_out - o);
        for (int d = nd - 2; d >= 0; --d) {
          seg_base[nseg * nd + d] = (outer % g.out[size_t(d)]) * g.s[size_t(d)] - g.pad[size_t(d)];
          outer /= g.out[size_t(d)];
        }
        seg_ow[nseg] = ow;
        seg_len[nseg] = len;
        ++nseg;
        filled += len;
        o += len;
      }
      T* dst = out + p * ck * nr;
      for (int64_t c = 0; c < channels; ++c) {
        const T* xc = x + c * s_in;
        for (int64_t r = 0; r < ks; ++r, dst += nr) {
          const int64_t* kr = &koff[r * nd];
          // Valid range [lo, hi) of positions along the last dim for this kernel offset.
          int64_t a = pad_last - kr[last];
          int64_t lo = a > 0 ? (a + st_last - 1) / st_last : 0;
          int64_t b = in_last - 1 + pad_last - kr[last];
          int64_t hi = b < 0 ? 0 : b / st_last + 1;
          int64_t j = 0;
          for (int64_t sgi = 0; sgi < nseg; ++sgi) {
            int64_t ow = seg_ow[sgi], len = seg_len[sgi];
            int64_t row = 0;
            bool in = true;
            for (int d = 0; d < nd - 1; ++d) {
              int64_t pos = seg_base[sgi * nd + d] + kr[d];
              if (pos < 0 || pos >= g.in[size_t(d)]) {
                in = false;
                break;
              }
              row = row * g.in[size_t(d)] + pos;
            }
            T* dj = dst + j;
            int64_t t0 = in ? std::clamp(lo - ow, int64_t(0), len) : len;
            int64_t t1 = in ? std::clamp(hi - ow, t0, len) : len;
            for (int64_t t = 0; t < t0; ++t) dj[t] = T(0);
            if (t1 > t0) {
              const T* src = xc + row * in_last + ((ow + t0) * st_last - pad_last + kr[last]);
              if (st_last == 1) {
                std::memcpy(static_cast<void*>(dj + t0), src, size_t(t1 - t0) * sizeof(T));
              } else {
                for (int64_t t = t0; t < t1; ++t) dj[t] = src[(t - t0) * st_last];
              }
            }
            for (int64_t t = t1; t < len; ++t) dj[t] = T(0);
            j += len;
          }
          for (; j < nr; ++j) dst[j] = T(0);
        }
      }
    }
  });
}

}  // namespace fi::nn
