// The contract between the executor and each op.
//
// An op registers a factory (see registry.h). At session creation the factory receives an
// OpInit (attributes, opset, constant inputs) and returns an OpKernel: this is where attributes
// are validated and constant weights are packed, once. At run time the executor calls
// compute(KernelContext&) on the same kernel from possibly many threads at once, so compute
// must not modify the kernel (it is const). compute reads inputs, and asks the context for
// each output with its final type and shape; the context hands back memory from the run's
// arena (or the heap) so kernels never allocate their outputs themselves.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "graph/attribute.h"

namespace fi {

class Graph;
struct RunState;
struct Node;

// What a factory sees when the session is made.
class OpInit {
 public:
  OpInit(const Node& node, const Graph& graph) : node_(node), graph_(graph) {}
  const std::string& op_type() const;
  const std::string& name() const;
  const Attributes& attrs() const;
  int opset() const;  // the model's opset version for the node's domain
  int num_inputs() const;   // as written in the node, including empty (absent) optional ones
  int num_outputs() const;
  bool has_input(int i) const;   // present and non-empty
  bool has_output(int i) const;  // present and non-empty (the graph uses it)
  // The value of input i when it is an initializer (or otherwise constant); nullptr if not.
  const Tensor* constant_input(int i) const;
  // The constant input i for the kernel to overwrite (to pack it in place), or an undefined
  // Tensor: only when this node reads it once and nothing else does (no other node, no graph
  // output) and its buffer is a heap buffer no one else shares (an initializer the import copied,
  // a folded constant; never a model file's mapped bytes or a caller's array). A kernel that takes it must report
  // reads_constant_input(i) false, so the graph lets go of it.
  Tensor consumable_constant_input(int i) const;
  // The declared element type of input i when known (Undefined otherwise).
  DataType input_dtype(int i) const;
  // Output i's dims as static shape inference (else the model's declaration) gives them at session
  // creation (-1 for a symbolic or unknown dim), or empty when its rank is unknown: for tuning
  // choices only, never for checks.
  std::vector<int64_t> output_dims(int i) const;
  // The session configuration entry `key` (Session(config=...), SessionOptions.
  // add_session_config_entry), or `fallback` when the session does not set it.
  std::string config(const std::string& key, const std::string& fallback) const;

 private:
  const Node& node_;
  const Graph& graph_;
};

class KernelContext;

// An input as static shape inference sees it when the session is made (OpKernel::describe).
struct StaticInput {
  DataType dtype = DataType::Undefined;  // Undefined when not known
  bool has_shape = false;
  std::vector<int64_t> dims;  // -1 where unknown
  bool known() const {
    if (!has_shape) return false;
    for (int64_t d : dims)
      if (d < 0) return false;
    return true;
  }
};

// A node's work handed to the executor instead of run inside compute (OpKernel::defer): the
// phases of one pool job, as ThreadPool::parallel_phases runs them. fn(phase, slot, begin, end)
// reads the node's inputs and writes its outputs only inside those tasks; it owns whatever
// state it needs (it runs after defer has returned) and never uses the pool itself. finish, when set, runs on the calling thread
// once the job is done (a check that may recompute the output serially); ends_chain: nothing
// after this node may run in the same job (finish may still change its output).
struct DeferredWork {
  static constexpr int kMaxPhases = 4;
  int phases = 0;
  int64_t n[kMaxPhases] = {}, grain[kMaxPhases] = {};
  std::function<void(int, int, int64_t, int64_t)> fn;
  std::function<void(KernelContext&)> finish;
  bool ends_chain = false;
};

// Runs `work` now (compute's path for a kernel that also defers): its phases on `pool` (or
// inline when null), then finish.
void run_deferred(const DeferredWork& work, KernelContext& ctx, ThreadPool* pool);

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual void compute(KernelContext& ctx) const = 0;
  // An input whose memory output 0 may share (elementwise ops that read each element before
  // writing it), or -1. The planner uses it only when that input dies at this node.
  virtual int inplace_input() const { return -1; }
  // False when the kernel copied constant input i into its own form at creation (packed weights)
  // and never reads its data again: a constant no kernel reads is then dropped (shape kept).
  virtual bool reads_constant_input(int i) const {
    (void)i;
    return true;
  }
  // At 2+ threads the executor runs consecutive nodes that defer their work as the phases of one
  // pool job: the workers woken for the first stay for the rest (one wake-up, not one per node;
  // a wake-up costs 15-40 us on a VM whose idle vCPU halts, a small node at batch 1 20-100 us).
  // defer either returns false having done nothing (this node runs through compute, after the
  // pending job), or checks its inputs' shapes as compute would, takes its outputs and fills
  // `work`. It must not read input data (earlier nodes' tasks have not run yet) nor write the
  // scratch it takes (the queued nodes' scratch starts at the same place: only its tasks, which
  // run after the earlier nodes' tasks, may write it), and only work that splits over the threads
  // is worth deferring: a phase of one task keeps the other threads waiting (though less than
  // ending the job before the next node would).
  virtual bool defer(KernelContext& ctx, DeferredWork& work) const {
    (void)ctx;
    (void)work;
    return false;
  }
  // How this kernel runs for inputs like these, for `fastinfer inspect`: e.g. the microkernel it
  // picks ("f32_gemm_8x32__avx512 packed B"). Empty when there is nothing to add to the op type.
  virtual std::string describe(const std::vector<StaticInput>& inputs) const {
    (void)inputs;
    return std::string();
  }
};

// What compute sees. Implemented by the executor (graph/executor.cc).
class KernelContext {
 public:
  KernelContext(RunState& st, const Node& node) : st_(st), node_(node) {}

  int num_inputs() const;
  // Input i, or nullptr when the optional input is absent (empty name or beyond the count).
  const Tensor* input(int i) const;
  // Input i, which must be present (throws InvalidModel otherwise).
  const Tensor& in(int i) const;
  int num_outputs() const;
  bool has_output(int i) const;  // false when the node omits optional output i

  // Memory for output i with its final type and shape. Call once per output.
  Tensor& output(int i, DataType dt, const Shape& shape);
  // Output i as a view of input `input_index` with another shape of the same element count
  // (Reshape, Flatten, Squeeze, Identity): no copy unless the output must own its memory.
  Tensor& output_alias(int i, int input_index, const Shape& shape);
  // Outputs of the node's outer-scope captures (If/Loop/Scan bodies), in node.implicit_inputs order.
  int num_implicit_inputs() const;
  const Tensor& implicit_input(int i) const;

  // Scratch memory valid until compute returns (aligned to 64 bytes, not zeroed).
  void* scratch(size_t bytes);
  template <class T> T* scratch_as(size_t count) { return static_cast<T*>(scratch(count * sizeof(T))); }

  // The session's thread pool (may be null: run inline). Use fi::parallel_for(pool(), ...).
  ThreadPool* pool() const;

  // Runs a subgraph (If/Loop/Scan body) with the given inputs; captured outer values are bound
  // from this node's implicit inputs. Returns the subgraph's outputs as owned tensors.
  std::vector<Tensor> run_subgraph(const Graph& g, const std::vector<Tensor>& inputs);

  const Node& node() const { return node_; }

 private:
  RunState& st_;
  const Node& node_;
};

}  // namespace fi
