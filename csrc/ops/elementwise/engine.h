// The elementwise engines shared by every op of the family:
//  - map_unary: y[i] = f(x[i]) over contiguous tensors,
//  - map_binary / map_ternary: numpy-broadcasting loops. Operand shapes are broadcast to the
//    output shape, size-1 output dims dropped, and adjacent dims merged where every operand is
//    contiguous (or broadcast) across both, so the common cases (same shape, a scalar operand,
//    bias-style trailing broadcast) reduce to one or two dims whose innermost stride is 0 or 1.
// All loops split the output into chunks of kGrain elements on the session's thread pool.
// Computation type: Float16/BFloat16 are computed in float (Compute<T>), others in T itself.
// Float16 operands go through small float buffers converted in batches (F16C when available).
#pragma once
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "ops/elementwise/half_convert.h"
#include "ops/op_util.h"

namespace fi {
namespace ew {

// Elements per chunk: a thread wakes in some 30 us, so jobs under ~64K elements stay inline.
constexpr int64_t kGrain = 32768;

// The arithmetic type used for T.
template <class T> struct ComputeOf { using type = T; };
template <> struct ComputeOf<Float16> { using type = float; };
template <> struct ComputeOf<BFloat16> { using type = float; };
template <class T> using Compute = typename ComputeOf<T>::type;

// Storage <-> compute conversions (identity except for the 16-bit floats).
template <class T> inline const T& load(const T& v) { return v; }
inline float load(const Float16& v) { return float(v); }
inline float load(const BFloat16& v) { return float(v); }
template <class T, class C> inline T store(const C& v) { return static_cast<T>(v); }

template <class T> constexpr bool is_half = std::is_same_v<T, Float16>;
constexpr int64_t kChunk = 256;

// Loads n elements of p (element stride st) into dst as Compute<T>.
template <class T> inline void load_chunk(const T* p, int64_t st, int64_t n, Compute<T>* dst) {
  if constexpr (is_half<T>) {
    if (st == 1) return half_to_float(p, dst, n);
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = load(p[i * st]);
}
template <class T> inline void store_chunk(const Compute<T>* src, int64_t n, T* p) {
  if constexpr (is_half<T>) return float_to_half(src, p, n);
  for (int64_t i = 0; i < n; ++i) p[i] = store<T>(src[i]);
}

// y[i] = f(x[i]) for i in [0, n). f maps Compute<TI> to Compute<TO> (or TO).
template <class TI, class TO, class F>
void map_unary(ThreadPool* pool, const TI* x, TO* y, int64_t n, const F& f) {
  if constexpr (is_half<TI> || is_half<TO>) {
    parallel_for(pool, n, kGrain, [&](int64_t b, int64_t e) {
      Compute<TI> xb[kChunk];
      Compute<TO> yb[kChunk];
      for (int64_t c = b; c < e; c += kChunk) {
        const int64_t m = e - c < kChunk ? e - c : kChunk;
        load_chunk(x + c, 1, m, xb);
        for (int64_t i = 0; i < m; ++i) yb[i] = Compute<TO>(f(xb[i]));
        store_chunk(yb, m, y + c);
      }
    });
  } else {
    parallel_for(pool, n, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = store<TO>(f(load(x[i])));
    });
  }
}

// Broadcast iteration plan for up to 3 operands against an output shape.
struct Plan {
  int rank = 0;                 // after merging; 0 means a single element
  int64_t dims[Shape::kMaxRank];
  int64_t strides[3][Shape::kMaxRank];
  int nops = 0;
};

inline Plan make_plan(const Shape* in, int nops, const Shape& out) {
  Plan p;
  p.nops = nops;
  Shape st[3];
  for (int k = 0; k < nops; ++k) st[k] = broadcast_strides(in[k], out);
  for (int d = 0; d < out.rank(); ++d) {
    if (out[d] == 1) continue;
    if (p.rank > 0) {
      int last = p.rank - 1;
      bool merge = true;
      for (int k = 0; k < nops; ++k)
        if (p.strides[k][last] != st[k][size_t(d)] * out[d]) merge = false;
      if (merge) {
        p.dims[last] *= out[d];
        for (int k = 0; k < nops; ++k) p.strides[k][last] = st[k][size_t(d)];
        continue;
      }
    }
    p.dims[p.rank] = out[d];
    for (int k = 0; k < nops; ++k) p.strides[k][p.rank] = st[k][size_t(d)];
    ++p.rank;
  }
  return p;
}

// Calls row(out_offset, offs[nops], len, inner_strides[nops]) for every run of the innermost
// dim that falls in output elements [b, e).
template <class Row>
void for_rows(const Plan& p, int64_t b, int64_t e, const Row& row) {
  int64_t offs[3] = {0, 0, 0};
  int64_t inner_st[3] = {0, 0, 0};
  if (p.rank == 0) {
    if (b < e) row(int64_t(0), offs, int64_t(1), inner_st);
    return;
  }
  const int r = p.rank;
  const int64_t inner = p.dims[r - 1];
  for (int k = 0; k < p.nops; ++k) inner_st[k] = p.strides[k][r - 1];
  int64_t idx[Shape::kMaxRank];
  int64_t rem = b;
  for (int d = r - 1; d >= 0; --d) {
    idx[d] = rem % p.dims[d];
    rem /= p.dims[d];
  }
  int64_t pos = b;
  while (pos < e) {
    for (int k = 0; k < p.nops; ++k) {
      int64_t o = 0;
      for (int d = 0; d < r; ++d) o += idx[d] * p.strides[k][d];
      offs[k] = o;
    }
    int64_t len = inner - idx[r - 1];
    if (len > e - pos) len = e - pos;
    row(pos, offs, len, inner_st);
    pos += len;
    idx[r - 1] += len;
    for (int d = r - 1; d > 0 && idx[d] >= p.dims[d]; --d) {
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

// y = f(a, b) with a and b broadcast to `out` (y has shape `out`). f takes Compute<TA>,
// Compute<TB> and returns something TO can be stored from.
template <class TA, class TB, class TO, class F>
void map_binary(ThreadPool* pool, const TA* a, const Shape& sa, const TB* b, const Shape& sb, TO* y,
                const Shape& out, const F& f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  if constexpr (is_half<TA> || is_half<TB> || is_half<TO>) {
    const Shape shapes[2] = {sa, sb};
    const Plan p = make_plan(shapes, 2, out);
    parallel_for(pool, n, kGrain, [&](int64_t s, int64_t e) {
      Compute<TA> ab[kChunk];
      Compute<TB> bb[kChunk];
      Compute<TO> yb[kChunk];
      for_rows(p, s, e, [&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
        for (int64_t c = 0; c < len; c += kChunk) {
          const int64_t m = len - c < kChunk ? len - c : kChunk;
          load_chunk(a + offs[0] + c * st[0], st[0], m, ab);
          load_chunk(b + offs[1] + c * st[1], st[1], m, bb);
          for (int64_t i = 0; i < m; ++i) yb[i] = Compute<TO>(f(ab[i], bb[i]));
          store_chunk(yb, m, y + o + c);
        }
      });
    });
    return;
  }
  const int64_t na = sa.numel(), nb = sb.numel();
  if (na == n && nb == n) {
    parallel_for(pool, n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) y[i] = store<TO>(f(load(a[i]), load(b[i])));
    });
    return;
  }
  if (na == 1 && nb == n) {
    const auto av = load(a[0]);
    parallel_for(pool, n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) y[i] = store<TO>(f(av, load(b[i])));
    });
    return;
  }
  if (nb == 1 && na == n) {
    const auto bv = load(b[0]);
    parallel_for(pool, n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) y[i] = store<TO>(f(load(a[i]), bv));
    });
    return;
  }
  const Shape shapes[2] = {sa, sb};
  const Plan p = make_plan(shapes, 2, out);
  parallel_for(pool, n, kGrain, [&](int64_t s, int64_t e) {
    for_rows(p, s, e, [&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
      const TA* pa = a + offs[0];
      const TB* pb = b + offs[1];
      TO* py = y + o;
      if (st[0] == 1 && st[1] == 1) {
        for (int64_t i = 0; i < len; ++i) py[i] = store<TO>(f(load(pa[i]), load(pb[i])));
      } else if (st[0] == 0 && st[1] == 1) {
        const auto av = load(pa[0]);
        for (int64_t i = 0; i < len; ++i) py[i] = store<TO>(f(av, load(pb[i])));
      } else if (st[0] == 1 && st[1] == 0) {
        const auto bv = load(pb[0]);
        for (int64_t i = 0; i < len; ++i) py[i] = store<TO>(f(load(pa[i]), bv));
      } else {
        for (int64_t i = 0; i < len; ++i) py[i] = store<TO>(f(load(pa[i * st[0]]), load(pb[i * st[1]])));
      }
    });
  });
}

// y = f(a, b, c) with all three broadcast to `out`.
template <class TA, class TB, class TC, class TO, class F>
void map_ternary(ThreadPool* pool, const TA* a, const Shape& sa, const TB* b, const Shape& sb, const TC* c,
                 const Shape& sc, TO* y, const Shape& out, const F& f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const Shape shapes[3] = {sa, sb, sc};
  const Plan p = make_plan(shapes, 3, out);
  parallel_for(pool, n, kGrain, [&](int64_t s, int64_t e) {
    for_rows(p, s, e, [&](int64_t o, const int64_t* offs, int64_t len, const int64_t* st) {
      const TA* pa = a + offs[0];
      const TB* pb = b + offs[1];
      const TC* pc = c + offs[2];
      TO* py = y + o;
      if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
        for (int64_t i = 0; i < len; ++i) py[i] = store<TO>(f(load(pa[i]), load(pb[i]), load(pc[i])));
      } else {
        for (int64_t i = 0; i < len; ++i)
          py[i] = store<TO>(f(load(pa[i * st[0]]), load(pb[i * st[1]]), load(pc[i * st[2]])));
      }
    });
  });
}

}  // namespace ew
}  // namespace fi
