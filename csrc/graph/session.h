// Session: a prepared graph plus what running it needs: a thread pool (own or shared) and a
// pool of RunStates so that many threads can call run() at once without allocating each time.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/graph.h"

namespace fi {

// Session config entry: "1" lets the pool's workers, between the nodes of a run, wait for the next
// node's work with pause instructions (up to ThreadPool's linger time) instead of sleeping at once;
// "0" (the default): they never spin. The key and meaning are ONNX Runtime's.
constexpr const char* kAllowSpinningKey = "session.intra_op.allow_spinning";

struct SessionOptions {
  int num_threads = 0;                 // 0 = the number of hardware threads
  std::shared_ptr<ThreadPool> pool;    // if set, used instead of a pool of our own
  bool profile = false;                // record every node's time (see take_profile)
};

// A node's run as recorded when profiling: which run, which node, when (ns since the session
// was made) and how long (ns).
struct ProfileEvent {
  int64_t run;
  int node;
  int64_t start_ns, dur_ns;
};

class Session {
 public:
  Session(std::shared_ptr<Graph> graph, const SessionOptions& opts);

  // Inputs in the order of graph().inputs(); an undefined Tensor takes the initializer default.
  // Validates each input's type and shape against the declaration. Returns every graph output.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);

  const Graph& graph() const { return *graph_; }
  int num_threads() const { return pool_ ? pool_->num_threads() : 1; }
  const std::shared_ptr<ThreadPool>& pool() const { return pool_; }
  bool profiling() const { return profile_; }
  // The events recorded so far (and forgets them).
  std::vector<ProfileEvent> take_profile();

 private:
  void validate(const std::vector<Tensor>& inputs) const;
  std::unique_ptr<RunState> acquire();
  void release(std::unique_ptr<RunState> st);

  std::shared_ptr<Graph> graph_;
  std::shared_ptr<ThreadPool> pool_;
  std::mutex mu_;
  std::vector<std::unique_ptr<RunState>> free_states_;
  bool profile_ = false;
  bool spin_ = false;  // kAllowSpinningKey: workers linger within this session's runs
  int64_t created_ns_ = 0;
  int64_t runs_ = 0;
  std::vector<ProfileEvent> events_;  // guarded by mu_
};

}  // namespace fi
