// ThreadPool: our own pool of worker threads (no OpenMP). `num_threads` counts the calling
// thread, so a pool of 1 starts no thread at all. Idle workers sleep on a condition variable;
// nothing spins. One pool may serve several sessions and several concurrent callers: each
// parallel_for is a job whose chunks the caller and any free workers take from a shared counter,
// and the caller can always finish its own job alone, so nested or concurrent calls never deadlock.
#pragma once
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

  // The number of hardware threads, or 1.
  static int hardware_threads();

 private:
  struct Job;
  void worker_loop();
  static void run_chunks(Job& job);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  bool stop_ = false;
};

// Runs fn over [0, n): on `pool` when it is non-null and has several threads, else inline.
void parallel_for(ThreadPool* pool, int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn);

}  // namespace fi
