// fastinfer._core.testing: core pieces exposed for unit tests (planner, thread pool).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "core/buffer_cache.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "graph/memory_planner.h"

namespace py = pybind11;

void bind_testing(py::module_& m) {
  py::module_ t = m.def_submodule("testing", "core internals for unit tests");
  t.def("buffer_allocation_count", &fi::buffer_allocation_count,
        "Number of tensor buffers allocated on the heap since the module loaded.");
  t.def("buffer_cache_bytes", &fi::buffer_cache_bytes, "Bytes of freed output buffers kept for reuse.");
  t.def("plan_memory", [](const std::vector<std::tuple<int, int, size_t>>& lts, size_t alignment) {
    std::vector<fi::Lifetime> v;
    for (const auto& l : lts) v.push_back({std::get<0>(l), std::get<1>(l), std::get<2>(l)});
    fi::MemoryPlan p = fi::plan_memory(v, alignment);
    return py::make_tuple(p.offsets, p.arena_bytes);
  }, py::arg("lifetimes"), py::arg("alignment") = 64);
  // Sums i over [0, n) with parallel_for (optionally nested one level, optionally throwing at
  // index `throw_at`), on a pool of `threads`, `repeat` times. Returns the last sum.
  t.def("pool_sum", [](int threads, int64_t n, int64_t grain, bool nested, int64_t throw_at, int repeat) {
    py::gil_scoped_release nogil;
    fi::ThreadPool pool(threads);
    int64_t result = 0;
    for (int r = 0; r < repeat; ++r) {
      std::atomic<int64_t> sum{0};
      pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          if (i == throw_at) throw std::runtime_error("boom");
          if (nested) {
            std::atomic<int64_t> inner{0};
            pool.parallel_for(4, 1, [&](int64_t ib, int64_t ie) { inner += ie - ib; });
            sum += i * inner.load() / 4;
          } else {
            sum += i;
          }
        }
      });
      result = sum.load();
    }
    return result;
  }, py::arg("threads"), py::arg("n"), py::arg("grain") = 1, py::arg("nested") = false,
     py::arg("throw_at") = -1, py::arg("repeat") = 1);
  // Runs parallel_for_slots over [0, n) `repeat` times with a little work per index and checks
  // what its callers rely on. Returns (every index ran exactly once in every repeat, the largest
  // slot seen, the number of times a slot was entered while another chunk held it, the number of
  // chunks shorter than grain other than a job's last one).
  t.def("pool_slots_check", [](int threads, int64_t n, int64_t grain, int repeat) {
    py::gil_scoped_release nogil;  // taken back by the tuple's conversion after return
    fi::ThreadPool pool(threads);
    bool once = true;
    std::atomic<int> max_slot{0}, conflicts{0}, short_chunks{0};
    std::vector<std::atomic<int>> busy(size_t(threads) + 1);
    for (int r = 0; r < repeat; ++r) {
      std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
      pool.parallel_for_slots(n, grain, [&](int slot, int64_t b, int64_t e) {
        if (slot < 0 || slot >= threads) {
          conflicts++;
          return;
        }
        if (busy[size_t(slot)].exchange(1)) conflicts++;
        int ms = max_slot.load();
        while (slot > ms && !max_slot.compare_exchange_weak(ms, slot)) {}
        if (e - b < grain && e != n) short_chunks++;
        volatile double x = 0;
        for (int64_t i = b; i < e; ++i) {
          for (int k = 0; k < 200; ++k) x = x + 1.0;
          seen[size_t(i)]++;
        }
        busy[size_t(slot)].store(0);
      });
      for (int64_t i = 0; i < n; ++i) once &= seen[size_t(i)].load() == 1;
    }
    return std::make_tuple(once, max_slot.load(), conflicts.load(), short_chunks.load());
  }, py::arg("threads"), py::arg("n"), py::arg("grain") = 1, py::arg("repeat") = 1);
}
