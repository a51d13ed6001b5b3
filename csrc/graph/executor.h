// Executor: walks a prepared graph's sorted node list and calls each kernel.
//
// Memory: the first run with a new input-shape signature traces every intermediate's size and
// lifetime; the planner then gives each one an offset in a single arena, and later runs with the
// same signature take their intermediates from that arena with no heap allocation (only the
// graph outputs, which go back to the caller, are allocated). This is ONNX Runtime's
// "memory pattern" idea; a value whose size turns out larger than planned (data-dependent ops)
// falls back to the heap. Plans are cached per signature (bounded).
//
// Concurrency: the graph, its kernels and the plan cache are shared; everything a run mutates
// lives in a RunState, one per concurrent call (the session keeps a pool of them).
#pragma once
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "ops/kernel.h"

namespace fi {

class Graph;
struct Node;

// Session config: "1" (default) runs consecutive nodes that defer their work (OpKernel::defer)
// as the phases of one pool job at 2+ threads; "0" runs every node on its own.
constexpr const char* kChainNodesKey = "session.fastinfer.chain_nodes";

struct Plan {
  std::vector<int64_t> key;       // input-shape signature
  std::vector<int64_t> offset;    // per value: arena offset, or -1 (heap / not planned)
  std::vector<size_t> bytes;      // per value: planned size
  size_t arena_bytes = 0;
};

// Growable 64-byte-aligned buffer.
struct AlignedBuffer {
  std::shared_ptr<void> mem;
  size_t capacity = 0;
  void reserve(size_t bytes);
  char* data() const { return static_cast<char*>(mem.get()); }
};

// One node's run, for profiling: node index, start (steady clock, ns) and duration (ns).
struct NodeTiming {
  int node;
  int64_t start_ns, dur_ns;
};

struct RunState {
  RunState(const Graph& g, ThreadPool* pool);
  ~RunState();

  const Graph& graph;
  ThreadPool* pool;
  std::vector<Tensor> values;
  std::vector<int> remaining;          // uses left per value in this run
  std::shared_ptr<const Plan> plan;    // null while tracing
  bool tracing = false;
  // Graph outputs come from the buffer cache (core/buffer_cache.h): false where they are kept
  // for good (constant folding), so a buffer released later is freed, not cached.
  bool recycle_outputs = true;
  bool traced = false;                 // the last run traced (a new shape signature)
  std::vector<size_t> traced_bytes;    // per value, when tracing
  std::vector<int> alias_root;         // per value, when tracing: the value whose memory it views
  std::vector<int64_t> key;            // signature of the current run
  AlignedBuffer arena;
  AlignedBuffer scratch;
  size_t scratch_used = 0, scratch_peak = 0;
  size_t scratch_job_peak = 0;  // the most scratch one node of the pending chained job took
  std::vector<std::shared_ptr<void>> scratch_overflow;
  const std::vector<Tensor>* captured = nullptr;
  std::unordered_map<const Graph*, std::unique_ptr<RunState>> substates;
  int step = 0;
  std::vector<NodeTiming>* timings = nullptr;  // set while profiling: each node's time is appended
  // Nodes whose work is deferred to the next chained job, in graph order.
  struct Pending {
    const Node* node;
    DeferredWork work;
  };
  std::vector<Pending> pending;
  int pending_phases = 0;
  // While tracing: the buffers of values that died, by size, for the trace's later values (a new
  // shape's first call then maps and faults in about its live set, not every intermediate), and
  // the size of each buffer the trace mapped. Both are emptied when the trace ends; the list holds
  // at most twice the trace's largest buffer, its oldest entries going back to the OS first.
  struct FreeBuffer {
    size_t bytes;
    std::shared_ptr<void> mem;
  };
  std::deque<FreeBuffer> trace_free;  // oldest first
  std::unordered_map<const void*, size_t> trace_size;
  size_t trace_free_bytes = 0, trace_largest = 0;  // the list's bytes; the largest buffer mapped
};

class Executor {
 public:
  explicit Executor(const Graph& g);

  // inputs: one per graph input (an undefined Tensor means "use the initializer"); captured: one
  // per graph.captured(). Fills `outputs` with one owned tensor per graph output.
  void run(RunState& st, const std::vector<Tensor>& inputs, const std::vector<Tensor>& captured,
           std::vector<Tensor>& outputs) const;

  size_t num_cached_plans() const;
  size_t max_planned_arena_bytes() const;  // the largest arena among the cached plans
  static constexpr size_t kMaxPlans = 16;

  // Used by KernelContext.
  Tensor& allocate(RunState& st, int value, DataType dt, const Shape& shape) const;
  Tensor& alias(RunState& st, int value, const Tensor& src, int src_value, const Shape& shape) const;

 private:
  void bind(RunState& st, const std::vector<Tensor>& inputs, const std::vector<Tensor>& captured) const;
  void run_node(RunState& st, const Node& node) const;
  bool defer_node(RunState& st, const Node& node) const;
  void run_pending(RunState& st) const;
  void finish_node(RunState& st, const Node& node) const;
  void end_scratch(RunState& st) const;
  void drop(RunState& st, int value) const;
  static Tensor trace_buffer(RunState& st, DataType dt, const Shape& shape, size_t bytes);
  void finish_trace(RunState& st) const;
  std::shared_ptr<const Plan> find_plan(const std::vector<int64_t>& key) const;

  const Graph& g_;
  std::vector<int> uses_;      // consumers per value (graph outputs get one more, never released)
  std::vector<int> last_use_;  // step of the last consumer, or the producer's step
  std::vector<char> plannable_;
  std::vector<int> const_ids_;  // constants (not overridable inputs), bound at the start of each run
  mutable std::mutex mu_;
  mutable std::vector<std::shared_ptr<const Plan>> plans_;  // most recent last
};

}  // namespace fi
