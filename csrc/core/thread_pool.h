// ThreadPool: our own pool of worker threads (no OpenMP). `num_threads` counts the calling
// thread, so a pool of 1 starts no thread at all. Idle workers sleep on a condition variable and
// never spin (unless a run allows it, see RunScope). One pool may serve several sessions
// and several concurrent callers: each parallel_for is a job whose chunks the caller and any free
// workers take from a shared counter, and the caller can always finish its own job alone, so
// nested or concurrent calls never deadlock.
//
// Chunks are guided: each takes a share of what is left (remaining / (2 * threads), at least
// `grain`), so a worker that wakes late still finds work, and the last chunks are small, so
// the threads finish close together. Waking a sleeping worker costs 25-40 us on a virtual
// machine whose idle vCPU halts (the 2-core CI machines), so callers run jobs of less than
// about 20 us inline (see kParallelMinFlops below), and a node's dependent stages (a MobileNet
// block's expansion, depthwise rows and projection) run as the phases of one job
// (parallel_phases), so the workers it wakes stay for all of them.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/function_ref.h"

namespace fi {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Runs fn(begin, end) over [0, n) in chunks of at least `grain` items; returns when all ran.
  // An exception thrown by fn is rethrown in the caller (the first one; other chunks still run).
  void parallel_for(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn);

  // The same, and fn(slot, begin, end) also gets the index in [0, num_threads()) of the thread
  // that runs the chunk within this job (the caller is 0): per-thread scratch without a fixed
  // split of the work.
  void parallel_for_slots(int64_t n, int64_t grain, FunctionRef<void(int, int64_t, int64_t)> fn);

  // Phases 0..phases-1 in one job: fn(phase, slot, begin, end) over [0, n[p]) in chunks of at
  // least grain[p], every chunk of phase p finished before any of phase p + 1 starts (each phase
  // may read what the one before wrote). The workers it wakes stay with the job between phases
  // (waiting on the last chunks of a phase as the caller's join does), so a node of dependent
  // stages pays one wake-up, not one per stage. At most kMaxPhases (the executor chains several
  // nodes' phases into one job; 64 rather than 32: ResNet-50 b1 t2 0.993x, MobileNetV2 0.993x,
  // MiniLM's 54 phases one job, within noise).
  // affine: each thread owns an equal contiguous range of every phase and takes from the others'
  // only when its own is done, so the thread that wrote part of one phase's output mostly reads
  // it back in the next (from its own L2); else chunks go to whichever thread asks first.
  static constexpr int kMaxPhases = 64;
  void parallel_phases(int phases, const int64_t* n, const int64_t* grain,
                       FunctionRef<void(int, int, int64_t, int64_t)> fn, bool affine = false);

  // The number of hardware threads, or 1.
  static int hardware_threads();

  // Marks a session run on `pool` (nullptr or one thread: nothing) for its lifetime; sessions
  // make one only when allowed to spin (session.intra_op.allow_spinning = 1; off by default).
  // While any such run is in progress, a worker that finishes a job waits up to kLingerUs with
  // pause instructions for the run's next one before it sleeps: a node's job then finds it awake,
  // where a sleeping worker costs a wake-up of 25-40 us per node (SqueezeNet at batch 1 on 2
  // threads runs some 30 parallel nodes). Once the last run ends, workers go back to sleep at
  // once, so nothing spins between runs.
  class RunScope {
   public:
    explicit RunScope(ThreadPool* pool) : pool_(pool && pool->num_threads() > 1 ? pool : nullptr) {
      if (pool_) pool_->active_runs_.fetch_add(1, std::memory_order_relaxed);
    }
    ~RunScope() {
      if (pool_) pool_->active_runs_.fetch_sub(1, std::memory_order_relaxed);
    }
    RunScope(const RunScope&) = delete;
    RunScope& operator=(const RunScope&) = delete;

   private:
    ThreadPool* pool_;
  };

 private:
  struct Job;
  void worker_loop();
  void linger() const;
  static void run_chunks(Job& job, int slot);
  static void run_chunk(Job& job, int phase, int slot, int64_t begin, int64_t end);
  static void wait_phase(Job& job, int phase);
  static bool job_finished(const Job& job);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::atomic<int> queued_{0};       // queue_.size(), read without mu_ by a lingering worker
  std::atomic<int> active_runs_{0};  // RunScopes alive
  bool stop_ = false;
};

// Runs fn over [0, n): on `pool` when it is non-null and has several threads, else inline.
void parallel_for(ThreadPool* pool, int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn);
void parallel_for_slots(ThreadPool* pool, int64_t n, int64_t grain, FunctionRef<void(int, int64_t, int64_t)> fn);
void parallel_phases(ThreadPool* pool, int phases, const int64_t* n, const int64_t* grain,
                     FunctionRef<void(int, int, int64_t, int64_t)> fn, bool affine = false);

// Work below about this many flops (some 20 us of GEMM on one core) runs inline: waking a worker
// would not pay. Kernels pass it to their split decisions (memory-bound ones divide it). Measured
// on MobileNetV2 and SqueezeNet at batch 1, 2 threads: 1e6-2e6 best, 4e6 3 % slower, 1e7 15 %.
constexpr double kParallelMinFlops = 2e6;

// Plain copies (Gather, Concat, Slice, a transpose's contiguous runs) move 10-20 GB/s on one core
// from cache, so a chunk of a parallel copy takes at least this many bytes: a job of two chunks
// (512 KiB, some 30 us) then pays for the wake-up. With 64 KiB chunks a BERT's 128 x 384
// embedding Gathers woke a worker each at batch 1 on 2 threads.
constexpr int64_t kParallelCopyChunkBytes = 256 * 1024;

// Chunk size in items for a parallel copy of items of `item_bytes` bytes each.
inline int64_t copy_grain(int64_t item_bytes) {
  return item_bytes > 0 ? std::max<int64_t>(1, kParallelCopyChunkBytes / item_bytes) : 1;
}

// Memory-bound work handed to a chained job (OpKernel::defer) splits in at least two chunks from
// this many bytes moved, and stays one chunk below: a lone small one then runs inline (a job of one
// chunk wakes no worker), a larger one keeps both threads of its phase busy.
constexpr int64_t kDeferredSplitBytes = 64 * 1024;

// The grain for such a phase of n items moving `bytes` in all, from the op's own grain.
inline int64_t deferred_grain(int64_t n, int64_t grain, int64_t bytes) {
  if (bytes < kDeferredSplitBytes) return std::max<int64_t>(1, n);
  return std::max<int64_t>(1, std::min(grain, (n + 1) / 2));
}

}  // namespace fi
