// An activation moved into a Conv by the graph pass fuse_activation_into_conv (attribute
// fi.activation: "Sigmoid", "Tanh", "Silu", "HardSwish"), applied in the GEMM epilogue where the
// kernel has one, else over the output once the conv has written it.
#pragma once
#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/thread_pool.h"
#include "graph/attribute.h"
#include "kernels/vmath.h"

namespace fi::nn {

struct FusedActivation {
  kernels::Activation act = kernels::Activation::None;

  explicit FusedActivation(const Attributes& at, const std::string& prefix = "fi.") {
    const std::string name = at.get_string(prefix + "activation", "");
    if (name.empty()) return;
    if (name == "Sigmoid") act = kernels::Activation::Sigmoid;
    else if (name == "Tanh") act = kernels::Activation::Tanh;
    else if (name == "Silu") act = kernels::Activation::Silu;
    else if (name == "HardSwish") act = kernels::Activation::HardSwish;
    else throw InvalidModel("unknown fused activation '" + name + "'");
  }
  bool active() const { return act != kernels::Activation::None; }

  // y[i] = act(y[i]) for i < n, split over the pool.
  void apply(float* y, int64_t n, ThreadPool* pool) const {
    if (!active() || n <= 0) return;
    constexpr int64_t kBlock = 8192;  // 4 blocks, some 30 us, are worth waking a thread for
    parallel_for(pool, (n + kBlock - 1) / kBlock, 4, [&](int64_t b, int64_t e) {
      const int64_t s = b * kBlock, t = std::min(n, e * kBlock);
      kernels::f32_activation(act, y + s, y + s, t - s);
    });
  }
};

}  // namespace fi::nn
