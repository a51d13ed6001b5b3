// The Winograd path of Conv (kernels/winograd.h): float32 2-D convs with a constant 3x3 kernel,
// stride 1, dilation 1, dense groups. Made in ConvKernel's constructor (null when the layer does
// not qualify or Winograd is off); run() takes a call when its shape pays and reports whether it did.
// The transformed weights (4x / 7x the size of W for F(4,3) / F(6,3)) are made once, by the first
// call that takes the path, so layers whose shapes never pay (7x7 at batch 1) cost no memory.
// Off switch: session config entry "conv.winograd" (else the FASTINFER_WINOGRAD environment
// variable): "0" off, "1" on where it pays (default; F(4,3)), "4" / "6" always F(4,3) / F(6,3).
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "kernels/winograd.h"
#include "ops/kernel.h"
#include "ops/nn/conv_util.h"
#include "ops/nn/gemm_util.h"

namespace fi::nn {

// The Winograd switch: session config "conv.winograd", else FASTINFER_WINOGRAD, else "1".
// Throws InvalidArgument unless it is "0", "1", "2", "4" or "6" (forced F(2,3) is channels-last
// only: an NCHW Conv takes F(4,3) for "2").
std::string winograd_mode(const OpInit& init);

// The size rule: Winograd pays from `per_thread` output tiles (tile x tile) per thread (F(4,3)
// for NCHW Conv: 16; see conv_winograd.cc).
bool winograd_tiles_pay(int64_t out_h, int64_t out_w, int64_t n, int threads, int64_t per_thread = 16,
                        int64_t tile = 4);

class ConvWinograd {
 public:
  // The Winograd plan for this Conv node, or null.
  static std::unique_ptr<ConvWinograd> make(const OpInit& init, const ConvAttrs& attrs);

  // True when the Winograd rule picks this call (n images, a pool of `threads`).
  bool pays(const ConvGeom& g, int64_t n, int threads) const;

  // Computes Y = clamp(conv(X) + B + R) when the call qualifies and pays; returns false (Y
  // untouched) otherwise. X [N, C, H, W] float; B [M] or null; R shaped like Y or null.
  bool run(KernelContext& ctx, const ConvGeom& g, const Tensor& X, const Tensor* B, const Tensor* R,
           const FusedClamp& clamp, Tensor& Y) const;

 private:
  const kernels::F32WinogradPlan& plan() const;

  Tensor w_;  // the constant W [groups * mg, cg, 3, 3]
  int m_ = 4;
  int64_t groups_ = 1, cg_ = 0, mg_ = 0;
  bool forced_ = false;  // "4" / "6": every qualifying call, whatever its size
  mutable std::once_flag once_;
  mutable kernels::F32WinogradPlan plan_;
};

}  // namespace fi::nn
