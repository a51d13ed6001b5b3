// fastinfer._core.testing: core pieces exposed for unit tests (planner, thread pool).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cmath>
#include <random>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "core/buffer_cache.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "graph/memory_planner.h"
#include "kernels/winograd_nhwc.h"

namespace py = pybind11;

void bind_testing(py::module_& m) {
  py::module_ t = m.def_submodule("testing", "core internals for unit tests");
  t.def("buffer_allocation_count", &fi::buffer_allocation_count,
        "Number of tensor buffers allocated on the heap since the module loaded.");
  t.def("buffer_cache_bytes", &fi::buffer_cache_bytes, "Bytes of freed output buffers kept for reuse.");
  // Allocates a tensor buffer of `bytes` (zero-filled when asked), writes its last byte, and
  // returns (its address modulo 2 MiB, whether every byte was zero before that write).
  t.def("alloc_buffer_check", [](size_t bytes, bool zero) {
    auto owner = fi::alloc_buffer(bytes, zero);
    auto* p = static_cast<unsigned char*>(owner.get());
    bool zeros = true;
    for (size_t i = 0; i < bytes; ++i) zeros = zeros && p[i] == 0;
    if (bytes) p[bytes - 1] = 1;
    return py::make_tuple(reinterpret_cast<uintptr_t>(p) % (uintptr_t(2) << 20), zeros);
  }, py::arg("bytes"), py::arg("zero") = true);
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
  // Runs parallel_phases over the phases' sizes `n` `repeat` times (a little work per index; an
  // exception at index throw_at of the last phase when >= 0) and checks what stages rely on.
  // Returns (every index of every phase ran exactly once, the number of chunks that started
  // before the phase before had finished, the number of slot conflicts). affine: each thread's
  // own ranges first (the executor's chained jobs).
  t.def("pool_phases_check", [](int threads, std::vector<int64_t> n, int64_t grain, int repeat, int64_t throw_at,
                                bool affine) {
    py::gil_scoped_release nogil;
    fi::ThreadPool pool(threads);
    const int phases = int(n.size());
    bool once = true;
    std::atomic<int> early{0}, conflicts{0};
    std::vector<std::atomic<int>> busy(size_t(threads) + 1);
    const std::vector<int64_t> grains(n.size(), grain);
    for (int r = 0; r < repeat; ++r) {
      std::vector<std::vector<std::atomic<int>>> seen;
      for (int64_t k : n) seen.emplace_back(static_cast<size_t>(std::max<int64_t>(0, k)));
      std::vector<std::atomic<int64_t>> finished(n.size());
      fi::parallel_phases(&pool, phases, n.data(), grains.data(), [&](int p, int slot, int64_t b, int64_t e) {
        if (slot < 0 || slot >= threads || busy[size_t(slot)].exchange(1)) conflicts++;
        if (p > 0 && finished[size_t(p - 1)].load() != n[size_t(p - 1)]) early++;
        volatile double x = 0;
        for (int64_t i = b; i < e; ++i) {
          for (int k = 0; k < 200; ++k) x = x + 1.0;
          seen[size_t(p)][size_t(i)]++;
        }
        if (slot >= 0 && slot < threads) busy[size_t(slot)].store(0);
        finished[size_t(p)] += e - b;
        if (p == phases - 1 && throw_at >= b && throw_at < e) throw std::runtime_error("boom");
      }, affine);
      for (size_t p = 0; p < n.size(); ++p)
        for (auto& v : seen[p]) once &= v.load() == 1;
    }
    return std::make_tuple(once, early.load(), conflicts.load());
  }, py::arg("threads"), py::arg("n"), py::arg("grain") = 1, py::arg("repeat") = 1, py::arg("throw_at") = -1,
     py::arg("affine") = false);
  // Channels-last Winograd's tasks with the scratch f32_winograd_nhwc_scratch_size gives for
  // `threads`, followed by a canary: phase 0 on slot 0, then every phase-1 task on `slot` (any
  // slot below threads may run one). Returns (Y equals a run on slot 0, the canary is intact).
  t.def("winograd_nhwc_slot_check", [](int64_t c, int64_t hw, int threads, int slot) {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.f, 0.1f);
    std::vector<float> w(size_t(c * c * 9)), x(size_t(hw * hw * c));
    for (float& v : w) v = nd(rng);
    for (float& v : x) v = nd(rng);
    const fi::kernels::F32WinogradNhwcPlan plan = fi::kernels::f32_winograd_nhwc_plan(w.data(), c, c, 4);
    fi::kernels::WinogradNhwcGeom g;
    g.n = 1, g.in_h = g.in_w = g.out_h = g.out_w = hw, g.pad_top = g.pad_left = 1;
    const size_t floats = fi::kernels::f32_winograd_nhwc_scratch_size(plan, g, threads);
    constexpr size_t kCanary = 4096;
    auto run = [&](int s, std::vector<float>& y, bool& canary_ok) {
      std::vector<float> scratch(floats + kCanary, 12345.f);
      const fi::kernels::F32WinogradNhwcTasks tasks(plan, g, x.data(), nullptr, nullptr, -INFINITY, INFINITY, y.data(),
                                                    scratch.data(), threads);
      if (tasks.n(0) > 0) tasks.run(0, 0, 0, tasks.n(0));
      for (int64_t i = 0; i < tasks.n(1); ++i) tasks.run(1, s, i, i + 1);
      canary_ok = true;
      for (size_t i = floats; i < scratch.size(); ++i) canary_ok &= scratch[i] == 12345.f;
    };
    std::vector<float> y0(x.size()), y1(x.size());
    bool ok0 = false, ok1 = false;
    run(0, y0, ok0);
    run(slot, y1, ok1);
    return std::make_tuple(y0 == y1, ok0 && ok1);
  }, py::arg("c"), py::arg("hw"), py::arg("threads"), py::arg("slot"));
}

