// The channels-last fp32 Winograd F(4,3) driver: transform selection, weight transform and packing,
// tile blocking and the thread split (see kernels/winograd_nhwc.h).
#include <algorithm>
#include <atomic>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/winograd.h"
#include "kernels/winograd_nhwc.h"

namespace fi::kernels {

namespace {

constexpr int kA2 = 36;                   // alpha^2 transform points
constexpr int64_t kL2Floats = 96 * 1024;  // V and Mt of one block: ~384 KB, inside a 1 MB L2

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Blocking {
  int64_t tiles_h = 0, tiles_w = 0, tiles = 0, tb = 0, blocks = 0, workers = 1;
  size_t worker_floats = 0;  // V [36][tb][C] and Mt [36][tb][M]
};

// Tiles per block: V and Mt in L2, but at least as many as balance the traffic of the 36 packed
// weight matrices (read once per block) against that of V and Mt, within 16..32 (measured on
// ResNet-50's 3x3 layers, Zen 4: 16-32 within noise of each other, 48-96 up to 15% slower at
// 256-512 channels); a multiple of the GEMM's rows per microkernel tile, and small enough to
// give every thread a block.
Blocking make_blocking(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, int threads) {
  Blocking b;
  b.tiles_h = ceil_div(g.out_h, 4);
  b.tiles_w = ceil_div(g.out_w, 4);
  b.tiles = g.n * b.tiles_h * b.tiles_w;
  const int64_t mr = p.u.empty() || !p.u[0].kernel ? 8 : p.u[0].kernel->mr;
  const int64_t per_tile = kA2 * (p.c + p.m);
  int64_t tb = std::max(kL2Floats / per_tile, p.c * p.m / (p.c + p.m));
  tb = std::min<int64_t>(std::max<int64_t>(tb, 16), 32);
  threads = std::max(1, threads);
  tb = std::min(tb, ceil_div(std::max<int64_t>(b.tiles, 1), threads));
  tb = std::max<int64_t>(1, tb >= mr ? tb / mr * mr : tb);
  b.tb = tb;
  b.blocks = ceil_div(b.tiles, tb);
  b.workers = std::max<int64_t>(1, std::min<int64_t>(threads, b.blocks));
  b.worker_floats = size_t(kA2 * tb * (p.c + p.m));
  return b;
}

}  // namespace

const F32WinogradNhwcKernel& select_f32_winograd_nhwc() {
  static const F32WinogradNhwcKernel table[] = {
      {"f32_winograd_nhwc_4x3__avx512", int(IsaTier::Avx512), f32_winograd_nhwc_4x3__avx512_input,
       f32_winograd_nhwc_4x3__avx512_output},
      {"f32_winograd_nhwc_4x3__avx2", int(IsaTier::Avx2), f32_winograd_nhwc_4x3__avx2_input,
       f32_winograd_nhwc_4x3__avx2_output},
      {"f32_winograd_nhwc_4x3__ref", int(IsaTier::Ref), f32_winograd_nhwc_4x3__ref_input,
       f32_winograd_nhwc_4x3__ref_output},
  };
  for (const F32WinogradNhwcKernel& k : table)
    if (k.tier <= int(isa_tier())) return k;
  return table[2];
}

F32WinogradNhwcPlan f32_winograd_nhwc_plan(const float* w, int64_t m, int64_t c) {
  FI_CHECK(m >= 1 && c >= 1, InvalidArgument, "Winograd: empty weights");
  // U[xi][m][c] = (G W G^T)[xi] in double (the NCHW plan, one group), packed per xi as B = U_xi^T.
  const F32WinogradPlan t = f32_winograd_plan(4, w, 1, c, m);
  F32WinogradNhwcPlan p;
  p.c = c;
  p.m = m;
  p.u.reserve(kA2);
  for (int xi = 0; xi < kA2; ++xi) p.u.push_back(f32_pack_weights(c, m, t.u.get() + xi * m * c, 1, c, 64));
  return p;
}

size_t f32_winograd_nhwc_scratch_size(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, int threads) {
  const Blocking b = make_blocking(p, g, threads);
  return size_t(b.workers) * b.worker_floats;
}

bool f32_winograd_nhwc_conv(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, const float* x,
                            const float* bias, const float* residual, float clamp_min, float clamp_max, float* y,
                            float* scratch, ThreadPool* pool) {
  const int threads = pool ? pool->num_threads() : 1;
  const Blocking b = make_blocking(p, g, threads);
  if (b.tiles == 0 || p.m == 0) return true;
  const F32WinogradNhwcKernel& tr = select_f32_winograd_nhwc();
  const int64_t C = p.c, M = p.m, tb = b.tb, per_image = b.tiles_h * b.tiles_w;
  WinogradNhwcOut st;
  st.m = M;
  st.out_w = g.out_w;
  st.bias = bias;
  st.lo = clamp_min;
  st.hi = clamp_max;
  const Epilogue plain;
  std::atomic<bool> bad{false};
  parallel_for(pool, b.workers, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t wk = w0; wk < w1; ++wk) {
      float* v = scratch + size_t(wk) * b.worker_floats;
      float* mt = v + kA2 * tb * C;
      for (int64_t blk = wk; blk < b.blocks && !bad.load(std::memory_order_relaxed); blk += b.workers) {
        const int64_t t0 = blk * tb, nt = std::min(tb, b.tiles - t0);
        bool ok = true;
        for (int64_t i = 0; i < nt; ++i) {
          const int64_t t = t0 + i, img = t / per_image, ty = (t / b.tiles_w) % b.tiles_h, tx = t % b.tiles_w;
          ok &= tr.input(x + img * g.in_h * g.in_w * C, g.in_h, g.in_w, C, ty * 4 - g.pad_top, tx * 4 - g.pad_left,
                   v + i * C, tb * C);
        }
        if (!ok) {
          bad.store(true, std::memory_order_relaxed);
          return;
        }
        for (int xi = 0; xi < kA2; ++xi)
          f32_gemm(*p.u[xi].kernel, nt, M, C, v + xi * tb * C, C, p.u[xi].b, mt + xi * tb * M, M, plain, nullptr);
        for (int64_t i = 0; i < nt; ++i) {
          const int64_t t = t0 + i, img = t / per_image, oy = (t / b.tiles_w) % b.tiles_h * 4, ox = t % b.tiles_w * 4;
          const int64_t off = ((img * g.out_h + oy) * g.out_w + ox) * M;
          tr.output(mt + i * M, tb * M, st, y + off, residual ? residual + off : nullptr,
                    int(std::min<int64_t>(4, g.out_h - oy)), int(std::min<int64_t>(4, g.out_w - ox)));
        }
      }
    }
  });
  return !bad.load();
}

}  // namespace fi::kernels
