#include "ops/pool/pool_fast2d.h"

#include <algorithm>
#include <limits>

namespace fi {

namespace {

// max that keeps `a` when v is NaN (as onnxruntime skips NaNs); maps to maxps on x86
inline float fmax_skip(float a, float v) { return v > a ? v : a; }

struct MaxOp {
  float operator()(float a, float v) const { return fmax_skip(a, v); }
};
struct AddOp {
  float operator()(float a, float v) const { return a + v; }
};

// acc[w] = init op x[r0][w] op ... op x[r0 + n - 1][w] over the rows of plane x with width W.
template <class Op>
void fold_rows(const float* __restrict x, int64_t W, int64_t r0, int64_t n, float init, float* __restrict acc, Op op) {
  const float* a = x + r0 * W;
  const float* b = a + W;
  const float* c = b + W;
  switch (n) {
    case 0:
      for (int64_t w = 0; w < W; ++w) acc[w] = init;
      return;
    case 1:
      for (int64_t w = 0; w < W; ++w) acc[w] = op(init, a[w]);
      return;
    case 2:
      for (int64_t w = 0; w < W; ++w) acc[w] = op(op(init, a[w]), b[w]);
      return;
    default:
      for (int64_t w = 0; w < W; ++w) acc[w] = op(op(op(init, a[w]), b[w]), c[w]);
      for (int64_t r = 3; r < n; ++r) {
        const float* xr = a + r * W;
        for (int64_t w = 0; w < W; ++w) acc[w] = op(acc[w], xr[w]);
      }
  }
}

// o[i] = post(a[i*S] op a[i*S + 1] [op a[i*S + 2]], i) for i < n (compile-time S, K = 2 or 3;
// written out without an inner loop, which GCC would not vectorise for K = 2).
template <int S, int K, class Op, class Post>
void hwin_fixed(const float* __restrict a, float* __restrict o, int64_t n, Op op, Post post) {
  static_assert(K == 2 || K == 3, "K must be 2 or 3");
  for (int64_t i = 0; i < n; ++i) {
    float v = op(a[i * S], a[i * S + 1]);
    if constexpr (K == 3) v = op(v, a[i * S + 2]);
    o[i] = post(v, i);
  }
}

// The same for a run-time kernel k (one pass per tap) and compile-time stride S.
template <int S, class Op, class Post>
void hwin_k(const float* __restrict a, float* __restrict o, int64_t n, int64_t k, Op op, Post post) {
  for (int64_t i = 0; i < n; ++i) o[i] = a[i * S];
  for (int64_t j = 1; j < k; ++j)
    for (int64_t i = 0; i < n; ++i) o[i] = op(o[i], a[i * S + j]);
  for (int64_t i = 0; i < n; ++i) o[i] = post(o[i], i);
}

// Run-time stride and kernel.
template <class Op, class Post>
void hwin_any(const float* __restrict a, float* __restrict o, int64_t n, int64_t s, int64_t k, Op op, Post post) {
  for (int64_t i = 0; i < n; ++i) {
    const float* p = a + i * s;
    float v = p[0];
    for (int64_t j = 1; j < k; ++j) v = op(v, p[j]);
    o[i] = post(v, i);
  }
}

template <class Op, class Post>
void hwin(const float* __restrict a, float* __restrict o, int64_t n, int64_t s, int64_t k, Op op, Post post) {
  if (s == 1) {
    if (k == 2) return hwin_fixed<1, 2>(a, o, n, op, post);
    if (k == 3) return hwin_fixed<1, 3>(a, o, n, op, post);
    return hwin_k<1>(a, o, n, k, op, post);
  }
  if (s == 2) {
    if (k == 2) return hwin_fixed<2, 2>(a, o, n, op, post);
    if (k == 3) return hwin_fixed<2, 3>(a, o, n, op, post);
    return hwin_k<2>(a, o, n, k, op, post);
  }
  hwin_any(a, o, n, s, k, op, post);
}

}  // namespace

bool pool2d_fast_ok(const PoolGeom& g) {
  if (g.nsp > 2 || g.d[1] != 1 || g.d[2] != 1 || g.out[2] < 1) return false;
  // the padded row buffer must stay near the input width (ONNX models keep pads < kernel)
  return g.pad_head[2] <= 64 && pool2d_buffer_len(g) <= 2 * g.in[2] + 256;
}

int64_t pool2d_buffer_len(const PoolGeom& g) {
  return std::max((g.out[2] - 1) * g.s[2] + g.k[2], g.pad_head[2] + g.in[2]);
}

void maxpool2d_f32(const PoolGeom& g, const std::vector<PoolGeom::Taps>& th, const float* x, float* y, float* buf) {
  const float lowest = std::numeric_limits<float>::lowest();
  int64_t W = g.in[2], OW = g.out[2], L = pool2d_buffer_len(g), ph = g.pad_head[2];
  std::fill(buf, buf + L, lowest);  // padding columns never win (NaNs were mapped to lowest)
  for (int64_t oh = 0; oh < g.out[1]; ++oh) {
    const PoolGeom::Taps& t = th[size_t(oh)];
    fold_rows(x, W, t.p0, t.n, lowest, buf + ph, MaxOp());
    hwin(buf, y + oh * OW, OW, g.s[2], g.k[2], MaxOp(), [](float v, int64_t) { return v; });
  }
}

void avgpool2d_f32(const PoolGeom& g, const std::vector<PoolGeom::Taps>& th, const float* inv_cols, bool include_pad,
                   const float* x, float* y, float* buf) {
  int64_t W = g.in[2], OW = g.out[2], L = pool2d_buffer_len(g), ph = g.pad_head[2];
  std::fill(buf, buf + L, 0.f);
  for (int64_t oh = 0; oh < g.out[1]; ++oh) {
    const PoolGeom::Taps& t = th[size_t(oh)];
    float* yr = y + oh * OW;
    fold_rows(x, W, t.p0, t.n, 0.f, buf + ph, AddOp());
    // 1 / count as two reciprocals (within 2 ulp of the quotient); an empty window gives 0 * inf = NaN
    float inv_rows = 1.f / float(include_pad ? t.npad : t.n);
    hwin(buf, yr, OW, g.s[2], g.k[2], AddOp(),
         [inv_rows, inv_cols](float v, int64_t o) { return v * (inv_rows * inv_cols[o]); });
  }
}

void pool2d_inv_col_counts(const std::vector<PoolGeom::Taps>& tw, bool include_pad, float* inv_cols) {
  for (size_t o = 0; o < tw.size(); ++o) inv_cols[o] = 1.f / float(include_pad ? tw[o].npad : tw[o].n);
}

}  // namespace fi
