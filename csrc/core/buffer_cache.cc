#include "core/buffer_cache.h"

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace fi {

namespace {

constexpr size_t kMinBytes = size_t(1) << 20;  // smaller ones come from malloc's free lists

struct Cache {
  std::mutex mu;
  std::vector<std::pair<size_t, void*>> free;  // (size, buffer)
  size_t bytes = 0;
  size_t limit = 0;
  Cache() {
    const char* e = std::getenv("FASTINFER_BUFFER_CACHE_MB");
    limit = (e && *e ? size_t(std::strtoull(e, nullptr, 10)) : size_t(256)) << 20;
  }
};

// Never destroyed: outputs may be freed by Python after static destructors ran.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

void* buffer_cache_take(size_t bytes) {
  if (bytes >= kMinBytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lk(c.mu);
    // The smallest cached buffer that fits and wastes at most a quarter of itself.
    size_t best = c.free.size();
    for (size_t i = 0; i < c.free.size(); ++i)
      if (c.free[i].first >= bytes && c.free[i].first - bytes <= c.free[i].first / 4 &&
          (best == c.free.size() || c.free[i].first < c.free[best].first))
        best = i;
    if (best != c.free.size()) {
      void* p = c.free[best].second;
      c.bytes -= c.free[best].first;
      c.free.erase(c.free.begin() + std::ptrdiff_t(best));
      return p;
    }
  }
  return nullptr;
}

void buffer_cache_give(void* p, size_t bytes) {
  if (!p) return;
  if (bytes >= kMinBytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lk(c.mu);
    if (c.bytes + bytes <= c.limit) {
      c.free.emplace_back(bytes, p);
      c.bytes += bytes;
      return;
    }
  }
  std::free(p);
}

size_t buffer_cache_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  return c.bytes;
}

}  // namespace fi
