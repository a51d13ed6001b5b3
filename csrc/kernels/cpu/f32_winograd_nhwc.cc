// The channels-last fp32 Winograd F(4,3) / F(2,3) driver: transform selection, weight transform and packing,
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

constexpr int kA2Max = 36;                // alpha^2 transform points, F(4,3)
constexpr int64_t kL2Floats = 96 * 1024;  // V and Mt of one block: ~384 KB, inside a 1 MB L2
constexpr int64_t kTapsL2Floats = 64 * 1024;  // a compact plan's 9 tap slices of one task: 256 KB

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Blocking {
  int64_t tiles_h = 0, tiles_w = 0, tiles = 0, tb = 0, blocks = 0;
  int64_t slices = 1, slice_cols = 0;  // output channels per task: a multiple of the GEMM's nr
  int64_t tasks = 0, slots = 1;
  size_t slot_floats = 0;  // V [alpha^2][tb][C] and Mt [alpha^2][tb][slice_cols]
};

// Tiles per block: V and Mt in L2, but at least as many as balance the traffic of the alpha^2
// packed weight matrices (read once per block) against that of V and Mt, within 16..32 (measured on
// ResNet-50's 3x3 layers, Zen 4: 16-32 within noise of each other, 48-96 up to 15% slower at
// 256-512 channels); a multiple of the GEMM's rows per microkernel tile, unless that would take
// one block more (16 tiles as 12 + 4 would read a 7x7 layer's weights, the bulk of its traffic,
// twice: then the blocks are balanced instead, 16 as one, 49 as 25 + 24). With fewer than
// 4 blocks per thread, the output channels are split as well (up to that many tasks): the
// weights are then still read once per block, where smaller blocks would read them once each.
Blocking make_blocking(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, int threads) {
  Blocking b;
  b.tiles_h = ceil_div(g.out_h, p.tile);
  b.tiles_w = ceil_div(g.out_w, p.tile);
  b.tiles = g.n * b.tiles_h * b.tiles_w;
  const bool planned = !(p.compact() ? p.taps : p.u).empty() && p.first().kernel;
  const int64_t mr = planned ? p.first().kernel->mr : 8, nr = planned ? p.first().kernel->nr : 16;
  const int64_t per_tile = p.points() * (p.c + p.m);
  int64_t tb = std::max(kL2Floats / per_tile, p.c * p.m / (p.c + p.m));
  tb = std::min<int64_t>(std::max<int64_t>(tb, 16), 32);
  tb = std::min(tb, std::max<int64_t>(b.tiles, 1));
  const int64_t fewest = ceil_div(std::max<int64_t>(b.tiles, 1), tb);
  tb = std::max<int64_t>(1, tb >= mr ? tb / mr * mr : tb);
  if (ceil_div(b.tiles, tb) > fewest) tb = ceil_div(b.tiles, fewest);
  b.tb = tb;
  b.blocks = ceil_div(b.tiles, tb);
  threads = std::max(1, threads);
  const int64_t panels = ceil_div(p.m, nr);
  int64_t want = threads > 1 ? ceil_div(4 * int64_t(threads), std::max<int64_t>(b.blocks, 1)) : 1;
  // A compact plan rebuilds each U_xi from the taps' columns of the task: those 9 slices must stay
  // in L2 across the 36 xi, so a slice holds at most kTapsL2Floats / (9 C) columns.
  if (p.compact()) want = std::max(want, ceil_div(panels, std::max<int64_t>(1, kTapsL2Floats / (9 * p.c * nr))));
  const int64_t slices = std::max<int64_t>(1, std::min(panels, want));
  b.slice_cols = ceil_div(panels, slices) * nr;
  b.slices = ceil_div(p.m, b.slice_cols);
  b.tasks = b.blocks * b.slices;
  // Every thread of the job gets a slot: a job may hold more threads than this conv has tasks
  // (the shared-V phase has one item per tile, a chained job the other nodes' tasks; slots for
  // the tasks alone let a 20x20 layer on 3 threads write past the scratch).
  b.slots = threads;
  b.slot_floats = size_t(p.points() * tb * (p.c + std::min(p.m, b.slice_cols)));
  if (p.compact()) b.slot_floats += size_t(p.c * b.slice_cols);  // one U_xi's columns
  return b;
}

// A compact plan's U_xi (F(4,3)) as a sum of taps: for each xi the taps with a nonzero
// coefficient and their coefficients (G (x) G), read off the transform of each one-hot 3x3 kernel.
struct TapSums {
  int n[kA2Max];
  int tap[kA2Max][9];
  float coef[kA2Max][9];
  TapSums() {
    for (int t = 0; t < 9; ++t) {
      float unit[9] = {};
      unit[t] = 1.f;
      double u[kA2Max];
      f32_winograd_weight_transform(4, unit, u);
      for (int xi = 0; xi < kA2Max; ++xi) {
        if (t == 0) n[xi] = 0;
        const float c = float(u[xi]);
        if (c != 0.f) {
          tap[xi][n[xi]] = t;
          coef[xi][n[xi]++] = c;
        }
      }
    }
  }
};

const TapSums& tap_sums() {
  static const TapSums s;
  return s;
}

}  // namespace

#define FI_WINOGRAD_NHWC_ENTRY(isa, tier, m)                                                            \
  {"f32_winograd_nhwc_" #m "x3__" #isa, int(IsaTier::tier), m, f32_winograd_nhwc_##m##x3__##isa##_input, \
   f32_winograd_nhwc_##m##x3__##isa##_output, f32_winograd_nhwc__##isa##_weights}

const F32WinogradNhwcKernel& select_f32_winograd_nhwc(int tile) {
  FI_CHECK(tile == 4 || tile == 2, InvalidArgument, "Winograd NHWC: tile size must be 4 or 2, got ", tile);
  static const F32WinogradNhwcKernel table[] = {
      FI_WINOGRAD_NHWC_ENTRY(avx512, Avx512, 4), FI_WINOGRAD_NHWC_ENTRY(avx2, Avx2, 4),
      FI_WINOGRAD_NHWC_ENTRY(ref, Ref, 4),       FI_WINOGRAD_NHWC_ENTRY(avx512, Avx512, 2),
      FI_WINOGRAD_NHWC_ENTRY(avx2, Avx2, 2),     FI_WINOGRAD_NHWC_ENTRY(ref, Ref, 2),
  };
  for (const F32WinogradNhwcKernel& k : table)
    if (k.tile == tile && k.tier <= int(isa_tier())) return k;
  return table[tile == 4 ? 2 : 5];
}
#undef FI_WINOGRAD_NHWC_ENTRY

F32WinogradNhwcPlan f32_winograd_nhwc_plan(const float* w, int64_t m, int64_t c, int tile) {
  FI_CHECK(m >= 1 && c >= 1, InvalidArgument, "Winograd: empty weights");
  FI_CHECK(tile == 4 || tile == 2, InvalidArgument, "Winograd NHWC: tile size must be 4 or 2, got ", tile);
  F32WinogradNhwcPlan p;
  p.c = c;
  p.m = m;
  p.tile = tile;
  const int a2 = p.points();
  // U[xi][m][c] = (G W G^T)[xi] in double, packed per xi as B = U_xi^T.
  std::vector<float> u(size_t(a2 * m * c));
  double one[kA2Max];
  for (int64_t mo = 0; mo < m; ++mo)
    for (int64_t ci = 0; ci < c; ++ci) {
      f32_winograd_weight_transform(tile, w + (mo * c + ci) * 9, one);
      for (int xi = 0; xi < a2; ++xi) u[size_t((xi * m + mo) * c + ci)] = float(one[xi]);
    }
  p.u.reserve(size_t(a2));
  for (int xi = 0; xi < a2; ++xi) p.u.push_back(f32_pack_weights(c, m, u.data() + xi * m * c, 1, c, 64));
  return p;
}

F32WinogradNhwcPlan f32_winograd_nhwc_compact_plan(const float* w, int64_t m, int64_t c) {
  FI_CHECK(m >= 1 && c >= 1, InvalidArgument, "Winograd: empty weights");
  F32WinogradNhwcPlan p;
  p.c = c;
  p.m = m;
  p.taps.reserve(9);
  for (int t = 0; t < 9; ++t) p.taps.push_back(f32_pack_weights(c, m, w + t, 9, c * 9, 64));
  return p;
}

void f32_winograd_nhwc_weights(const F32WinogradNhwcPlan& p, float* w) {
  if (p.compact()) {
    for (int t = 0; t < 9; ++t) {
      const F32PackedB& b = p.taps[size_t(t)].b;
      for (int64_t m = 0; m < p.m; ++m)
        for (int64_t c = 0; c < p.c; ++c) w[(m * p.c + c) * 9 + t] = f32_packed_b_at(b, c, m);
    }
    return;
  }
  // Each L row's nonzero taps (index into 0..alpha-1, coefficient), F(4,3) and F(2,3).
  static const int kTaps4[3][2] = {{0, -1}, {1, 2}, {5, -1}}, kTaps2[3][2] = {{0, -1}, {1, 2}, {3, -1}};
  static const double kCoef4[3][2] = {{4, 0}, {-3, 3}, {1, 0}}, kCoef2[3][2] = {{1, 0}, {1, -1}, {1, 0}};
  const int(*kTaps)[2] = p.tile == 4 ? kTaps4 : kTaps2;
  const double(*kCoef)[2] = p.tile == 4 ? kCoef4 : kCoef2;
  const int A = p.alpha();
  for (int64_t m = 0; m < p.m; ++m)
    for (int64_t c = 0; c < p.c; ++c) {
      double u[6][6];  // U[a][b] for this (m, c), read from the packed B of each xi = a * alpha + b
      for (int xi = 0; xi < A * A; ++xi) u[xi / A][xi % A] = f32_packed_b_at(p.u[size_t(xi)].b, c, m);
      for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx) {
          double s = 0;
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j)
              if (kTaps[ky][i] >= 0 && kTaps[kx][j] >= 0)
                s += kCoef[ky][i] * kCoef[kx][j] * u[kTaps[ky][i]][kTaps[kx][j]];
          w[((m * p.c + c) * 3 + ky) * 3 + kx] = float(s);
        }
    }
}

// With several output-channel slices per block, the blocks' V are made once, in a first phase,
// into a shared region (each slice's task would otherwise transform the block's input again:
// ResNet-50's 14x14 layers at batch 1 on 2 threads are one block in 8 slices); the per-slot part
// then holds Mt (and a compact plan's U_xi) only.
namespace {
size_t shared_v_floats(const Blocking& b, int a2, int64_t c) {
  return b.slices > 1 ? size_t(b.blocks * a2 * b.tb * c) : 0;
}
size_t slot_floats(const Blocking& b, int a2, int64_t c) {
  return b.slot_floats - (b.slices > 1 ? size_t(a2 * b.tb * c) : 0);
}
}  // namespace

size_t f32_winograd_nhwc_scratch_size(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, int threads) {
  const Blocking b = make_blocking(p, g, threads);
  return shared_v_floats(b, p.points(), p.c) + size_t(b.slots) * slot_floats(b, p.points(), p.c);
}

struct F32WinogradNhwcTasks::Impl {
  const F32WinogradNhwcPlan& p;
  WinogradNhwcGeom g;
  const float *x, *bias, *residual;
  float lo, hi;
  float* y;
  Activation act;
  Blocking b;
  const F32WinogradNhwcKernel& tr;
  const TapSums& sums;
  int a2, T;
  int64_t C, M, tb, per_image, ldy;
  bool shared;
  float *shared_v, *slots;
  size_t per_slot;
  mutable std::atomic<bool> bad{false};

  Impl(const F32WinogradNhwcPlan& p_, const WinogradNhwcGeom& g_, const float* x_, const float* bias_,
       const float* residual_, float lo_, float hi_, float* y_, float* scratch, int threads, Activation act_)
      : p(p_), g(g_), x(x_), bias(bias_), residual(residual_), lo(lo_), hi(hi_), y(y_), act(act_),
        b(make_blocking(p_, g_, threads)), tr(select_f32_winograd_nhwc(p_.tile)), sums(tap_sums()),
        a2(p_.points()), T(p_.tile), C(p_.c), M(p_.m), tb(b.tb), per_image(b.tiles_h * b.tiles_w),
        ldy(g_.y_stride > 0 ? g_.y_stride : p_.m), shared(b.slices > 1), shared_v(scratch),
        slots(scratch + shared_v_floats(b, a2, C)), per_slot(slot_floats(b, a2, C)) {}

  // V [alpha^2][tb][C] of tiles [i0, i1) of block blk; false when a tile holds a value Winograd rejects.
  bool input_tiles(int64_t blk, int64_t i0, int64_t i1, float* v) const {
    bool ok = true;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = blk * tb + i, img = t / per_image, ty = (t / b.tiles_w) % b.tiles_h, tx = t % b.tiles_w;
      ok &= tr.input(x + img * g.in_h * g.in_w * C, g.in_h, g.in_w, C, ty * T - g.pad_top, tx * T - g.pad_left,
                     v + i * C, tb * C);
    }
    return ok;
  }

  // The alpha^2 GEMMs of block blk over output channels [m0, m0 + mc), then the output transforms.
  void gemm_output(int64_t blk, int64_t m0, int64_t mc, const float* v, float* mt, float* uxi) const {
    const Epilogue plain;
    const int64_t first = blk * tb, nt = std::min(tb, b.tiles - first);
    for (int xi = 0; xi < a2; ++xi) {
      if (!p.compact()) {
        f32_gemm(*p.u[xi].kernel, nt, mc, C, v + xi * tb * C, C, f32_packed_b_columns(p.u[xi].b, m0, mc),
                 mt + xi * tb * mc, mc, plain, nullptr);
        continue;
      }
      const float* src[9];
      F32PackedB u;
      for (int k = 0; k < sums.n[xi]; ++k) {
        u = f32_packed_b_columns(p.taps[size_t(sums.tap[xi][k])].b, m0, mc);
        src[k] = u.data;
      }
      tr.weights(src, sums.coef[xi], sums.n[xi], ceil_div(mc, u.nr) * u.nr * C, uxi);
      u.data = uxi;
      f32_gemm(*p.taps[0].kernel, nt, mc, C, v + xi * tb * C, C, u, mt + xi * tb * mc, mc, plain, nullptr);
    }
    WinogradNhwcOut st;
    st.m = mc;
    st.out_w = g.out_w;
    st.ldy = ldy;
    st.ldr = M;
    st.bias = bias ? bias + m0 : nullptr;
    st.lo = lo;
    st.hi = hi;
    for (int64_t i = 0; i < nt; ++i) {
      const int64_t t = first + i, img = t / per_image, oy = (t / b.tiles_w) % b.tiles_h * T, ox = t % b.tiles_w * T;
      const int64_t pix = (img * g.out_h + oy) * g.out_w + ox, off = pix * ldy + m0;
      const int rows = int(std::min<int64_t>(T, g.out_h - oy)), cols = int(std::min<int64_t>(T, g.out_w - ox));
      tr.output(mt + i * mc, tb * mc, st, y + off, residual ? residual + pix * M + m0 : nullptr, rows, cols);
      if (act != Activation::None)
        for (int u = 0; u < rows; ++u) {
          float* yr = y + off + u * g.out_w * ldy;
          if (mc == ldy) f32_activation(act, yr, yr, cols * ldy);  // the tile row's pixels are one run
          else
            for (int w = 0; w < cols; ++w) f32_activation(act, yr + w * ldy, yr + w * ldy, mc);
        }
    }
  }

  // Phase 0 (shared V only): the input transforms, by tile; phase 1: the (block, slice) tasks.
  void run(int phase, int slot, int64_t t0, int64_t t1) const {
    if (phase == 0) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t blk = t / tb, i = t % tb;
        if (blk * tb + i < b.tiles && !input_tiles(blk, i, i + 1, shared_v + blk * a2 * tb * C))
          bad.store(true, std::memory_order_relaxed);
      }
      return;
    }
    float* own = slots + size_t(slot) * per_slot;
    float* v = shared ? nullptr : own;
    float* mt = shared ? own : own + a2 * tb * C;
    float* uxi = mt + a2 * tb * std::min(M, b.slice_cols);  // compact plans: one U_xi's columns
    for (int64_t task = t0; task < t1 && !bad.load(std::memory_order_relaxed); ++task) {
      const int64_t blk = task / b.slices, m0 = task % b.slices * b.slice_cols, mc = std::min(b.slice_cols, M - m0);
      if (shared) {
        v = shared_v + blk * a2 * tb * C;
      } else if (!input_tiles(blk, 0, std::min(tb, b.tiles - blk * tb), v)) {
        bad.store(true, std::memory_order_relaxed);
        return;
      }
      gemm_output(blk, m0, mc, v, mt, uxi);
    }
  }
};

F32WinogradNhwcTasks::F32WinogradNhwcTasks(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, const float* x,
                                           const float* bias, const float* residual, float clamp_min, float clamp_max,
                                           float* y, float* scratch, int threads, Activation act)
    : impl_(std::make_unique<Impl>(p, g, x, bias, residual, clamp_min, clamp_max, y, scratch, threads, act)) {}
F32WinogradNhwcTasks::~F32WinogradNhwcTasks() = default;

int64_t F32WinogradNhwcTasks::n(int phase) const {
  const Blocking& b = impl_->b;
  if (b.tiles == 0 || impl_->M == 0) return 0;
  return phase == 0 ? (impl_->shared ? b.blocks * b.tb : 0) : b.tasks;
}
int64_t F32WinogradNhwcTasks::grain(int phase) const { return phase == 0 ? 4 : 1; }
void F32WinogradNhwcTasks::run(int phase, int slot, int64_t begin, int64_t end) const {
  impl_->run(phase, slot, begin, end);
}
bool F32WinogradNhwcTasks::ok() const { return !impl_->bad.load(); }

bool f32_winograd_nhwc_conv(const F32WinogradNhwcPlan& p, const WinogradNhwcGeom& g, const float* x,
                            const float* bias, const float* residual, float clamp_min, float clamp_max, float* y,
                            float* scratch, ThreadPool* pool, Activation act) {
  const F32WinogradNhwcTasks tasks(p, g, x, bias, residual, clamp_min, clamp_max, y, scratch,
                                   pool ? pool->num_threads() : 1, act);
  const int64_t n[2] = {tasks.n(0), tasks.n(1)}, grain[2] = {tasks.grain(0), tasks.grain(1)};
  parallel_phases(pool, 2, n, grain, [&](int phase, int slot, int64_t t0, int64_t t1) { tasks.run(phase, slot, t0, t1); });
  return tasks.ok();
}

}  // namespace fi::kernels
