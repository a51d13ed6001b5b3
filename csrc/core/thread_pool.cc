#include "core/thread_pool.h"

#include <algorithm>
#include <exception>

namespace fi {

struct ThreadPool::Job {
  FunctionRef<void(int64_t, int64_t)> fn;
  int64_t n, chunk, num_chunks;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<int> attached{0};  // workers currently inside run_chunks for this job
  std::mutex mu;
  std::condition_variable cv;
  std::exception_ptr error;
  Job(FunctionRef<void(int64_t, int64_t)> f, int64_t n_, int64_t chunk_)
      : fn(f), n(n_), chunk(chunk_), num_chunks((n_ + chunk_ - 1) / chunk_) {}
};

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

void ThreadPool::run_chunks(Job& job) {
  for (;;) {
    int64_t c = job.next.fetch_add(1);
    if (c >= job.num_chunks) break;
    int64_t b = c * job.chunk, e = std::min(job.n, b + job.chunk);
    try {
      job.fn(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lk(job.mu);
      if (!job.error) job.error = std::current_exception();
    }
    if (job.done.fetch_add(1) + 1 == job.num_chunks) {
      std::lock_guard<std::mutex> lk(job.mu);
      job.cv.notify_all();
    }
  }
}

void ThreadPool::worker_loop() {
  for (;;) {
    Job* job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = queue_.front();
      queue_.pop_front();
      job->attached.fetch_add(1);
    }
    run_chunks(*job);
    {
      std::lock_guard<std::mutex> lk(job->mu);
      job->attached.fetch_sub(1);
      job->cv.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t max_chunks = std::max<int64_t>(1, n / grain);
  // A few chunks per thread balance uneven work without much queue traffic.
  int64_t num_chunks = std::min<int64_t>(max_chunks, int64_t(num_threads_) * 4);
  if (num_threads_ == 1 || num_chunks == 1) {
    fn(0, n);
    return;
  }
  int64_t chunk = (n + num_chunks - 1) / num_chunks;
  Job job(fn, n, chunk);
  int helpers = int(std::min<int64_t>(job.num_chunks - 1, num_threads_ - 1));
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (int i = 0; i < helpers; ++i) queue_.push_back(&job);
  }
  if (helpers == 1) cv_.notify_one();
  else cv_.notify_all();
  run_chunks(job);
  {
    // Take back queue entries no worker picked up, so none touches `job` after we return.
    std::lock_guard<std::mutex> lk(mu_);
    queue_.erase(std::remove(queue_.begin(), queue_.end(), &job), queue_.end());
  }
  {
    std::unique_lock<std::mutex> lk(job.mu);
    job.cv.wait(lk, [&] { return job.done.load() == job.num_chunks && job.attached.load() == 0; });
  }
  if (job.error) std::rethrow_exception(job.error);
}

void parallel_for(ThreadPool* pool, int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn) {
  if (pool && pool->num_threads() > 1) pool->parallel_for(n, grain, fn);
  else if (n > 0) fn(0, n);
}

}  // namespace fi
