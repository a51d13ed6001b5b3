// RoiAlign (10, 16) and NonMaxSuppression (10).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/dispatch_type.h"
#include "ops/pool/pool_ops.h"
#include "ops/registry.h"

namespace fi {

namespace {

// One bilinear sample: four flat pixel offsets and their weights (all zero outside the image).
struct RoiSample {
  int64_t p[4];
  float w[4];
};

// RoiAlign: X [N, C, H, W], rois [R, 4] (x1, y1, x2, y2), batch_indices [R] -> Y [R, C, oh, ow].
// Each output bin averages (or maxes) bilinear samples on a regular grid inside the bin; the
// sample positions and weights are computed once per roi and reused for all channels.
class RoiAlignKernel : public OpKernel {
 public:
  explicit RoiAlignKernel(const OpInit& init) {
    const Attributes& a = init.attrs();
    std::string mode = a.get_string("mode", "avg");
    FI_CHECK(mode == "avg" || mode == "max", InvalidModel, "RoiAlign: unknown mode '", mode, "'");
    max_ = mode == "max";
    oh_ = a.get_int("output_height", 1);
    ow_ = a.get_int("output_width", 1);
    sampling_ = a.get_int("sampling_ratio", 0);
    scale_ = a.get_float("spatial_scale", 1.0f);
    FI_CHECK(oh_ >= 1 && ow_ >= 1 && sampling_ >= 0, InvalidModel, "RoiAlign: bad output size or sampling_ratio");
    if (init.opset() >= 16) {
      std::string ct = a.get_string("coordinate_transformation_mode", "half_pixel");
      FI_CHECK(ct == "half_pixel" || ct == "output_half_pixel", InvalidModel,
               "RoiAlign: unknown coordinate_transformation_mode '", ct, "'");
      half_pixel_ = ct == "half_pixel";
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    const Tensor& rois = ctx.in(1);
    const Tensor& bi = ctx.in(2);
    FI_CHECK(x.rank() == 4, InvalidArgument, "RoiAlign: X must be 4-D, got ", x.shape().str());
    FI_CHECK(rois.rank() == 2 && rois.dim(1) == 4, InvalidArgument, "RoiAlign: rois must be [R, 4], got ", rois.shape().str());
    FI_CHECK(rois.dtype() == x.dtype(), InvalidArgument, "RoiAlign: rois type differs from X");
    FI_CHECK(bi.rank() == 1 && bi.dim(0) == rois.dim(0), InvalidArgument, "RoiAlign: batch_indices must be [R]");
    std::vector<int64_t> bidx = bi.to_int64_vector();
    int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), R = rois.dim(0);
    for (int64_t b : bidx) FI_CHECK(b >= 0 && b < N, InvalidArgument, "RoiAlign: batch index ", b, " out of range");
    Tensor& y = ctx.output(0, x.dtype(), Shape{R, C, oh_, ow_});
    if (y.numel() == 0) return;
    dispatch_float(x.dtype(), "RoiAlign", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      const T* pr = rois.data<T>();
      T* py = y.data<T>();
      parallel_for(ctx.pool(), R, 1, [&](int64_t b, int64_t e) {
        std::vector<RoiSample> samples;
        for (int64_t r = b; r < e; ++r) {
          float off = half_pixel_ ? 0.5f : 0.0f;
          float sw = float(pr[r * 4 + 0]) * scale_ - off, sh = float(pr[r * 4 + 1]) * scale_ - off;
          float ew = float(pr[r * 4 + 2]) * scale_ - off, eh = float(pr[r * 4 + 3]) * scale_ - off;
          float rw = ew - sw, rh = eh - sh;
          if (!half_pixel_) {
            rw = std::max(rw, 1.0f);
            rh = std::max(rh, 1.0f);
          }
          float bh = rh / float(oh_), bw = rw / float(ow_);
          FI_CHECK(std::isfinite(rh) && std::isfinite(rw) && std::isfinite(sh) && std::isfinite(sw), InvalidArgument,
                   "RoiAlign: roi ", r, " has non-finite coordinates");
          auto grid_n = [&](float len, int64_t bins) -> int64_t {
            if (sampling_ > 0) return sampling_;
            double g = std::ceil(double(len) / double(bins));
            return g <= 0 ? 0 : int64_t(std::min(g, 1024.0));
          };
          int64_t gh = grid_n(rh, oh_), gw = grid_n(rw, ow_);
          FI_CHECK(gh * gw * oh_ * ow_ <= (int64_t(1) << 26), InvalidArgument, "RoiAlign: roi ", r,
                   " needs too many samples");
          float count = float(std::max<int64_t>(gh * gw, 1));
          samples.clear();
          for (int64_t ph = 0; ph < oh_; ++ph)
            for (int64_t pw = 0; pw < ow_; ++pw)
              for (int64_t iy = 0; iy < gh; ++iy) {
                float yy = sh + float(ph) * bh + (float(iy) + 0.5f) * bh / float(gh);
                for (int64_t ix = 0; ix < gw; ++ix) {
                  float xx = sw + float(pw) * bw + (float(ix) + 0.5f) * bw / float(gw);
                  samples.push_back(bilinear(yy, xx, H, W));
                }
              }
          int64_t per_bin = gh * gw;
          for (int64_t c = 0; c < C; ++c) {
            const T* xp = px + (bidx[size_t(r)] * C + c) * H * W;
            T* yp = py + (r * C + c) * oh_ * ow_;
            for (int64_t bin = 0; bin < oh_ * ow_; ++bin) {
              const RoiSample* s = samples.data() + bin * per_bin;
              float out = 0;
              bool first = true;
              for (int64_t k = 0; k < per_bin; ++k) {
                const RoiSample& q = s[k];
                if (!max_) {
                  out += q.w[0] * float(xp[q.p[0]]) + q.w[1] * float(xp[q.p[1]]) + q.w[2] * float(xp[q.p[2]]) +
                         q.w[3] * float(xp[q.p[3]]);
                } else {
                  float v = std::max(std::max(std::max(q.w[0] * float(xp[q.p[0]]), q.w[1] * float(xp[q.p[1]])),
                                              q.w[2] * float(xp[q.p[2]])), q.w[3] * float(xp[q.p[3]]));
                  out = first ? v : std::max(out, v);
                  first = false;
                }
              }
              yp[bin] = T(max_ ? out : out / count);
            }
          }
        }
      });
    });
  }

 private:
  static RoiSample bilinear(float y, float x, int64_t H, int64_t W) {
    RoiSample s{{0, 0, 0, 0}, {0, 0, 0, 0}};
    if (!(y >= -1.0f && y <= float(H) && x >= -1.0f && x <= float(W)) || H == 0 || W == 0) return s;
    y = std::max(y, 0.0f);
    x = std::max(x, 0.0f);
    int64_t yl = int64_t(y), xl = int64_t(x), yh, xh;
    if (yl >= H - 1) {
      yh = yl = H - 1;
      y = float(yl);
    } else {
      yh = yl + 1;
    }
    if (xl >= W - 1) {
      xh = xl = W - 1;
      x = float(xl);
    } else {
      xh = xl + 1;
    }
    float ly = y - float(yl), lx = x - float(xl), hy = 1 - ly, hx = 1 - lx;
    s.p[0] = yl * W + xl;
    s.p[1] = yl * W + xh;
    s.p[2] = yh * W + xl;
    s.p[3] = yh * W + xh;
    s.w[0] = hy * hx;
    s.w[1] = hy * lx;
    s.w[2] = ly * hx;
    s.w[3] = ly * lx;
    return s;
  }

  bool max_ = false, half_pixel_ = false;
  int64_t oh_ = 1, ow_ = 1, sampling_ = 0;
  float scale_ = 1;
};

// NonMaxSuppression: boxes [B, S, 4], scores [B, K, S] -> selected [M, 3] (batch, class, box),
// greedy per (batch, class) in descending score order, dropping boxes whose IoU with a kept box
// exceeds iou_threshold.
class NmsKernel : public OpKernel {
 public:
  explicit NmsKernel(const OpInit& init) {
    center_ = init.attrs().get_int("center_point_box", 0);
    FI_CHECK(center_ == 0 || center_ == 1, InvalidModel, "NonMaxSuppression: center_point_box must be 0 or 1");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& boxes = ctx.in(0);
    const Tensor& scores = ctx.in(1);
    FI_CHECK(boxes.rank() == 3 && boxes.dim(2) == 4, InvalidArgument, "NonMaxSuppression: boxes must be [B, S, 4]");
    FI_CHECK(scores.rank() == 3 && scores.dim(0) == boxes.dim(0) && scores.dim(2) == boxes.dim(1), InvalidArgument,
             "NonMaxSuppression: scores shape ", scores.shape().str(), " does not match boxes ", boxes.shape().str());
    FI_CHECK(boxes.dtype() == DataType::Float && scores.dtype() == DataType::Float, NotImplemented,
             "NonMaxSuppression: only float boxes and scores are supported");
    int64_t max_out = 0;
    if (ctx.input(2) && ctx.input(2)->numel() > 0) max_out = ctx.input(2)->to_int64_vector()[0];
    float iou_t = 0, score_t = 0;
    bool has_score = false;
    if (ctx.input(3) && ctx.input(3)->numel() > 0) iou_t = float(ctx.input(3)->scalar_as_double());
    if (ctx.input(4) && ctx.input(4)->numel() > 0) {
      score_t = float(ctx.input(4)->scalar_as_double());
      has_score = true;
    }
    FI_CHECK(iou_t >= 0 && iou_t <= 1, InvalidArgument, "NonMaxSuppression: iou_threshold must be in [0, 1]");
    int64_t B = boxes.dim(0), S = boxes.dim(1), K = scores.dim(1);
    const float* pb = boxes.data<float>();
    const float* ps = scores.data<float>();
    std::vector<int64_t> sel;
    std::vector<int64_t> order;
    std::vector<int64_t> kept;
    if (max_out > 0) {
      for (int64_t b = 0; b < B; ++b) {
        const float* bb = pb + b * S * 4;
        for (int64_t k = 0; k < K; ++k) {
          const float* sc = ps + (b * K + k) * S;
          order.clear();
          for (int64_t i = 0; i < S; ++i)
            if (!has_score || sc[i] > score_t) order.push_back(i);
          auto key = [&](int64_t i) { return std::isnan(sc[i]) ? -std::numeric_limits<float>::infinity() : sc[i]; };
          std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) { return key(a) > key(c); });
          kept.clear();
          for (int64_t i : order) {
            if (int64_t(kept.size()) >= max_out) break;
            bool keep = true;
            for (int64_t j : kept)
              if (iou(bb + i * 4, bb + j * 4) > iou_t) {
                keep = false;
                break;
              }
            if (keep) {
              kept.push_back(i);
              sel.push_back(b);
              sel.push_back(k);
              sel.push_back(i);
            }
          }
        }
      }
    }
    Tensor& y = ctx.output(0, DataType::Int64, Shape{int64_t(sel.size() / 3), 3});
    std::copy(sel.begin(), sel.end(), y.data<int64_t>());
  }

 private:
  float iou(const float* a, const float* b) const {
    float ay1, ax1, ay2, ax2, by1, bx1, by2, bx2;
    corners(a, ay1, ax1, ay2, ax2);
    corners(b, by1, bx1, by2, bx2);
    float area_a = (ay2 - ay1) * (ax2 - ax1), area_b = (by2 - by1) * (bx2 - bx1);
    if (area_a <= 0 || area_b <= 0) return 0;
    float ih = std::min(ay2, by2) - std::max(ay1, by1), iw = std::min(ax2, bx2) - std::max(ax1, bx1);
    if (ih <= 0 || iw <= 0) return 0;
    float inter = ih * iw;
    return inter / (area_a + area_b - inter);
  }
  void corners(const float* p, float& y1, float& x1, float& y2, float& x2) const {
    if (center_ == 0) {
      y1 = std::min(p[0], p[2]);
      y2 = std::max(p[0], p[2]);
      x1 = std::min(p[1], p[3]);
      x2 = std::max(p[1], p[3]);
    } else {
      x1 = p[0] - p[2] / 2;
      x2 = p[0] + p[2] / 2;
      y1 = p[1] - p[3] / 2;
      y2 = p[1] + p[3] / 2;
    }
  }
  int64_t center_ = 0;
};

}  // namespace

void register_roi_kernels(OpRegistry& r) {
  r.add("RoiAlign", 10, make_kernel<RoiAlignKernel>);
  r.add("NonMaxSuppression", 10, make_kernel<NmsKernel>);
}

}  // namespace fi
