#include "ops/pool/pool_fast2d.h"

#include <algorithm>
#include <limits>

namespace fi {

bool pool2d_fast_ok(const PoolGeom& g) {
  if (g.nsp > 2 || g.d[1] != 1 || g.d[2] != 1 || g.out[2] < 1 || g.pad_head[2] > 64 || g.s[2] > 64) return false;
  // the padded rows must stay near the input width (ONNX models keep pads < kernel)
  return (g.out[2] - 1) * g.s[2] + g.k[2] <= 2 * g.in[2] + 256;
}

Pool2dPlan pool2d_plan(const PoolGeom& g, bool max, bool include_pad) {
  Pool2dPlan p;
  p.k = &kernels::select_f32_pool();
  p.g = g;
  p.max = max;
  p.th = pool_taps(g, 1);
  const int64_t OH = g.out[1], OW = g.out[2], W = g.in[2], sw = g.s[2];
  const int64_t need = std::max((OW - 1) * sw + g.k[2], g.pad_head[2] + W);
  p.vs = (need + sw - 1) / sw * sw;
  p.oh0 = p.oh1 = 0;
  for (int64_t oh = 0; oh < OH; ++oh)
    if (p.th[size_t(oh)].n == g.k[1]) {
      if (p.oh1 == 0) p.oh0 = oh;
      p.oh1 = oh + 1;
    }
  if (!max) {
    const std::vector<PoolGeom::Taps> tw = pool_taps(g, 2);
    std::vector<float> inv_cols(static_cast<size_t>(OW));
    for (int64_t ow = 0; ow < OW; ++ow) {
      const PoolGeom::Taps& b = tw[size_t(ow)];
      inv_cols[size_t(ow)] = 1.f / float(include_pad ? b.npad : b.n);
    }
    p.scale.resize(size_t(OH * OW));
    for (int64_t oh = 0; oh < OH; ++oh) {
      const PoolGeom::Taps& a = p.th[size_t(oh)];
      // two reciprocals (within 2 ulp of the quotient); an empty window gives 0 * inf = NaN
      const float inv_rows = 1.f / float(include_pad ? a.npad : a.n);
      for (int64_t ow = 0; ow < OW; ++ow) p.scale[size_t(oh * OW + ow)] = inv_rows * inv_cols[size_t(ow)];
    }
  }
  p.buf_len = OH * p.vs + kernels::kPoolSlack;
  const int64_t n = OH * OW;
  if ((sw == 1 || sw == 2) && W == sw * OW && OW < 32 && g.k[2] <= 16 && n <= 16384) {
    p.flat = true;
    p.vs = W;
    p.buf_len = g.pad_head[2] + n * sw + g.k[2] + kernels::kPoolSlack;
    p.masks.assign(size_t(g.k[2] * n + kernels::kPoolSlack), 0u);
    for (int64_t k = 0; k < g.k[2]; ++k)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t col = ow * sw - g.pad_head[2] + k;
        const uint32_t m = (col >= 0 && col < W) == max ? 0u : 0xFFFFFFFFu;  // max: invalid -> NaN; sum: valid -> kept
        for (int64_t oh = 0; oh < OH; ++oh) p.masks[size_t(k * n + oh * OW + ow)] = m;
      }
  }
  return p;
}

std::vector<float> pool2d_buffer(const Pool2dPlan& p) {
  if (p.flat) return std::vector<float>(size_t(p.buf_len), 0.f);  // finite around V: masked taps read it
  return std::vector<float>(size_t(p.buf_len), p.max ? std::numeric_limits<float>::lowest() : 0.f);
}

void pool2d_plane(const Pool2dPlan& p, const float* x, float* y, float* buf) {
  const PoolGeom& g = p.g;
  const kernels::F32PoolKernel& k = *p.k;
  const int64_t OH = g.out[1], W = g.in[2], sh = g.s[1];
  float* v = buf + g.pad_head[2];
  for (int64_t oh = 0; oh < OH; ++oh) {
    if (oh == p.oh0 && p.oh1 > p.oh0) {
      k.fold_rows(p.max, x + (p.oh0 * sh - g.pad_head[1]) * W, W, g.k[1], sh * W, p.oh1 - p.oh0, W, v + p.oh0 * p.vs,
                  p.vs);
      oh = p.oh1 - 1;
      continue;
    }
    const PoolGeom::Taps& t = p.th[size_t(oh)];
    k.fold_rows(p.max, x + t.p0 * W, W, t.n, 0, 1, W, v + oh * p.vs, 0);
  }
  const float* scale = p.max ? nullptr : p.scale.data();
  if (p.flat)
    k.hwin_flat(p.max, buf, OH * g.out[2], g.k[2], g.s[2], reinterpret_cast<const float*>(p.masks.data()), scale, y);
  else
    k.hwin_plane(p.max, buf, p.vs, OH, g.out[2], g.k[2], g.s[2], scale, y);
}

}  // namespace fi
