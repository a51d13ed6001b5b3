// Memory planner: places buffers with known lifetimes in one arena so that buffers alive at
// the same time never share bytes. Pure: no dependence on graphs, ops or kernels.
// Greedy by size (largest first, lowest free offset), as in TFLite's and XNNPACK's planners.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fi {

struct Lifetime {
  int first = 0;       // first step at which the buffer is live
  int last = 0;        // last step at which it is live (inclusive)
  size_t bytes = 0;
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // one per lifetime, multiples of `alignment`
  size_t arena_bytes = 0;
};

MemoryPlan plan_memory(const std::vector<Lifetime>& lifetimes, size_t alignment = 64);

}  // namespace fi
