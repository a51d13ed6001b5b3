#include "graph/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace fi {

MemoryPlan plan_memory(const std::vector<Lifetime>& lt, size_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(lt.size(), 0);
  std::vector<size_t> order(lt.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lt[a].bytes > lt[b].bytes; });
  auto round_up = [&](size_t x) { return (x + alignment - 1) / alignment * alignment; };

  struct Placed { size_t offset, end; int first, last; };
  std::vector<Placed> placed;
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) ranges of time-overlapping buffers
  for (size_t idx : order) {
    const Lifetime& l = lt[idx];
    size_t need = round_up(std::max<size_t>(l.bytes, 1));
    busy.clear();
    for (const Placed& p : placed)
      if (p.first <= l.last && l.first <= p.last) busy.push_back({p.offset, p.end});
    std::sort(busy.begin(), busy.end());
    // Best fit: the smallest gap that holds the buffer, else after the last busy range.
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& r : busy) {
      if (r.first > cursor && r.first - cursor >= need && r.first - cursor < best_gap) {
        best_gap = r.first - cursor;
        best = cursor;
      }
      cursor = std::max(cursor, r.second);
    }
    if (best == SIZE_MAX) best = cursor;
    plan.offsets[idx] = best;
    placed.push_back({best, best + need, l.first, l.last});
    plan.arena_bytes = std::max(plan.arena_bytes, best + need);
  }
  return plan;
}

}  // namespace fi
