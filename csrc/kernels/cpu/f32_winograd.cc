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
  size_t worker_floats = 0;  // one worker's V, Mt, gather/output buffers and tile origins
};

Blocking make_blocking(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n, int threads) {
  Blocking b;
  b.m = p.m;
  b.alpha = p.alpha;
  b.a2 = p.alpha * p.alpha;
  b.nr = p.gemm->nr;
  b.tiles_h = ceil_div(g.out_h, p.m);
  b.tiles_w = ceil_div(g.out_w, p.m);
  b.tiles = n * b.tiles_h * b.tiles_w;
  const int64_t per_tile = int64_t(b.a2) * (p.cg + p.mg);
  int64_t tb = std::max<int64_t>(1, kL2Floats / std::max<int64_t>(1, per_tile) / b.nr) * b.nr;
  tb = std::min(tb, 8 * b.nr);
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
  b.worker_floats = (size_t(b.a2) * size_t(tb) * size_t(p.cg + p.mg) + size_t(tb) * 8 + 15) / 16 * 16;
  return b;
}

// Per-thread buffers: the gathered patches of one panel and the output tiles of one panel.
size_t thread_floats(const Blocking& b) { return size_t(b.a2 + b.m * b.m) * size_t(b.nr); }

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

struct TileOrigin {
  int64_t x_image, y_image;  // offsets of the tile's image in X and Y (floats)
  int64_t iy0, ix0;          // top-left input coordinate of the patch
};

struct Call {
  const F32WinogradPlan& p;
  const WinogradGeom& g;
  const Blocking& b;
  const float *x, *bias, *residual;
  float lo, hi;
  float* y;
};

// Gathers channel c of panel `pan` (lanes past the block's tiles read as zero) and transforms it.
void input_panel(const Call& k, const TileOrigin* org, int64_t nt, int64_t pan, int64_t c, float* d, float* v,
                 int64_t v_stride) {
  const int64_t A = k.b.alpha, nr = k.b.nr, plane = k.g.in_h * k.g.in_w;
  for (int64_t j = 0; j < nr; ++j) {
    const int64_t t = pan * nr + j;
    if (t >= nt) {
      for (int64_t q = 0; q < A * A; ++q) d[q * nr + j] = 0.f;
      continue;
    }
    const TileOrigin& o = org[t];
    const float* src = k.x + o.x_image + c * plane;
    if (o.iy0 >= 0 && o.ix0 >= 0 && o.iy0 + A <= k.g.in_h && o.ix0 + A <= k.g.in_w) {
      for (int64_t r = 0; r < A; ++r) {
        const float* row = src + (o.iy0 + r) * k.g.in_w + o.ix0;
        for (int64_t s = 0; s < A; ++s) d[(r * A + s) * nr + j] = row[s];
      }
    } else {
      for (int64_t r = 0; r < A; ++r) {
        const int64_t iy = o.iy0 + r;
        const bool row_in = iy >= 0 && iy < k.g.in_h;
        for (int64_t s = 0; s < A; ++s) {
          const int64_t ix = o.ix0 + s;
          d[(r * A + s) * nr + j] = row_in && ix >= 0 && ix < k.g.in_w ? src[iy * k.g.in_w + ix] : 0.f;
        }
      }
    }
  }
  k.p.transforms->input(d, nr, v, v_stride);
}

// Output transform of channel mo of panel `pan`, then the store with residual and clamp.
void output_panel(const Call& k, const TileOrigin* org, int64_t nt, int64_t pan, int64_t mo, int64_t m_total,
                  const float* mt, int64_t mt_stride, float* buf) {
  const int64_t m = k.b.m, nr = k.b.nr, plane = k.g.out_h * k.g.out_w;
  k.p.transforms->output(mt, mt_stride, nr, k.bias ? k.bias[m_total] : 0.f, buf);
  for (int64_t j = 0; j < nr; ++j) {
    const int64_t t = pan * nr + j;
    if (t >= nt) break;
    const TileOrigin& o = org[t];
    const int64_t oy0 = o.iy0 + k.g.pad_top, ox0 = o.ix0 + k.g.pad_left;
    const int64_t uh = std::min(m, k.g.out_h - oy0), uw = std::min(m, k.g.out_w - ox0);
    const int64_t base = o.y_image + m_total * plane + oy0 * k.g.out_w + ox0;
    float* dst = k.y + base;
    const float* res = k.residual ? k.residual + base : nullptr;
    for (int64_t u = 0; u < uh; ++u)
      for (int64_t w = 0; w < uw; ++w) {
        float v = buf[(u * m + w) * nr + j];
        if (res) v += res[u * k.g.out_w + w];
        v = v < k.lo ? k.lo : v;
        dst[u * k.g.out_w + w] = v > k.hi ? k.hi : v;  // NaN passes through
      }
  }
}

// One block of tiles [t0, t0 + nt) for every group. `inner` splits each phase (null: inline).
void run_block(const Call& k, int64_t t0, int64_t nt, float* work, float* per_thread, ThreadPool* inner) {
  const Blocking& b = k.b;
  const F32WinogradPlan& p = k.p;
  const int64_t panels = ceil_div(nt, b.nr), npad = panels * b.nr;
  const int64_t tiles_img = b.tiles_h * b.tiles_w;
  const int64_t c_total = p.groups * p.cg, m_total = p.groups * p.mg;
  TileOrigin* org = reinterpret_cast<TileOrigin*>(work);  // tb * 8 floats, 8-byte aligned
  float* v = work + b.tb * 8;
  float* mt = v + size_t(b.a2) * size_t(p.cg) * size_t(b.tb);
  for (int64_t i = 0; i < nt; ++i) {
    const int64_t t = t0 + i, img = t / tiles_img, r = t % tiles_img;
    org[i].x_image = img * c_total * k.g.in_h * k.g.in_w;
    org[i].y_image = img * m_total * k.g.out_h * k.g.out_w;
    org[i].iy0 = (r / b.tiles_w) * b.m - k.g.pad_top;
    org[i].ix0 = (r % b.tiles_w) * b.m - k.g.pad_left;
  }
  const size_t tf = thread_floats(b);
  const int parts = inner ? inner->num_threads() : 1;
  for (int64_t gi = 0; gi < p.groups; ++gi) {
    const int64_t v_stride = p.cg * npad, mt_stride = p.mg * npad;
    split(inner, parts, p.cg * panels, [&](int part, int64_t q0, int64_t q1) {
      float* d = per_thread + size_t(part) * tf;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t c = q / panels, pan = q % panels;
        input_panel(k, org, nt, pan, gi * p.cg + c, d, v + pan * p.cg * b.nr + c * b.nr, v_stride);
      }
    });
    const float* u = p.u.get() + size_t(gi) * size_t(b.a2) * size_t(p.mg * p.cg);
    split(inner, parts, b.a2, [&](int, int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi) {
        F32PackedB pb{int(b.nr), p.cg, npad, v + xi * v_stride};
        f32_gemm(*p.gemm, p.mg, npad, p.cg, u + xi * p.mg * p.cg, p.cg, pb, mt + xi * mt_stride, npad, Epilogue{},
                 nullptr);
      }
    });
    split(inner, parts, p.mg * panels, [&](int part, int64_t q0, int64_t q1) {
      float* buf = per_thread + size_t(part) * tf + size_t(b.a2) * size_t(b.nr);
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t mo = q / panels, pan = q % panels;
        output_panel(k, org, nt, pan, mo, gi * p.mg + mo, mt + mo * npad + pan * b.nr, mt_stride, buf);
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
  p.gemm = &select_f32_gemm(mg, 1024, cg);
  p.transforms = transforms ? transforms : &select_f32_winograd(m);
  if (p.gemm->nr % p.transforms->lanes != 0) p.transforms = find_f32_winograd(m == 4 ? "f32_winograd_4x3__ref" : "f32_winograd_6x3__ref");
  const int A = p.alpha, a2 = A * A;
  const size_t count = size_t(groups) * size_t(a2) * size_t(mg) * size_t(cg);
  std::shared_ptr<void> buf = alloc_buffer(count * sizeof(float));
  p.u = std::shared_ptr<float>(buf, static_cast<float*>(buf.get()));
  const double(*G)[3] = m == 4 ? kG4 : kG6;
  for (int64_t gi = 0; gi < groups; ++gi)
    for (int64_t mo = 0; mo < mg; ++mo)
      for (int64_t c = 0; c < cg; ++c) {
        const float* k = w + ((gi * mg + mo) * cg + c) * 9;
        double t[8][3];  // G k
        for (int i = 0; i < A; ++i)
          for (int s = 0; s < 3; ++s) t[i][s] = G[i][0] * k[s] + G[i][1] * k[3 + s] + G[i][2] * k[6 + s];
        for (int i = 0; i < A; ++i)
          for (int j = 0; j < A; ++j) {
            const double v = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
            p.u.get()[((gi * a2 + i * A + j) * mg + mo) * cg + c] = float(v);
          }
      }
  return p;
}

size_t f32_winograd_scratch_size(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n, int threads) {
  const Blocking b = make_blocking(p, g, n, threads);
  return size_t(b.workers) * b.worker_floats + size_t(std::max(1, threads)) * thread_floats(b);
}

void f32_winograd_conv(const F32WinogradPlan& p, const WinogradGeom& g, int64_t n, const float* x, const float* bias,
                       const float* residual, float clamp_min, float clamp_max, float* y, float* scratch,
                       ThreadPool* pool) {
  FI_CHECK(n >= 0 && g.out_h >= 0 && g.out_w >= 0 && g.in_h >= 0 && g.in_w >= 0, InvalidArgument,
           "Winograd: bad geometry");
  const int threads = pool ? pool->num_threads() : 1;
  const Blocking b = make_blocking(p, g, n, threads);
  if (b.tiles == 0) return;
  Call k{p, g, b, x, bias, residual, clamp_min, clamp_max, y};
  float* per_thread = scratch + size_t(b.workers) * b.worker_floats;
  if (b.per_block) {
    split(pool, b.workers, b.blocks, [&](int part, int64_t b0, int64_t b1) {
      float* work = scratch + size_t(part) * b.worker_floats;
      float* mine = per_thread + size_t(part) * thread_floats(b);
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t t0 = blk * b.tb;
        if (t0 < b.tiles) run_block(k, t0, std::min(b.tb, b.tiles - t0), work, mine, nullptr);
      }
    });
  } else {
    for (int64_t t0 = 0; t0 < b.tiles; t0 += b.tb)
      run_block(k, t0, std::min(b.tb, b.tiles - t0), scratch, per_thread, pool);
  }
}

}  // namespace fi::kernels
