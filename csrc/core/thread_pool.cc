#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include "core/error.h"

namespace fi {

namespace {
// The longest the caller of parallel_for waits with pause instructions for chunks that workers
// are running before it sleeps (and a worker for the last chunks of a phase). A node's last chunk
// on a worker can take longer than 50 us (ResNet-50's 1x1 convs at batch 1, 2 threads: 8 tasks of
// 60-75 us); sleeping then costs a wake-up of 25-40 us. 200 against 50: ResNet-50 b1 t2 0.99x,
// MobileNetV2 b1 t2 0.98x (wall, alternating processes, Zen 4). Workers never spin between jobs
// unless a run allows it (kLingerUs).
constexpr int kJoinSpinUs = 200;
// The longest a worker waits with pause instructions for the next job of a run that allows it
// (ThreadPool::RunScope) before it sleeps. Between two nodes the caller runs the serial part of
// the executor and any node too small to split (MobileNetV2's and SqueezeNet's take a few us to
// some 100 us). At batch 1 on 2 threads against sleeping at once (in-process A/B, Zen 4 VM):
// SqueezeNet 0.87x the time, MobileNetV2 0.92x, ResNet-50 0.97x.
constexpr int kLingerUs = 300;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

// One parallel_for (one phase) or parallel_phases call: phase p's items [0, n[p]) are taken in
// chunks; a thread starts phase p + 1 only once every chunk of phase p has finished.
struct ThreadPool::Job {
  FunctionRef<void(int, int, int64_t, int64_t)> fn;  // (phase, slot, begin, end)
  int phases;
  int64_t n[kMaxPhases], grain[kMaxPhases];
  int64_t divisor;  // a chunk takes max(grain, remaining / divisor) items
  int threads;
  bool affine;
  std::unique_ptr<std::atomic<int64_t>[]> own;  // affine: [phase * threads + slot] next item of slot's range
  std::atomic<int64_t> next[kMaxPhases];
  std::atomic<int64_t> done[kMaxPhases];  // items finished
  std::atomic<int> attached{0};           // workers currently inside run_chunks for this job
  std::atomic<int> next_slot{1};          // the caller is slot 0
  std::mutex mu;
  std::condition_variable cv;
  std::exception_ptr error;
  Job(FunctionRef<void(int, int, int64_t, int64_t)> f, int phases_, const int64_t* n_, const int64_t* grain_,
      int threads_, bool affine_)
      : fn(f), phases(phases_), divisor(2 * int64_t(threads_)), threads(threads_), affine(affine_) {
    if (affine) own.reset(new std::atomic<int64_t>[size_t(phases * threads)]);
    for (int p = 0; p < phases; ++p) {
      n[p] = std::max<int64_t>(0, n_[p]);
      grain[p] = std::max<int64_t>(1, grain_[p]);
      next[p].store(0, std::memory_order_relaxed);
      done[p].store(0, std::memory_order_relaxed);
      if (affine)
        for (int s = 0; s < threads; ++s) own[size_t(p * threads + s)].store(range_begin(p, s), std::memory_order_relaxed);
    }
  }
  int64_t range_begin(int p, int s) const { return n[p] * s / threads; }
  bool phase_done(int p) const { return done[p].load(std::memory_order_acquire) == n[p]; }
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

bool ThreadPool::job_finished(const Job& job) {
  return job.phase_done(job.phases - 1) && job.attached.load(std::memory_order_acquire) == 0;
}

// Waits until every chunk of phase p has finished: they are all taken and run on threads that are
// working, so a short wait with pause instructions usually sees them end; then it sleeps.
void ThreadPool::wait_phase(Job& job, int p) {
  if (job.phase_done(p)) return;
  const auto t0 = std::chrono::steady_clock::now();
  do {
    for (int i = 0; i < 32; ++i) cpu_relax();
    if (job.phase_done(p)) return;
  } while (std::chrono::steady_clock::now() - t0 < std::chrono::microseconds(kJoinSpinUs));
  std::unique_lock<std::mutex> lk(job.mu);
  job.cv.wait(lk, [&] { return job.phase_done(p); });
}

void ThreadPool::run_chunk(Job& job, int p, int slot, int64_t b, int64_t e) {
  try {
    job.fn(p, slot, b, e);
  } catch (...) {
    std::lock_guard<std::mutex> lk(job.mu);
    if (!job.error) job.error = std::current_exception();
  }
  if (job.done[p].fetch_add(e - b, std::memory_order_acq_rel) + (e - b) == job.n[p]) {
    std::lock_guard<std::mutex> lk(job.mu);
    job.cv.notify_all();
  }
}

void ThreadPool::run_chunks(Job& job, int slot) {
  for (int p = 0; p < job.phases; ++p) {
    if (p > 0) wait_phase(job, p - 1);
    if (job.affine) {
      // Its own range first, then what is left of the others' (from their fronts).
      for (int i = 0; i < job.threads; ++i) {
        const int s = (slot + i) % job.threads;
        const int64_t end = job.range_begin(p, s + 1);
        std::atomic<int64_t>& pos = job.own[size_t(p * job.threads + s)];
        for (;;) {
          const int64_t b = pos.fetch_add(job.grain[p], std::memory_order_relaxed);
          if (b >= end) break;
          run_chunk(job, p, slot, b, std::min(end, b + job.grain[p]));
        }
      }
      continue;
    }
    for (;;) {
      int64_t b = job.next[p].load(std::memory_order_relaxed), take;
      do {
        if (b >= job.n[p]) break;
        take = std::min(job.n[p] - b, std::max(job.grain[p], (job.n[p] - b) / job.divisor));
      } while (!job.next[p].compare_exchange_weak(b, b + take, std::memory_order_relaxed));
      if (b >= job.n[p]) break;
      run_chunk(job, p, slot, b, b + take);
    }
  }
}

// Within a run (RunScope), waits up to kLingerUs for a queued job; returns at once between runs.
void ThreadPool::linger() const {
  if (active_runs_.load(std::memory_order_relaxed) == 0) return;
  const auto t0 = std::chrono::steady_clock::now();
  while (queued_.load(std::memory_order_relaxed) == 0 && active_runs_.load(std::memory_order_relaxed) > 0 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::microseconds(kLingerUs)) {
    for (int i = 0; i < 32; ++i) cpu_relax();
  }
}

void ThreadPool::worker_loop() {
  for (;;) {
    Job* job;
    linger();
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = queue_.front();
      queue_.pop_front();
      queued_.fetch_sub(1, std::memory_order_relaxed);
      job->attached.fetch_add(1);
    }
    run_chunks(*job, job->next_slot.fetch_add(1));
    {
      std::lock_guard<std::mutex> lk(job->mu);
      job->attached.fetch_sub(1);
      job->cv.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn) {
  parallel_for_slots(n, grain, [&](int, int64_t b, int64_t e) { fn(b, e); });
}

void ThreadPool::parallel_for_slots(int64_t n, int64_t grain, FunctionRef<void(int, int64_t, int64_t)> fn) {
  parallel_phases(1, &n, &grain, [&](int, int slot, int64_t b, int64_t e) { fn(slot, b, e); });
}

void ThreadPool::parallel_phases(int phases, const int64_t* n, const int64_t* grain,
                                 FunctionRef<void(int, int, int64_t, int64_t)> fn, bool affine) {
  FI_CHECK(phases >= 1 && phases <= kMaxPhases, InvalidArgument, "parallel_phases: 1 to ", kMaxPhases,
           " phases, got ", phases);
  // Helpers: at most one queue entry per other thread (so slots stay below num_threads), and none
  // that could only find the job empty.
  int64_t most = 0;
  for (int p = 0; p < phases; ++p) most = std::max(most, n[p] / std::max<int64_t>(1, grain[p]) - 1);
  if (num_threads_ == 1 || most < 1) {
    for (int p = 0; p < phases; ++p)
      if (n[p] > 0) fn(p, 0, 0, n[p]);
    return;
  }
  Job job(fn, phases, n, grain, num_threads_, affine);
  const int helpers = int(std::min<int64_t>(most, num_threads_ - 1));
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (int i = 0; i < helpers; ++i) queue_.push_back(&job);
    queued_.fetch_add(helpers, std::memory_order_relaxed);
  }
  if (helpers == 1) cv_.notify_one();
  else cv_.notify_all();
  run_chunks(job, 0);
  {
    // Take back queue entries no worker picked up, so none touches `job` after we return.
    std::lock_guard<std::mutex> lk(mu_);
    const size_t queued = queue_.size();
    queue_.erase(std::remove(queue_.begin(), queue_.end(), &job), queue_.end());
    queued_.fetch_sub(int(queued - queue_.size()), std::memory_order_relaxed);
  }
  // Every chunk is taken; what is left runs on workers right now. Sleeping on the condition
  // variable would cost a wake-up of 25-40 us on a virtual machine whose idle vCPU halts, more
  // than a last (small) chunk takes, so the caller first waits up to kJoinSpinUs with pause
  // instructions. Only this join spins, and only while chunks of its own job run.
  if (!job_finished(job)) {
    const auto t0 = std::chrono::steady_clock::now();
    do {
      for (int i = 0; i < 32; ++i) cpu_relax();
    } while (!job_finished(job) && std::chrono::steady_clock::now() - t0 < std::chrono::microseconds(kJoinSpinUs));
  }
  {
    // Also after a successful spin: a worker leaves `job` inside job.mu (attached.fetch_sub and
    // the notify), so taking the lock once is what makes it safe to let `job` go out of scope.
    std::unique_lock<std::mutex> lk(job.mu);
    job.cv.wait(lk, [&] { return job_finished(job); });
  }
  if (job.error) std::rethrow_exception(job.error);
}

void parallel_for(ThreadPool* pool, int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn) {
  if (pool && pool->num_threads() > 1) pool->parallel_for(n, grain, fn);
  else if (n > 0) fn(0, n);
}

void parallel_for_slots(ThreadPool* pool, int64_t n, int64_t grain, FunctionRef<void(int, int64_t, int64_t)> fn) {
  if (pool && pool->num_threads() > 1) pool->parallel_for_slots(n, grain, fn);
  else if (n > 0) fn(0, 0, n);
}

void parallel_phases(ThreadPool* pool, int phases, const int64_t* n, const int64_t* grain,
                     FunctionRef<void(int, int, int64_t, int64_t)> fn, bool affine) {
  FI_CHECK(phases >= 1 && phases <= ThreadPool::kMaxPhases, InvalidArgument, "parallel_phases: 1 to ",
           ThreadPool::kMaxPhases, " phases, got ", phases);
  if (pool && pool->num_threads() > 1) {
    pool->parallel_phases(phases, n, grain, fn, affine);
    return;
  }
  for (int p = 0; p < phases; ++p)
    if (n[p] > 0) fn(p, 0, 0, n[p]);
}

}  // namespace fi
