// MaxPool, AveragePool, LpPool and their Global variants over NCHW-style tensors (N, C, spatial
// up to 3 dims). Work is split over the N*C planes. Windows are reduced separably (one 1-D pass
// per dim over per-dim tap tables, no per-element division); MaxPool with Indices walks each
// full window instead to find the argmax.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/dispatch_type.h"
#include "core/thread_pool.h"
#include "ops/pool/pool_fast2d.h"
#include "ops/pool/pool_geometry.h"
#include "ops/pool/pool_ops.h"
#include "ops/registry.h"

namespace fi {

namespace {

template <class T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };

// The lowest value of T, in the accumulator type A (the result of a window without elements).
template <class T, class A>
A lowest_of() {
  if constexpr (std::is_integral<T>::value) return A(std::numeric_limits<T>::lowest());
  else return std::numeric_limits<A>::lowest();
}

// Planes per chunk: all of them (inline) when the whole job is below kParallelMinFlops element
// operations, else chunks of at least a quarter of that.
int64_t plane_grain(int64_t planes, int64_t work_per_plane) {
  const int64_t w = std::max<int64_t>(1, work_per_plane);
  if (double(planes) * double(w) < kParallelMinFlops) return std::max<int64_t>(1, planes);
  return std::max<int64_t>(1, int64_t(kParallelMinFlops / 4) / w);
}

// True when g's single window is the whole input (kernel == input, no head padding, no dilation):
// the pool is a reduction of each plane.
bool whole_plane_window(const PoolGeom& g) {
  if (g.out_size() != 1) return false;
  for (int j = 0; j < 3; ++j)
    if (g.k[j] != g.in[j] || g.pad_head[j] != 0 || g.d[j] != 1) return false;
  return true;
}

// Max (NaNs skipped, starting from init) or sum of xp[0, n), in eight independent partials (vectorisable).
template <bool Max, class A, class T>
A reduce_plane(const T* xp, int64_t n, A init) {
  auto op = [](A acc, A v) { return Max ? (v > acc ? v : acc) : acc + v; };
  A part[8];
  for (A& v : part) v = init;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) part[j] = op(part[j], A(xp[i + j]));
  A r = op(op(op(part[0], part[4]), op(part[1], part[5])), op(op(part[2], part[6]), op(part[3], part[7])));
  for (; i < n; ++i) r = op(r, A(xp[i]));
  return r;
}

// One 1-D window pass over rows: src [outer, in_len, inner] -> dst [outer, taps.size(), inner],
// folding whole inner rows (contiguous, vectorizable) with `op` from `init`.
template <class A, class Op>
void fold_rows(const A* src, A* dst, int64_t outer, int64_t in_len, int64_t inner,
               const std::vector<PoolGeom::Taps>& taps, int64_t d, A init, Op op) {
  int64_t out_len = int64_t(taps.size());
  for (int64_t ob = 0; ob < outer; ++ob)
    for (int64_t o = 0; o < out_len; ++o) {
      const PoolGeom::Taps& t = taps[size_t(o)];
      A* dr = dst + (ob * out_len + o) * inner;
      for (int64_t i = 0; i < inner; ++i) dr[i] = init;
      for (int64_t k = 0; k < t.n; ++k) {
        const A* sr = src + (ob * in_len + t.p0 + k * d) * inner;
        for (int64_t i = 0; i < inner; ++i) dr[i] = op(dr[i], sr[i]);
      }
    }
}

// Separable window reduction of one plane [in0, in1, in2] -> out [out0, out1, out2]: one 1-D
// pass per dim, innermost first, so an output costs k0 + k1 + k2 folds instead of k0 * k1 * k2.
// `pre` maps an input element to the accumulator; buf1/buf2 hold in0*in1*out2 and
// in0*out1*out2 accumulators.
template <class T, class A, class Pre, class Op>
void separable_pool(const PoolGeom& g, const std::vector<PoolGeom::Taps>* taps, const T* xp, A* out, A* buf1,
                    A* buf2, A init, Pre pre, Op op) {
  const std::vector<PoolGeom::Taps>& t2 = taps[2];
  int64_t rows = g.in[0] * g.in[1], d2 = g.d[2];
  for (int64_t r = 0; r < rows; ++r) {
    const T* sr = xp + r * g.in[2];
    A* dr = buf1 + r * g.out[2];
    for (int64_t o = 0; o < g.out[2]; ++o) {
      const PoolGeom::Taps& t = t2[size_t(o)];
      const T* sp = sr + t.p0;
      A acc = init;
      for (int64_t k = 0; k < t.n; ++k) acc = op(acc, pre(sp[k * d2]));
      dr[o] = acc;
    }
  }
  bool skip0 = g.in[0] == 1 && g.out[0] == 1 && taps[0][0].n == 1;
  fold_rows(buf1, skip0 ? out : buf2, g.in[0], g.in[1], g.out[2], taps[1], g.d[1], init, op);
  if (!skip0) fold_rows(buf2, out, int64_t(1), g.in[0], g.out[1] * g.out[2], taps[0], g.d[0], init, op);
}

// Max over each window; optional int64 Indices output (row- or column-major flat index).
class MaxPoolKernel : public OpKernel {
 public:
  explicit MaxPoolKernel(const OpInit& init) {
    a_.read(init, init.opset() >= 10, init.opset() >= 10);
    storage_order_ = init.opset() >= 8 ? init.attrs().get_int("storage_order", 0) : 0;
    FI_CHECK(storage_order_ == 0 || storage_order_ == 1, InvalidModel, "storage_order must be 0 or 1");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    PoolGeom g = resolve_pool(a_, x.shape(), "MaxPool");
    Shape ys = pool_output_shape(g, x.shape());
    Tensor& y = ctx.output(0, x.dtype(), ys);
    int64_t* ind = nullptr;
    if (ctx.has_output(1)) ind = ctx.output(1, DataType::Int64, ys).data<int64_t>();
    if (y.numel() == 0) return;
    std::vector<PoolGeom::Taps> t0 = pool_taps(g, 0), t1 = pool_taps(g, 1), t2 = pool_taps(g, 2);
    int64_t planes = x.dim(0) * x.dim(1), isz = g.in_size(), osz = g.out_size();
    // strides of each 3-D position in the flat index: row- or column-major over spatial dims
    int64_t m0 = storage_order_ ? 1 : g.in[1] * g.in[2];
    int64_t m1 = storage_order_ ? g.in[0] : g.in[2];
    int64_t m2 = storage_order_ ? g.in[0] * g.in[1] : 1;
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = std::conditional_t<std::is_integral<T>::value, int, typename AccOf<T>::type>;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      // the result of a window with no input element: the lowest value of T
      const A lowest = lowest_of<T, A>();
      if (!ind && whole_plane_window(g)) {
        parallel_for(ctx.pool(), planes, plane_grain(planes, isz), [&](int64_t b, int64_t e) {
          for (int64_t pl = b; pl < e; ++pl) py[pl] = T(reduce_plane<true>(px + pl * isz, isz, lowest));
        });
        return;
      }
      if constexpr (std::is_same<T, float>::value) {
        if (!ind && pool2d_fast_ok(g)) {
          const Pool2dPlan plan = pool2d_plan(g, true, false);
          parallel_for(ctx.pool(), planes, plane_grain(planes, osz * (g.k[1] + g.k[2])), [&](int64_t b, int64_t e) {
            std::vector<float> buf = pool2d_buffer(plan);
            for (int64_t pl = b; pl < e; ++pl) pool2d_plane(plan, px + pl * isz, py + pl * osz, buf.data());
          });
          return;
        }
      }
      if (!ind) {  // separable max, NaNs skipped as onnxruntime does
        std::vector<PoolGeom::Taps> taps[3] = {t0, t1, t2};
        const int64_t grain = plane_grain(planes, osz * (g.k[0] + g.k[1] + g.k[2]));
        parallel_for(ctx.pool(), planes, grain, [&](int64_t b, int64_t e) {
          std::vector<A> b1(size_t(g.in[0] * g.in[1] * g.out[2])), b2(size_t(g.in[0] * g.out[1] * g.out[2]));
          std::vector<A> out(static_cast<size_t>(osz));
          for (int64_t pl = b; pl < e; ++pl) {
            separable_pool(g, taps, px + pl * isz, out.data(), b1.data(), b2.data(), lowest,
                           [](T v) { return A(v); }, [](A a, A v) { return v > a ? v : a; });
            T* yp = py + pl * osz;
            for (int64_t i = 0; i < osz; ++i) yp[i] = T(out[size_t(i)]);
          }
        });
        return;
      }
      parallel_for(ctx.pool(), planes, plane_grain(planes, osz * g.k[0] * g.k[1] * g.k[2]), [&](int64_t b, int64_t e) {
        for (int64_t pl = b; pl < e; ++pl) {
          const T* xp = px + pl * isz;
          T* yp = py + pl * osz;
          int64_t* ip = ind + pl * osz;
          int64_t oi = 0;
          for (int64_t o0 = 0; o0 < g.out[0]; ++o0) {
            const auto& a0 = t0[size_t(o0)];
            for (int64_t o1 = 0; o1 < g.out[1]; ++o1) {
              const auto& a1 = t1[size_t(o1)];
              for (int64_t o2 = 0; o2 < g.out[2]; ++o2, ++oi) {
                const auto& a2 = t2[size_t(o2)];
                A best = lowest;  // as onnxruntime: NaNs are skipped
                int64_t bi = -1;
                for (int64_t k0 = 0, p0 = a0.p0; k0 < a0.n; ++k0, p0 += g.d[0]) {
                  for (int64_t k1 = 0, p1 = a1.p0; k1 < a1.n; ++k1, p1 += g.d[1]) {
                    const T* row = xp + (p0 * g.in[1] + p1) * g.in[2];
                    for (int64_t k2 = 0, p2 = a2.p0; k2 < a2.n; ++k2, p2 += g.d[2]) {
                      A v = A(row[p2]);
                      if (v > best) {
                        best = v;
                        bi = p0 * m0 + p1 * m1 + p2 * m2;
                      }
                    }
                  }
                }
                yp[oi] = T(best);
                ip[oi] = bi < 0 ? -1 : pl * isz + bi;
              }
            }
          }
        }
      });
    };
    switch (x.dtype()) {
      case DataType::Float: run(TypeTag<float>{}); break;
      case DataType::Double: run(TypeTag<double>{}); break;
      case DataType::Float16: run(TypeTag<Float16>{}); break;
      case DataType::BFloat16: run(TypeTag<BFloat16>{}); break;
      case DataType::Int8: run(TypeTag<int8_t>{}); break;
      case DataType::UInt8: run(TypeTag<uint8_t>{}); break;
      default: throw NotImplemented(str("MaxPool: element type ", dtype_name(x.dtype()), " is not supported"));
    }
  }

 private:
  PoolAttrs a_;
  int64_t storage_order_ = 0;
};

// AveragePool (p == 0) and LpPool (p >= 1): mean, or p-norm, of each window.
class SumPoolKernel : public OpKernel {
 public:
  SumPoolKernel(const OpInit& init, bool lp) : lp_(lp) {
    int op = init.opset();
    if (lp) {
      a_.read(init, op >= 18, op >= 18);
      p_ = init.attrs().get_int("p", 2);
      FI_CHECK(p_ >= 1, InvalidModel, "LpPool: p must be >= 1");
    } else {
      a_.read(init, op >= 19, op >= 10);
      count_include_pad_ = init.attrs().get_int("count_include_pad", 0) != 0;
    }
  }
  void compute(KernelContext& ctx) const override {
    const char* name = lp_ ? "LpPool" : "AveragePool";
    const Tensor& x = ctx.in(0);
    PoolGeom g = resolve_pool(a_, x.shape(), name);
    Tensor& y = ctx.output(0, x.dtype(), pool_output_shape(g, x.shape()));
    if (y.numel() == 0) return;
    std::vector<PoolGeom::Taps> t0 = pool_taps(g, 0), t1 = pool_taps(g, 1), t2 = pool_taps(g, 2);
    int64_t planes = x.dim(0) * x.dim(1), isz = g.in_size(), osz = g.out_size();
    bool include_pad = count_include_pad_;
    auto run = [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = typename AccOf<T>::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      if (!lp_ && whole_plane_window(g)) {  // every tap valid: count = the plane size
        parallel_for(ctx.pool(), planes, plane_grain(planes, isz), [&](int64_t b, int64_t e) {
          for (int64_t pl = b; pl < e; ++pl)
            py[pl] = T(reduce_plane<false>(px + pl * isz, isz, A(0)) / A(isz));
        });
        return;
      }
      if constexpr (std::is_same<T, float>::value) {
        if (!lp_ && pool2d_fast_ok(g)) {
          const Pool2dPlan plan = pool2d_plan(g, false, include_pad);
          parallel_for(ctx.pool(), planes, plane_grain(planes, osz * (g.k[1] + g.k[2])), [&](int64_t b, int64_t e) {
            std::vector<float> buf = pool2d_buffer(plan);
            for (int64_t pl = b; pl < e; ++pl) pool2d_plane(plan, px + pl * isz, py + pl * osz, buf.data());
          });
          return;
        }
      }
      A p = A(p_), inv_p = A(1) / A(p_);
      std::vector<PoolGeom::Taps> taps[3] = {t0, t1, t2};
      auto add = [](A a, A v) { return a + v; };
      const int64_t grain = plane_grain(planes, osz * (g.k[0] + g.k[1] + g.k[2]));
      parallel_for(ctx.pool(), planes, grain, [&](int64_t b, int64_t e) {
        std::vector<A> b1(size_t(g.in[0] * g.in[1] * g.out[2])), b2(size_t(g.in[0] * g.out[1] * g.out[2]));
        std::vector<A> out(static_cast<size_t>(osz));
        for (int64_t pl = b; pl < e; ++pl) {
          const T* xp = px + pl * isz;
          A* o = out.data();
          if (!lp_) separable_pool(g, taps, xp, o, b1.data(), b2.data(), A(0), [](T v) { return A(v); }, add);
          else if (p_ == 1) separable_pool(g, taps, xp, o, b1.data(), b2.data(), A(0), [](T v) { return std::abs(A(v)); }, add);
          else if (p_ == 2) separable_pool(g, taps, xp, o, b1.data(), b2.data(), A(0), [](T v) { return A(v) * A(v); }, add);
          else
            separable_pool(g, taps, xp, o, b1.data(), b2.data(), A(0), [&](T v) { return std::pow(std::abs(A(v)), p); }, add);
          T* yp = py + pl * osz;
          int64_t oi = 0;
          for (int64_t o0 = 0; o0 < g.out[0]; ++o0) {
            const auto& a0 = t0[size_t(o0)];
            for (int64_t o1 = 0; o1 < g.out[1]; ++o1) {
              const auto& a1 = t1[size_t(o1)];
              for (int64_t o2 = 0; o2 < g.out[2]; ++o2, ++oi) {
                const auto& a2 = t2[size_t(o2)];
                A sum = o[oi], r;
                if (lp_) {
                  r = p_ == 1 ? sum : (p_ == 2 ? std::sqrt(sum) : std::pow(sum, inv_p));
                } else {
                  int64_t cnt = include_pad ? a0.npad * a1.npad * a2.npad : a0.n * a1.n * a2.n;
                  r = cnt > 0 ? sum / A(cnt) : std::numeric_limits<A>::quiet_NaN();
                }
                yp[oi] = T(r);
              }
            }
          }
        }
      });
    };
    switch (x.dtype()) {
      case DataType::Float: run(TypeTag<float>{}); break;
      case DataType::Double: run(TypeTag<double>{}); break;
      case DataType::Float16: run(TypeTag<Float16>{}); break;
      case DataType::BFloat16: run(TypeTag<BFloat16>{}); break;
      default: throw NotImplemented(str(name, ": element type ", dtype_name(x.dtype()), " is not supported"));
    }
  }

 private:
  PoolAttrs a_;
  bool lp_;
  int64_t p_ = 2;
  bool count_include_pad_ = false;
};

class AveragePoolKernel : public SumPoolKernel {
 public:
  explicit AveragePoolKernel(const OpInit& init) : SumPoolKernel(init, false) {}
};
class LpPoolKernel : public SumPoolKernel {
 public:
  explicit LpPoolKernel(const OpInit& init) : SumPoolKernel(init, true) {}
};

// GlobalAveragePool / GlobalMaxPool / GlobalLpPool: reduce all spatial dims of each plane.
enum class GlobalKind { Avg, Max, Lp };
template <GlobalKind K>
class GlobalPoolKernel : public OpKernel {
 public:
  explicit GlobalPoolKernel(const OpInit& init) {
    if (K == GlobalKind::Lp) {
      p_ = init.attrs().get_int("p", 2);
      FI_CHECK(p_ >= 1, InvalidModel, "GlobalLpPool: p must be >= 1");
    }
  }
  void compute(KernelContext& ctx) const override {
    const char* name = K == GlobalKind::Avg ? "GlobalAveragePool" : (K == GlobalKind::Max ? "GlobalMaxPool" : "GlobalLpPool");
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() >= 3, InvalidArgument, name, ": input must have rank >= 3, got ", x.shape().str());
    Shape ys = x.shape();
    for (int i = 2; i < ys.rank(); ++i) ys[size_t(i)] = 1;
    Tensor& y = ctx.output(0, x.dtype(), ys);
    int64_t planes = x.dim(0) * x.dim(1), n = x.shape().prod(2, x.rank());
    if (planes == 0) return;
    dispatch_float(x.dtype(), name, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = typename AccOf<T>::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      parallel_for(ctx.pool(), planes, plane_grain(planes, n), [&](int64_t b, int64_t e) {
        for (int64_t pl = b; pl < e; ++pl) {
          const T* xp = px + pl * n;
          A r;
          if (K == GlobalKind::Max) {
            r = n > 0 ? reduce_plane<true>(xp, n, -std::numeric_limits<A>::infinity())
                      : std::numeric_limits<A>::quiet_NaN();
          } else if (K == GlobalKind::Avg) {
            r = n > 0 ? reduce_plane<false>(xp, n, A(0)) / A(n) : std::numeric_limits<A>::quiet_NaN();
          } else {
            A s = 0;
            for (int64_t i = 0; i < n; ++i) s += std::pow(std::abs(A(xp[i])), A(p_));
            r = std::pow(s, A(1) / A(p_));
          }
          py[pl] = T(r);
        }
      });
    });
  }

 private:
  int64_t p_ = 2;
};

}  // namespace

void register_pooling_kernels(OpRegistry& r) {
  r.add("MaxPool", 1, make_kernel<MaxPoolKernel>);
  r.add("AveragePool", 1, make_kernel<AveragePoolKernel>);
  r.add("LpPool", 1, make_kernel<LpPoolKernel>);
  r.add("GlobalAveragePool", 1, make_kernel<GlobalPoolKernel<GlobalKind::Avg>>);
  r.add("GlobalMaxPool", 1, make_kernel<GlobalPoolKernel<GlobalKind::Max>>);
  r.add("GlobalLpPool", 1, make_kernel<GlobalPoolKernel<GlobalKind::Lp>>);
}

}  // namespace fi
