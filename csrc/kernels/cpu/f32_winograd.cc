// The fp32 Winograd driver: transform table, weight transform, tile blocking, gather/scatter with
// the fused epilogue, and the thread split (see kernels/winograd.h).
#include <algorithm>
#include <cstring>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/winograd.h"

namespace fi::kernels {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// G for each tile size (alpha x 3), in double for the once-per-layer weight transform.
const double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
const double kG4[6][3] = {{1.0 / 4, 0, 0},         {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                          {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
const double kG6[8][3] = {{1, 0, 0},
                          {-2.0 / 9, -2.0 / 9, -2.0 / 9},
                          {-2.0 / 9, 2.0 / 9, -2.0 / 9},
                          {1.0 / 90, 1.0 / 45, 2.0 / 45},
                          {1.0 / 90, -1.0 / 45, 2.0 / 45},
                          {32.0 / 45, 16.0 / 45, 8.0 / 45},
                          {32.0 / 45, -16.0 / 45, 8.0 / 45},
                          {0, 0, 1}};

constexpr int64_t kL2Floats = 96 * 1024;  // V and Mt of one block: ~384 KB, inside a 1 MB L2

// How a call is cut: tiles per block (a multiple of nr), blocks, and whether blocks run one per
// thread (each with its own buffers) or one at a time with each phase split over the pool.
struct Blocking {
  int m = 4, alpha = 6, a2 = 36;
  int64_t nr = 0, tiles_h = 0, tiles_w = 0, tiles = 0, tb = 0, blocks = 0;
  int workers = 1;
  bool per_block = false;
  const F32GemmKernel* gemm = nullptr;
  const F32WinogradKernel* transforms = nullptr;
  size_t worker_floats = 0;  // one worker's V, Mt, gather/output buffers and tile origins
};

Blocking make_blocking(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n, int threads) {
  Blocking b;
  b.m = p.m;
  b.alpha = p.alpha;
  b.a2 = p.alpha * p.alpha;
  b.tiles_h = ceil_div(g.out_h, p.m);
  b.tiles_w = ceil_div(g.out_w, p.m);
  b.tiles = n * b.tiles_h * b.tiles_w;
  // The GEMM kernel kernels::select_f32_gemm picks for this shape (its width is the panel width).
  b.gemm = &select_f32_gemm(p.mg, std::max<int64_t>(b.tiles, 1), p.cg);
  b.transforms = p.transforms;
  if (b.gemm->nr % b.transforms->lanes != 0) {
    const F32WinogradKernel* best = nullptr;  // the ref transforms (1 lane) always fit
    for (const F32WinogradKernel& e : f32_winograd_kernels())
      if (e.m == p.m && f32_winograd_supported(e) && b.gemm->nr % e.lanes == 0 && (!best || e.tier > best->tier))
        best = &e;
    b.transforms = best;
  }
  b.nr = b.gemm->nr;
  const int64_t per_tile = int64_t(b.a2) * (p.cg + p.mg);
  // Tiles per block: V and Mt in L2, but at least as many as balance the traffic of the
  // transformed weights (read once per block) against that of V and Mt.
  const int64_t balance = p.cg * p.mg / std::max<int64_t>(1, 2 * (p.cg + p.mg));
  int64_t tb = std::max<int64_t>(kL2Floats / std::max<int64_t>(1, per_tile), balance);
  tb = std::min<int64_t>(std::max<int64_t>(1, tb / b.nr), 8) * b.nr;
  tb = std::min(tb, ceil_div(std::max<int64_t>(b.tiles, 1), b.nr) * b.nr);
  int64_t blocks = ceil_div(std::max<int64_t>(b.tiles, 1), tb);
  threads = std::max(1, threads);
  if (threads > 1 && b.tiles >= int64_t(threads) * b.nr) {
    // Enough tiles for a block per thread: make the block count a multiple of the threads.
    blocks = ceil_div(blocks, threads) * threads;
    tb = ceil_div(ceil_div(b.tiles, blocks), b.nr) * b.nr;
    blocks = ceil_div(b.tiles, tb);
    b.per_block = blocks >= threads;
  }
  b.tb = tb;
  b.blocks = blocks;
  b.workers = b.per_block ? threads : 1;
  b.worker_floats = (size_t(b.a2) * size_t(tb) * size_t(p.cg + p.mg) + size_t(tb) * 6 + 15) / 16 * 16;
  return b;
}

// Runs fn(part, q0, q1) for `parts` even slices of [0, total) over the pool: part indexes the
// slice's own buffers, whichever thread runs it.
template <class Fn>
void split(ThreadPool* pool, int parts, int64_t total, Fn&& fn) {
  if (parts <= 1 || !pool) {
    fn(0, int64_t(0), total);
    return;
  }
  parallel_for(pool, parts, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) fn(int(w), total * w / parts, total * (w + 1) / parts);
  });
}

struct Call {
  const F32WinogradPlan& p;
  const WinogradGeom& g;
  const Blocking& b;
  const float *x, *bias, *residual;
  float lo, hi;
  float* y;
};

// One block of tiles [t0, t0 + nt) for every group. `inner` splits each phase (null: inline).
void run_block(const Call& k, int64_t t0, int64_t nt, float* work, ThreadPool* inner) {
  const Blocking& b = k.b;
  const F32WinogradPlan& p = k.p;
  const int64_t panels = ceil_div(nt, b.nr), npad = panels * b.nr;
  const int64_t tiles_img = b.tiles_h * b.tiles_w;
  const int64_t c_total = p.groups * p.cg, m_total = p.groups * p.mg;
  // Per tile (int32 views, padded to npad): the gather's offset and top-left input coordinate,
  // the store's offset and its rows and columns inside the output.
  int32_t* off = reinterpret_cast<int32_t*>(work);
  int32_t* iy0 = off + b.tb;
  int32_t* ix0 = iy0 + b.tb;
  int32_t* yoff = ix0 + b.tb;
  int32_t* rows = yoff + b.tb;
  int32_t* cols = rows + b.tb;
  float* v = work + b.tb * 6;
  float* mt = v + size_t(b.a2) * size_t(p.cg) * size_t(b.tb);
  for (int64_t i = 0; i < nt; ++i) {
    const int64_t t = t0 + i, img = t / tiles_img, r = t % tiles_img;
    const int64_t oy = (r / b.tiles_w) * b.m, ox = (r % b.tiles_w) * b.m;
    iy0[i] = int32_t(oy - k.g.pad_top);
    ix0[i] = int32_t(ox - k.g.pad_left);
    off[i] = int32_t(img * c_total * k.g.in_h * k.g.in_w + iy0[i] * k.g.in_w + ix0[i]);
    yoff[i] = int32_t(img * m_total * k.g.out_h * k.g.out_w + oy * k.g.out_w + ox);
    rows[i] = int32_t(std::min<int64_t>(b.m, k.g.out_h - oy));
    cols[i] = int32_t(std::min<int64_t>(b.m, k.g.out_w - ox));
  }
  for (int64_t i = nt; i < npad; ++i) {
    off[i] = yoff[i] = rows[i] = cols[i] = ix0[i] = 0;
    iy0[i] = -(int32_t(1) << 30);
  }
  const int parts = inner ? inner->num_threads() : 1;
  for (int64_t gi = 0; gi < p.groups; ++gi) {
    const int64_t v_stride = p.cg * npad, mt_stride = p.mg * npad;
    split(inner, parts, p.cg * panels, [&](int, int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t c = q / panels, pan = q % panels, t = pan * b.nr;
        WinogradPatches d{k.x + (gi * p.cg + c) * k.g.in_h * k.g.in_w, off + t, iy0 + t, ix0 + t,
                          int32_t(k.g.in_h), int32_t(k.g.in_w)};
        b.transforms->input(d, b.nr, v + pan * p.cg * b.nr + c * b.nr, v_stride);
      }
    });
    const float* u = p.u.get() + size_t(gi) * size_t(b.a2) * size_t(p.mg * p.cg);
    split(inner, parts, b.a2, [&](int, int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi) {
        F32PackedB pb{int(b.nr), p.cg, npad, v + xi * v_stride};
        f32_gemm(*b.gemm, p.mg, npad, p.cg, u + xi * p.mg * p.cg, p.cg, pb, mt + xi * mt_stride, npad, Epilogue{},
                 nullptr);
      }
    });
    split(inner, parts, p.mg * panels, [&](int, int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t mo = q / panels, pan = q % panels, t = pan * b.nr, mc = gi * p.mg + mo;
        const int64_t plane = mc * k.g.out_h * k.g.out_w;
        WinogradStore st{k.y + plane, k.residual ? k.residual + plane : nullptr, yoff + t, rows + t, cols + t,
                         k.g.out_w, k.bias ? k.bias[mc] : 0.f, k.lo, k.hi};
        b.transforms->output(mt + mo * npad + t, mt_stride, b.nr, st);
      }
    });
  }
}

}  // namespace

const std::vector<F32WinogradKernel>& f32_winograd_kernels() {
  static const std::vector<F32WinogradKernel> table = {
#define FI_WINOGRAD_KERNEL(isa, name, m, lanes) {#name, tier_of_##isa, m, lanes, &name##_input, &name##_output},
#define tier_of_ref 0
#define tier_of_avx2 1
#define tier_of_avx512 2
#include "kernels/cpu/f32_winograd.inc"
#undef tier_of_ref
#undef tier_of_avx2
#undef tier_of_avx512
#undef FI_WINOGRAD_KERNEL
  };
  return table;
}

bool f32_winograd_supported(const F32WinogradKernel& k) { return k.tier <= int(isa_tier()); }

const F32WinogradKernel& select_f32_winograd(int m) {
  const F32WinogradKernel* best = nullptr;
  for (const F32WinogradKernel& e : f32_winograd_kernels())
    if (e.m == m && f32_winograd_supported(e) && (!best || e.tier > best->tier)) best = &e;
  FI_CHECK(best, InvalidArgument, "Winograd: no transforms for tile size ", m);
  return *best;
}

const F32WinogradKernel* find_f32_winograd(const char* name) {
  for (const F32WinogradKernel& e : f32_winograd_kernels())
    if (std::strcmp(e.name, name) == 0) return &e;
  return nullptr;
}

void f32_winograd_weight_transform(int m, const float* k, double* u) {
  FI_CHECK(m == 2 || m == 4 || m == 6, InvalidArgument, "Winograd: tile size must be 2, 4 or 6, got ", m);
  const double(*G)[3] = m == 2 ? kG2 : m == 4 ? kG4 : kG6;
  const int A = m + 2;
  double t[8][3];  // G k
  for (int i = 0; i < A; ++i)
    for (int s = 0; s < 3; ++s) t[i][s] = G[i][0] * k[s] + G[i][1] * k[3 + s] + G[i][2] * k[6 + s];
  for (int i = 0; i < A; ++i)
    for (int j = 0; j < A; ++j) u[i * A + j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
}

F32WinogradPlan f32_winograd_plan(int m, const float* w, int64_t groups, int64_t cg, int64_t mg,
                                  const F32WinogradKernel* transforms) {
  FI_CHECK(m == 4 || m == 6, InvalidArgument, "Winograd: tile size must be 4 or 6, got ", m);
  FI_CHECK(groups >= 1 && cg >= 1 && mg >= 1, InvalidArgument, "Winograd: empty weights");
  F32WinogradPlan p;
  p.m = m;
  p.alpha = m + 2;
  p.groups = groups;
  p.cg = cg;
  p.mg = mg;
  p.transforms = transforms ? transforms : &select_f32_winograd(m);
  const int A = p.alpha, a2 = A * A;
  const size_t count = size_t(groups) * size_t(a2) * size_t(mg) * size_t(cg);
  std::shared_ptr<void> buf = alloc_buffer(count * sizeof(float));
  p.u = std::shared_ptr<float>(buf, static_cast<float*>(buf.get()));
  double u[64];
  for (int64_t gi = 0; gi < groups; ++gi)
    for (int64_t mo = 0; mo < mg; ++mo)
      for (int64_t c = 0; c < cg; ++c) {
        f32_winograd_weight_transform(m, w + ((gi * mg + mo) * cg + c) * 9, u);
        for (int xi = 0; xi < a2; ++xi) p.u.get()[((gi * a2 + xi) * mg + mo) * cg + c] = float(u[xi]);
      }
  return p;
}

bool f32_winograd_values_ok(const float* x, int64_t n) {
  const uint32_t limit = 0x71800000u;  // the bits of 2^100; NaN and Inf lie above
  for (int64_t i0 = 0; i0 < n; i0 += 4096) {
    const int64_t i1 = std::min(n, i0 + 4096);
    uint32_t worst = 0;
    for (int64_t i = i0; i < i1; ++i) {
      uint32_t bits;
      std::memcpy(&bits, x + i, sizeof bits);
      bits &= 0x7fffffffu;
      worst = bits > worst ? bits : worst;
    }
    if (worst >= limit) return false;
  }
  return true;
}

size_t f32_winograd_scratch_size(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n, int threads) {
  const Blocking b = make_blocking(p, g, n, threads);
  return size_t(b.workers) * b.worker_floats;
}

bool f32_winograd_fits(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n) {
  const double limit = double(int32_t(1) << 30);  // gather offsets are int32, with room for pads
  if (n < 0 || g.in_h < 0 || g.in_w < 0 || g.out_h < 0 || g.out_w < 0 || g.pad_top < 0 || g.pad_left < 0)
    return false;
  const double reach = double(std::max(g.pad_top, g.out_h) + 8) * double(g.in_w + 8) +
                       double(std::max(g.pad_left, g.out_w) + 8);
  return double(n) * double(p.groups * p.cg) * double(g.in_h) * double(g.in_w) + reach < limit &&
         double(n) * double(p.groups * p.mg) * double(g.out_h) * double(g.out_w) < limit;
}

void f32_winograd_conv(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n, const float* x, const float* bias,
                       const float* residual, float clamp_min, float clamp_max, float* y, float* scratch,
                       ThreadPool* pool) {
  FI_CHECK(f32_winograd_fits(p, g, n), InvalidArgument, "Winograd: geometry out of range");
  const int threads = pool ? pool->num_threads() : 1;
  const Blocking b = make_blocking(p, g, n, threads);
  if (b.tiles == 0) return;
  Call k{p, g, b, x, bias, residual, clamp_min, clamp_max, y};
  if (b.per_block) {
    split(pool, b.workers, b.blocks, [&](int part, int64_t b0, int64_t b1) {
      float* work = scratch + size_t(part) * b.worker_floats;
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t t0 = blk * b.tb;
        if (t0 < b.tiles) run_block(k, t0, std::min(b.tb, b.tiles - t0), work, nullptr);
      }
    });
  } else {
    for (int64_t t0 = 0; t0 < b.tiles; t0 += b.tb)
      run_block(k, t0, std::min(b.tb, b.tiles - t0), scratch, pool);
  }
}

}  // namespace fi::kernels
