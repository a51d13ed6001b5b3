// GridSample (16, 20), AffineGrid (20) and Col2Im (18).
// GridSample: X [N, C, spatial...] sampled at grid [N, out..., nd] (coordinates in [-1, 1],
// last dim ordered x, y, z = innermost dim first). Per output point, per dim a short tap list
// (index, weight) is built once and reused for all C channels. Up to 3 spatial dims.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dispatch_type.h"
#include "ops/pool/pool_ops.h"
#include "ops/registry.h"

namespace fi {

namespace {

enum class GsMode { Nearest, Linear, Cubic };
enum class GsPad { Zeros, Border, Reflection };

float gs_reflect(float x, float lo, float hi) {
  float rng = hi - lo;
  if (!(rng > 0)) return lo;
  if (x < lo) {
    float dx = lo - x;
    float n = std::floor(dx / rng);
    float r = dx - n * rng;
    return std::fmod(n, 2.0f) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    float dx = x - hi;
    float n = std::floor(dx / rng);
    float r = dx - n * rng;
    return std::fmod(n, 2.0f) == 0 ? hi - r : lo + r;
  }
  return x;
}

void cubic_coeffs(float t, float* c) {
  const float A = -0.75f;
  float x = std::abs(t);
  c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  c[3] = ((A * (2 - x) - 5 * A) * (2 - x) + 8 * A) * (2 - x) - 4 * A;
}

class GridSampleKernel : public OpKernel {
 public:
  explicit GridSampleKernel(const OpInit& init) : opset_(init.opset()) {
    const Attributes& a = init.attrs();
    std::string m = a.get_string("mode", opset_ >= 20 ? "linear" : "bilinear");
    if (m == "nearest") mode_ = GsMode::Nearest;
    else if (m == "linear" || m == "bilinear") mode_ = GsMode::Linear;
    else if (m == "cubic" || m == "bicubic") mode_ = GsMode::Cubic;
    else throw InvalidModel(str("GridSample: unknown mode '", m, "'"));
    std::string p = a.get_string("padding_mode", "zeros");
    if (p == "zeros") pad_ = GsPad::Zeros;
    else if (p == "border") pad_ = GsPad::Border;
    else if (p == "reflection") pad_ = GsPad::Reflection;
    else throw InvalidModel(str("GridSample: unknown padding_mode '", p, "'"));
    align_ = a.get_int("align_corners", 0) != 0;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& grid = ctx.in(1);
    int r = x.rank();
    FI_CHECK(r >= 3, InvalidArgument, "GridSample: X must have rank >= 3, got ", x.shape().str());
    int nd = r - 2;
    FI_CHECK(nd <= 3, NotImplemented, "GridSample: more than 3 spatial dims are not supported");
    FI_CHECK(grid.rank() == r && grid.dim(r - 1) == nd && grid.dim(0) == x.dim(0), InvalidArgument,
             "GridSample: grid shape ", grid.shape().str(), " does not match X ", x.shape().str());
    FI_CHECK(grid.dtype() == x.dtype() || dtype_is_float(grid.dtype()), InvalidArgument, "GridSample: grid must be float");
    Shape ys;
    ys.push_back(x.dim(0));
    ys.push_back(x.dim(1));
    for (int i = 1; i < r - 1; ++i) ys.push_back(grid.dim(i));
    Tensor& y = ctx.output(0, x.dtype(), ys);
    if (y.numel() == 0) return;
    int64_t N = x.dim(0), C = x.dim(1);
    int64_t in_sz = x.shape().prod(2, r), npts = ys.prod(2, r);
    FI_CHECK(in_sz > 0 || pad_ == GsPad::Zeros, InvalidArgument, "GridSample: empty input");
    int64_t dims[3], mul[3];
    for (int i = 0; i < nd; ++i) dims[i] = x.dim(2 + i);
    int64_t m = 1;
    for (int i = nd - 1; i >= 0; --i) {
      mul[i] = m;
      m *= dims[i];
    }
    std::vector<float> gv(size_t(grid.numel()));
    dispatch_float(grid.dtype(), "GridSample grid", [&](auto tag) {
      using G = typename decltype(tag)::type;
      const G* pg = grid.data<G>();
      for (size_t i = 0; i < gv.size(); ++i) gv[i] = float(pg[i]);
    });
    dispatch_float(x.dtype(), "GridSample", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      parallel_for(ctx.pool(), N * npts, std::max<int64_t>(1, 1024 / std::max<int64_t>(1, C)), [&](int64_t b, int64_t e) {
        int64_t tidx[3][4];
        float tw[3][4];
        int tn[3];
        for (int64_t s = b; s < e; ++s) {
          int64_t n = s / npts, p = s - n * npts;
          const float* g = gv.data() + s * nd;
          for (int i = 0; i < nd; ++i) build(g[nd - 1 - i], dims[i], tidx[i], tw[i], tn[i]);
          for (int i = nd; i < 3; ++i) {
            tn[i] = 1;
            tidx[i][0] = 0;
            tw[i][0] = 1;
          }
          int64_t m1 = nd > 1 ? mul[1] : 0, m2 = nd > 2 ? mul[2] : 0;
          for (int64_t c = 0; c < C; ++c) {
            const T* xp = px + (n * C + c) * in_sz;
            float acc = 0;
            for (int a = 0; a < tn[0]; ++a) {
              if (tidx[0][a] < 0) continue;
              for (int bb = 0; bb < tn[1]; ++bb) {
                if (tidx[1][bb] < 0) continue;
                float w01 = tw[0][a] * tw[1][bb];
                const T* row = xp + tidx[0][a] * mul[0] + tidx[1][bb] * m1;
                for (int cc = 0; cc < tn[2]; ++cc) {
                  if (tidx[2][cc] < 0) continue;
                  acc += w01 * tw[2][cc] * float(row[tidx[2][cc] * m2]);
                }
              }
            }
            py[(n * C + c) * npts + p] = T(acc);
          }
        }
      });
    });
  }

 private:
  // Taps along one dim for normalized coordinate g: index (-1 = zero padding) and weight.
  void build(float g, int64_t d, int64_t* idx, float* w, int& cnt) const {
    float fd = float(d);
    float v = align_ ? (g + 1) / 2.0f * (fd - 1) : ((g + 1) * fd - 1) / 2.0f;
    float lo = align_ ? 0.0f : -0.5f, hi = align_ ? fd - 1 : fd - 0.5f;
    if (mode_ == GsMode::Nearest) v = std::nearbyint(v);
    if (!std::isfinite(v)) v = -2;  // NaN grid: outside
    if (v < lo || v > hi) {
      // cubic with border padding clamps each tap index only (as PyTorch and onnxruntime do)
      if (pad_ == GsPad::Border && mode_ != GsMode::Cubic) v = std::min(std::max(v, 0.0f), fd - 1);
      else if (pad_ == GsPad::Reflection) v = gs_reflect(v, lo, hi);
    }
    // far outside the image every tap is padding: bound v so the index casts stay defined
    v = std::min(std::max(v, -8.0f), fd + 8.0f);
    auto pixel = [&](int64_t i) -> int64_t {
      if (pad_ == GsPad::Zeros) return (i >= 0 && i < d) ? i : -1;
      if (pad_ == GsPad::Border) return std::min(std::max<int64_t>(i, 0), d - 1);
      int64_t k = int64_t(gs_reflect(float(i), lo, hi));
      return std::min(std::max<int64_t>(k, 0), d - 1);
    };
    if (mode_ == GsMode::Nearest) {
      cnt = 1;
      idx[0] = pixel(int64_t(v));
      w[0] = 1;
      return;
    }
    float f = std::floor(v);
    float t = v - f;
    int64_t i0 = int64_t(f);
    if (mode_ == GsMode::Linear) {
      cnt = 2;
      idx[0] = pixel(i0);
      idx[1] = pixel(i0 + 1);
      w[0] = 1 - t;
      w[1] = t;
    } else {
      cnt = 4;
      cubic_coeffs(t, w);
      for (int k = 0; k < 4; ++k) idx[k] = pixel(i0 - 1 + k);
    }
  }

  int opset_;
  GsMode mode_ = GsMode::Linear;
  GsPad pad_ = GsPad::Zeros;
  bool align_ = false;
};

// AffineGrid: theta [N, 2, 3] (2-D) or [N, 3, 4] (3-D) and size [N, C, (D,) H, W] give the
// sampling grid [N, (D,) H, W, 2|3] of theta applied to the normalized base grid.
class AffineGridKernel : public OpKernel {
 public:
  explicit AffineGridKernel(const OpInit& init) { align_ = init.attrs().get_int("align_corners", 0) != 0; }
  void compute(KernelContext& ctx) const override {
    const Tensor& theta = ctx.in(0);
    std::vector<int64_t> size = ctx.in(1).to_int64_vector();
    FI_CHECK(size.size() == 4 || size.size() == 5, InvalidArgument, "AffineGrid: size must have 4 or 5 values");
    int nd = int(size.size()) - 2;
    for (int64_t v : size) FI_CHECK(v >= 0, InvalidArgument, "AffineGrid: negative size");
    FI_CHECK(theta.rank() == 3 && theta.dim(0) == size[0] && theta.dim(1) == nd && theta.dim(2) == nd + 1,
             InvalidArgument, "AffineGrid: theta shape ", theta.shape().str(), " does not match size");
    Shape ys;
    ys.push_back(size[0]);
    for (int i = 0; i < nd; ++i) ys.push_back(size[size_t(2 + i)]);
    ys.push_back(nd);
    Tensor& y = ctx.output(0, theta.dtype(), ys);
    if (y.numel() == 0) return;
    // base coordinates per spatial dim (dims in D, H, W order)
    std::vector<std::vector<double>> base(static_cast<size_t>(nd));
    for (int i = 0; i < nd; ++i) {
      int64_t s = size[size_t(2 + i)];
      for (int64_t k = 0; k < s; ++k) {
        double v = align_ ? (s > 1 ? -1.0 + 2.0 * double(k) / double(s - 1) : -1.0) : -1.0 + (2.0 * double(k) + 1) / double(s);
        base[size_t(i)].push_back(v);
      }
    }
    int64_t npts = ys.prod(1, nd + 1);
    dispatch_float(theta.dtype(), "AffineGrid", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* th = theta.data<T>();
      T* py = y.data<T>();
      for (int64_t n = 0; n < size[0]; ++n) {
        const T* t = th + n * nd * (nd + 1);
        for (int64_t p = 0; p < npts; ++p) {
          double h[4];  // homogeneous point: x (innermost dim), y, (z), 1
          int64_t rem = p;
          for (int i = nd - 1; i >= 0; --i) {
            int64_t s = size[size_t(2 + i)];
            int64_t k = rem % s;
            rem /= s;
            h[nd - 1 - i] = base[size_t(i)][size_t(k)];
          }
          h[nd] = 1;
          T* o = py + (n * npts + p) * nd;
          for (int r = 0; r < nd; ++r) {
            double acc = 0;
            for (int c = 0; c <= nd; ++c) acc += double(t[r * (nd + 1) + c]) * h[c];
            o[r] = T(acc);
          }
        }
      }
    });
  }

 private:
  bool align_ = false;
};

// Col2Im: X [N, C * prod(block), L] -> Y [N, C, image...], summing each column into the
// image positions its block covers (strides, dilations, pads as in Conv).
class Col2ImKernel : public OpKernel {
 public:
  explicit Col2ImKernel(const OpInit& init) {
    dil_ = init.attrs().get_ints("dilations");
    pads_ = init.attrs().get_ints("pads");
    strides_ = init.attrs().get_ints("strides");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    std::vector<int64_t> img = ctx.in(1).to_int64_vector(), blk = ctx.in(2).to_int64_vector();
    size_t nd = img.size();
    FI_CHECK(nd >= 1 && blk.size() == nd, InvalidArgument, "Col2Im: image_shape and block_shape must have the same size");
    FI_CHECK(nd <= size_t(Shape::kMaxRank - 2), InvalidArgument, "Col2Im: too many spatial dims");
    FI_CHECK(x.rank() == 3, InvalidArgument, "Col2Im: input must be [N, C*prod(block), L], got ", x.shape().str());
    auto at = [&](const std::vector<int64_t>& v, size_t i, int64_t d) { return v.empty() ? d : v[i]; };
    FI_CHECK(dil_.empty() || dil_.size() == nd, InvalidArgument, "Col2Im: dilations size mismatch");
    FI_CHECK(strides_.empty() || strides_.size() == nd, InvalidArgument, "Col2Im: strides size mismatch");
    FI_CHECK(pads_.empty() || pads_.size() == 2 * nd, InvalidArgument, "Col2Im: pads size mismatch");
    int64_t kprod = 1, nblocks = 1;
    std::vector<int64_t> nb(nd);
    for (size_t i = 0; i < nd; ++i) {
      int64_t d = at(dil_, i, 1), s = at(strides_, i, 1);
      FI_CHECK(img[i] >= 0 && blk[i] >= 1 && d >= 1 && s >= 1, InvalidArgument, "Col2Im: bad shapes or attributes");
      kprod *= blk[i];
      int64_t span = img[i] + at(pads_, i, 0) + at(pads_, i + nd, 0) - d * (blk[i] - 1) - 1;
      FI_CHECK(span >= 0, InvalidArgument, "Col2Im: block larger than the padded image");
      nb[i] = span / s + 1;
      nblocks *= nb[i];
    }
    FI_CHECK(x.dim(1) % kprod == 0, InvalidArgument, "Col2Im: dim 1 (", x.dim(1), ") not divisible by prod(block_shape)");
    FI_CHECK(x.dim(2) == nblocks, InvalidArgument, "Col2Im: dim 2 is ", x.dim(2), ", expected ", nblocks, " blocks");
    int64_t C = x.dim(1) / kprod, N = x.dim(0);
    Shape ys{N, C};
    int64_t isz = 1;
    for (int64_t v : img) {
      ys.push_back(v);
      isz *= v;
    }
    Tensor& y = ctx.output(0, x.dtype(), ys);
    if (y.numel() == 0) return;
    dispatch_numeric(x.dtype(), "Col2Im", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      parallel_for(ctx.pool(), N * C, 1, [&](int64_t b, int64_t e) {
        std::vector<int64_t> kc(nd), bc(nd);
        std::vector<double> acc(static_cast<size_t>(isz));
        for (int64_t pl = b; pl < e; ++pl) {
          std::fill(acc.begin(), acc.end(), 0.0);
          const T* xp = px + pl * kprod * nblocks;
          std::fill(kc.begin(), kc.end(), 0);
          for (int64_t k = 0; k < kprod; ++k) {
            std::fill(bc.begin(), bc.end(), 0);
            for (int64_t l = 0; l < nblocks; ++l) {
              int64_t pos = 0;
              bool ok = true;
              for (size_t i = 0; i < nd && ok; ++i) {
                int64_t q = bc[i] * at(strides_, i, 1) - at(pads_, i, 0) + kc[i] * at(dil_, i, 1);
                ok = q >= 0 && q < img[i];
                pos = pos * img[i] + q;
              }
              if (ok) acc[size_t(pos)] += double(xp[k * nblocks + l]);
              for (size_t i = nd; i-- > 0;) {
                if (++bc[i] < nb[i]) break;
                bc[i] = 0;
              }
            }
            for (size_t i = nd; i-- > 0;) {
              if (++kc[i] < blk[i]) break;
              kc[i] = 0;
            }
          }
          T* yp = py + pl * isz;
          for (int64_t i = 0; i < isz; ++i) yp[i] = T(acc[size_t(i)]);
        }
      });
    });
  }

 private:
  std::vector<int64_t> dil_, pads_, strides_;
};

}  // namespace

void register_grid_kernels(OpRegistry& r) {
  r.add("GridSample", 16, make_kernel<GridSampleKernel>);
  r.add("AffineGrid", 20, make_kernel<AffineGridKernel>);
  r.add("Col2Im", 18, make_kernel<Col2ImKernel>);
}

}  // namespace fi
