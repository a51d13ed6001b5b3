#include "graph/executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "graph/graph.h"
#include "graph/memory_planner.h"

namespace fi {

namespace {
constexpr int kNeverRelease = 1 << 30;

// Runs f, and an exception it throws comes out as an fi error that names the node.
template <class F>
auto naming_node(const Node& node, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    rethrow_with_prefix(e, node.where());
  } catch (const std::bad_alloc&) {
    throw RuntimeError(node.where() + "out of memory");
  } catch (const std::exception& e) {
    throw RuntimeError(node.where() + e.what());
  }
}
}  // namespace

void AlignedBuffer::reserve(size_t bytes) {
  if (bytes <= capacity) return;
  mem = alloc_buffer(bytes, /*zero=*/false);
  capacity = bytes;
}

RunState::RunState(const Graph& g, ThreadPool* p) : graph(g), pool(p) {
  values.resize(g.values().size());
  remaining.resize(g.values().size());
}
RunState::~RunState() = default;

Executor::Executor(const Graph& g) : g_(g) {
  size_t nv = g.values().size();
  uses_.assign(nv, 0);
  last_use_.assign(nv, -1);
  plannable_.assign(nv, 0);
  const auto& nodes = g.nodes();
  for (size_t k = 0; k < nodes.size(); ++k) {
    for (int v : nodes[k].inputs)
      if (v >= 0) { ++uses_[size_t(v)]; last_use_[size_t(v)] = int(k); }
    for (int v : nodes[k].implicit_inputs) { ++uses_[size_t(v)]; last_use_[size_t(v)] = int(k); }
    for (int v : nodes[k].outputs)
      if (v >= 0) {
        if (last_use_[size_t(v)] < int(k)) last_use_[size_t(v)] = int(k);
        plannable_[size_t(v)] = 1;
      }
  }
  for (size_t v = 0; v < nv; ++v) {
    const Value& val = g.value(int(v));
    if (val.is_output || val.is_input || val.is_const || val.is_captured) {
      uses_[v] = kNeverRelease;
      plannable_[v] = 0;
    }
    if (val.is_const && !val.is_input) const_ids_.push_back(int(v));
  }
}

size_t Executor::max_planned_arena_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  size_t m = 0;
  for (const auto& p : plans_) m = std::max(m, p->arena_bytes);
  return m;
}

size_t Executor::num_cached_plans() const {
  std::lock_guard<std::mutex> lk(mu_);
  return plans_.size();
}

std::shared_ptr<const Plan> Executor::find_plan(const std::vector<int64_t>& key) const {
  std::lock_guard<std::mutex> lk(mu_);
  for (size_t i = plans_.size(); i-- > 0;)
    if (plans_[i]->key == key) return plans_[i];
  return nullptr;
}

void Executor::bind(RunState& st, const std::vector<Tensor>& inputs, const std::vector<Tensor>& captured) const {
  const auto& gin = g_.inputs();
  if (inputs.size() != gin.size())
    throw InvalidArgument(str("expected ", gin.size(), " inputs, got ", inputs.size()));
  if (captured.size() != g_.captured().size())
    throw RuntimeError(str("subgraph expects ", g_.captured().size(), " outer values, got ", captured.size()));
  st.key.clear();
  auto sign = [&](const Tensor& t) {
    st.key.push_back(int64_t(t.dtype()));
    st.key.push_back(t.rank());
    for (int64_t d : t.shape()) st.key.push_back(d);
  };
  for (size_t i = 0; i < gin.size(); ++i) {
    int v = gin[i];
    if (inputs[i].defined()) st.values[size_t(v)] = inputs[i];
    else if (g_.value(v).is_const) st.values[size_t(v)] = g_.value(v).const_value;
    else throw InvalidArgument(str("input '", g_.value(v).name, "' was not given"));
    sign(st.values[size_t(v)]);
  }
  for (size_t i = 0; i < captured.size(); ++i) {
    st.values[size_t(g_.captured()[i])] = captured[i];
    sign(captured[i]);
  }
  for (int v : const_ids_) st.values[size_t(v)] = g_.value(v).const_value;
  std::copy(uses_.begin(), uses_.end(), st.remaining.begin());
}

Tensor& Executor::allocate(RunState& st, int value, DataType dt, const Shape& shape) const {
  Tensor& slot = st.values[size_t(value)];
  if (slot.defined()) throw RuntimeError(str("output '", g_.value(value).name, "' was produced twice"));
  for (int64_t d : shape)
    if (d < 0) throw InvalidArgument(str("output '", g_.value(value).name, "' would have negative dimension in ", shape.str()));
  size_t bytes = size_t(shape.numel()) * dtype_size(dt);
  if (st.tracing) {
    st.traced_bytes[size_t(value)] = dt == DataType::String ? 0 : bytes;
  } else if (st.plan && dt != DataType::String) {
    int64_t off = st.plan->offset[size_t(value)];
    if (off >= 0 && bytes <= st.plan->bytes[size_t(value)]) {
      slot = Tensor(dt, shape, st.arena.data() + off);
      return slot;
    }
  }
  // Kernels write every output element. Graph outputs outlive the run: theirs are recycled
  // (core/buffer_cache.h); the trace's per-value buffers are reused within the trace, then go
  // back to the OS.
  if (g_.value(value).is_output)
    slot = st.recycle_outputs ? Tensor::empty_output(dt, shape) : Tensor::empty(dt, shape, /*zero=*/false);
  else if (st.tracing && dt != DataType::String)
    slot = trace_buffer(st, dt, shape, bytes);
  else if (st.tracing)
    slot = Tensor::empty_mapped(dt, shape);
  else
    slot = Tensor::empty(dt, shape, /*zero=*/false);
  return slot;
}

// A buffer for a value of the trace: the smallest one a dead value left that holds it and is at
// most a quarter larger (MiniLM's first call at a new shape: 8.7-12.4 ms above the steady run with
// a fresh mapping per value, 2.5-4.3 ms with reuse), else a fresh mapping.
Tensor Executor::trace_buffer(RunState& st, DataType dt, const Shape& shape, size_t bytes) {
  if (bytes == 0) return Tensor::empty_mapped(dt, shape);
  auto best = st.trace_free.end();
  for (auto it = st.trace_free.begin(); it != st.trace_free.end(); ++it)
    if (it->bytes >= bytes && it->bytes <= bytes + bytes / 4 && (best == st.trace_free.end() || it->bytes < best->bytes))
      best = it;
  if (best != st.trace_free.end()) {
    std::shared_ptr<void> owner = std::move(best->mem);
    st.trace_free_bytes -= best->bytes;
    st.trace_free.erase(best);
    void* p = owner.get();
    return Tensor(dt, shape, p, std::move(owner));
  }
  // None fits: those too large for it go back to the OS (a CNN's activations shrink stage by
  // stage; kept, they raised ResNet-50's peak at batch 8 by a tenth).
  for (auto it = st.trace_free.begin(); it != st.trace_free.end();) {
    if (it->bytes > bytes) {
      st.trace_free_bytes -= it->bytes;
      st.trace_size.erase(it->mem.get());
      it = st.trace_free.erase(it);
    } else {
      ++it;
    }
  }
  Tensor t = Tensor::empty_mapped(dt, shape);
  if (t.owner()) st.trace_size[t.owner().get()] = bytes;
  st.trace_largest = std::max(st.trace_largest, bytes);
  return t;
}

// Lets go of a value; while tracing, a mapped buffer nothing else holds goes to the trace's free
// list, whose oldest buffers go back to the OS once it holds more than twice the largest buffer
// (DenseNet's concats grow layer by layer and are never reused: an unbounded list raised
// DenseNet-121's peak RSS at batch 8 from 128 to 284 MB).
void Executor::drop(RunState& st, int value) const {
  Tensor& t = st.values[size_t(value)];
  if (st.tracing && t.owner() && t.owner().use_count() == 1) {
    auto f = st.trace_size.find(t.owner().get());
    if (f != st.trace_size.end()) {
      st.trace_free.push_back({f->second, t.owner()});
      st.trace_free_bytes += f->second;
      while (st.trace_free_bytes > 2 * st.trace_largest && !st.trace_free.empty()) {
        st.trace_free_bytes -= st.trace_free.front().bytes;
        st.trace_size.erase(st.trace_free.front().mem.get());
        st.trace_free.pop_front();
      }
    }
  }
  t.reset();
}

Tensor& Executor::alias(RunState& st, int value, const Tensor& src, int src_value, const Shape& shape) const {
  if (shape.numel() != src.numel())
    throw RuntimeError(str("alias of '", g_.value(value).name, "' changes the element count"));
  Tensor& slot = st.values[size_t(value)];
  const Value& val = g_.value(value);
  if (val.is_output || src.dtype() == DataType::String) {  // must own its data
    Tensor& t = allocate(st, value, src.dtype(), shape);
    if (src.dtype() == DataType::String) {
      for (int64_t i = 0; i < src.numel(); ++i) t.data<std::string>()[i] = src.data<std::string>()[i];
    } else if (src.nbytes()) {
      std::memcpy(t.raw(), src.raw(), src.nbytes());
    }
    return t;
  }
  slot = src.reshaped(shape);
  if (st.tracing) {
    int root = st.alias_root[size_t(src_value)];
    st.alias_root[size_t(value)] = root;
    st.traced_bytes[size_t(value)] = 0;
  }
  return slot;
}

void Executor::run_node(RunState& st, const Node& node) const {
  KernelContext ctx(st, node);
  st.scratch_used = 0;
  st.scratch_peak = 0;
  naming_node(node, [&] { node.kernel->compute(ctx); });
  end_scratch(st);
  finish_node(st, node);
}

// Scratch taken past the buffer this time: grow it once so the next run needs no extra block.
void Executor::end_scratch(RunState& st) const {
  if (!st.scratch_overflow.empty()) {
    st.scratch_overflow.clear();
    st.scratch.reserve(st.scratch_peak);
  }
}

// After a node's work: its outputs are there, and the values it was the last to read are let go.
void Executor::finish_node(RunState& st, const Node& node) const {
  for (size_t o = 0; o < node.outputs.size(); ++o) {
    int v = node.outputs[o];
    if (v < 0) continue;
    if (!st.values[size_t(v)].defined()) {
      if (node.output_names[o].empty()) continue;
      throw RuntimeError(str(node.where(), "did not produce output '", node.output_names[o], "'"));
    }
    if (st.remaining[size_t(v)] == 0) drop(st, v);  // nobody reads it
  }
  auto release = [&](int v) {
    if (v >= 0 && --st.remaining[size_t(v)] == 0) drop(st, v);
  };
  for (int v : node.inputs) release(v);
  for (int v : node.implicit_inputs) release(v);
}

// Queues the node's work for the chained job when its kernel defers it (false: it did nothing).
// Each queued node's scratch starts at the buffer's start again: a node's phases all end before
// the next node's begin, so they may share the memory (each node then finds it warm in cache,
// where a scratch per node left DenseNet-121's Winograd convs cold buffers, at batch 1 on 2
// threads 1.07x the time of a job per conv). Hence defer() must not write its scratch (only
// its tasks may): a later node's tasks would have overwritten it before its own ran.
bool Executor::defer_node(RunState& st, const Node& node) const {
  if (st.pending_phases + DeferredWork::kMaxPhases > ThreadPool::kMaxPhases) run_pending(st);
  if (st.pending.empty()) st.scratch_job_peak = 0;
  st.scratch_used = 0;
  st.scratch_peak = 0;
  KernelContext ctx(st, node);
  DeferredWork work;
  if (!naming_node(node, [&] { return node.kernel->defer(ctx, work); })) return false;
  FI_CHECK(work.phases >= 0 && work.phases <= DeferredWork::kMaxPhases && (work.phases == 0 || work.fn), RuntimeError,
           node.where(), "deferred work of ", work.phases, " phases");
  const bool ends = work.ends_chain;
  st.scratch_job_peak = std::max(st.scratch_job_peak, st.scratch_peak);
  st.pending_phases += work.phases;
  st.pending.push_back({&node, std::move(work)});
  if (ends) run_pending(st);
  return true;
}

// The queued nodes' phases, in order, as one job: a worker woken for the first node's tasks
// stays for the others' (waiting, as parallel_phases does, only on tasks still running).
void Executor::run_pending(RunState& st) const {
  if (st.pending.empty()) return;
  int64_t n[ThreadPool::kMaxPhases], grain[ThreadPool::kMaxPhases];
  int owner[ThreadPool::kMaxPhases], local[ThreadPool::kMaxPhases];
  int phases = 0;
  for (size_t i = 0; i < st.pending.size(); ++i) {
    const DeferredWork& w = st.pending[i].work;
    for (int p = 0; p < w.phases; ++p, ++phases) {
      n[phases] = w.n[p];
      grain[phases] = w.grain[p];
      owner[phases] = int(i);
      local[phases] = p;
    }
  }
  try {
    if (phases > 0)
      parallel_phases(st.pool, phases, n, grain, [&](int phase, int slot, int64_t b, int64_t e) {
        const RunState::Pending& q = st.pending[size_t(owner[phase])];
        naming_node(*q.node, [&] { q.work.fn(local[phase], slot, b, e); });
      }, /*affine=*/st.pending.size() > 1);  // a lone node keeps its usual schedule
    for (RunState::Pending& q : st.pending) {
      if (q.work.finish) {
        KernelContext ctx(st, *q.node);
        naming_node(*q.node, [&] { q.work.finish(ctx); });
      }
      finish_node(st, *q.node);
    }
  } catch (...) {
    st.pending.clear();
    st.pending_phases = 0;
    throw;
  }
  st.pending.clear();
  st.pending_phases = 0;
  st.scratch_peak = std::max(st.scratch_peak, st.scratch_job_peak);
  end_scratch(st);
}

void Executor::finish_trace(RunState& st) const {
  size_t nv = st.values.size();
  std::vector<int> last(last_use_);
  for (size_t v = 0; v < nv; ++v) {
    int r = st.alias_root[v];
    if (r != int(v)) last[size_t(r)] = std::max(last[size_t(r)], last[v]);
  }
  // In place: output 0 of a node may take the memory of the input its kernel names when that
  // input (with every alias of it) dies at this node and has the same size.
  std::vector<int> share(nv, -1);
  const auto& nodes = g_.nodes();
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& n = nodes[k];
    int ii = n.kernel->inplace_input();
    if (ii < 0 || ii >= int(n.inputs.size()) || n.outputs.empty()) continue;
    int u = n.inputs[size_t(ii)], v = n.outputs[0];
    if (u < 0 || v < 0 || !plannable_[size_t(u)] || !plannable_[size_t(v)]) continue;
    while (share[size_t(u)] >= 0) u = share[size_t(u)];
    if (st.alias_root[size_t(u)] != u || st.alias_root[size_t(v)] != v) continue;
    if (last[size_t(u)] != int(k) || st.traced_bytes[size_t(u)] != st.traced_bytes[size_t(v)] ||
        st.traced_bytes[size_t(v)] == 0)
      continue;
    // No other input may view the same memory (the same value, or an alias of it).
    bool shared = false;
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      int w = n.inputs[j];
      if (int(j) == ii || w < 0) continue;
      int root = st.alias_root[size_t(w)];
      while (share[size_t(root)] >= 0) root = share[size_t(root)];
      shared |= root == u;
    }
    if (shared) continue;
    share[size_t(v)] = u;
    last[size_t(u)] = std::max(last[size_t(u)], last[size_t(v)]);
  }
  auto plan = std::make_shared<Plan>();
  plan->key = st.key;
  plan->offset.assign(nv, -1);
  plan->bytes.assign(nv, 0);
  std::vector<Lifetime> lts;
  std::vector<int> ids;
  for (size_t v = 0; v < nv; ++v) {
    if (!plannable_[v] || st.alias_root[v] != int(v) || st.traced_bytes[v] == 0 || share[v] >= 0) continue;
    int producer = g_.value(int(v)).producer;
    lts.push_back({producer, last[v], st.traced_bytes[v]});
    ids.push_back(int(v));
  }
  MemoryPlan mp = plan_memory(lts, kAlignment);
  for (size_t i = 0; i < ids.size(); ++i) {
    plan->offset[size_t(ids[i])] = int64_t(mp.offsets[i]);
    plan->bytes[size_t(ids[i])] = lts[i].bytes;
  }
  for (size_t v = 0; v < nv; ++v) {
    if (share[v] < 0) continue;
    int u = share[v];
    while (share[size_t(u)] >= 0) u = share[size_t(u)];
    plan->offset[v] = plan->offset[size_t(u)];
    plan->bytes[v] = st.traced_bytes[v];
  }
  plan->arena_bytes = mp.arena_bytes;
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& p : plans_)
    if (p->key == plan->key) return;  // another thread planned it meanwhile
  if (plans_.size() >= kMaxPlans) plans_.erase(plans_.begin());
  plans_.push_back(std::move(plan));
}

void Executor::run(RunState& st, const std::vector<Tensor>& inputs, const std::vector<Tensor>& captured,
                   std::vector<Tensor>& outputs) const {
  bind(st, inputs, captured);
  st.captured = &captured;
  st.plan = find_plan(st.key);
  st.tracing = !st.plan;
  if (st.tracing) {
    st.traced_bytes.assign(st.values.size(), 0);
    st.alias_root.resize(st.values.size());
    for (size_t v = 0; v < st.values.size(); ++v) st.alias_root[v] = int(v);
  } else {
    st.arena.reserve(st.plan->arena_bytes);
  }
  const auto& nodes = g_.nodes();
  // Chained jobs only on a planned run (the trace allocates and frees as it goes) and not while
  // profiling (which times each node on its own).
  const bool chain = st.pool && st.pool->num_threads() > 1 && !st.tracing && !st.timings &&
                     g_.config(kChainNodesKey, "1") != "0";
  try {
    for (size_t k = 0; k < nodes.size(); ++k) {
      st.step = int(k);
      if (chain && defer_node(st, nodes[k])) continue;
      run_pending(st);
      if (st.timings) {
        auto t0 = std::chrono::steady_clock::now();
        run_node(st, nodes[k]);
        auto t1 = std::chrono::steady_clock::now();
        st.timings->push_back({int(k), std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count(),
                               std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()});
      } else {
        run_node(st, nodes[k]);
      }
    }
    run_pending(st);
  } catch (...) {
    st.pending.clear();
    st.pending_phases = 0;
    for (auto& t : st.values) t.reset();
    st.trace_free.clear();
    st.trace_size.clear();
    st.trace_free_bytes = st.trace_largest = 0;
    throw;
  }
  outputs.resize(g_.outputs().size());
  for (size_t i = 0; i < g_.outputs().size(); ++i) {
    int v = g_.outputs()[i];
    const Value& val = g_.value(v);
    Tensor& t = st.values[size_t(v)];
    if (!t.defined()) throw RuntimeError(str("graph output '", val.name, "' was not computed"));
    bool must_copy = val.is_input || val.is_const || val.is_captured || !t.owner();
    outputs[i] = must_copy ? t.clone() : t;
  }
  for (auto& t : st.values) t.reset();
  st.trace_free.clear();
  st.trace_size.clear();
  st.trace_free_bytes = st.trace_largest = 0;
  st.traced = st.tracing;
  if (st.tracing) finish_trace(st);
  st.tracing = false;
  st.plan.reset();
}

void run_deferred(const DeferredWork& work, KernelContext& ctx, ThreadPool* pool) {
  if (work.phases > 0) parallel_phases(pool, work.phases, work.n, work.grain, work.fn);
  if (work.finish) work.finish(ctx);
}

// ---- KernelContext (declared in ops/kernel.h) ---------------------------------------------------
int KernelContext::num_inputs() const { return int(node_.inputs.size()); }

const Tensor* KernelContext::input(int i) const {
  if (i < 0 || i >= num_inputs()) return nullptr;
  int v = node_.inputs[size_t(i)];
  if (v < 0) return nullptr;
  const Tensor& t = st_.values[size_t(v)];
  return t.defined() ? &t : nullptr;
}

const Tensor& KernelContext::in(int i) const {
  const Tensor* t = input(i);
  if (!t) throw InvalidModel(str("required input ", i, " is missing"));
  return *t;
}

int KernelContext::num_outputs() const { return int(node_.outputs.size()); }

bool KernelContext::has_output(int i) const {
  return i >= 0 && i < num_outputs() && !node_.output_names[size_t(i)].empty();
}

Tensor& KernelContext::output(int i, DataType dt, const Shape& shape) {
  if (i < 0 || i >= num_outputs()) throw InvalidModel(str("the node has no output ", i));
  return st_.graph.executor().allocate(st_, node_.outputs[size_t(i)], dt, shape);
}

Tensor& KernelContext::output_alias(int i, int input_index, const Shape& shape) {
  if (i < 0 || i >= num_outputs()) throw InvalidModel(str("the node has no output ", i));
  const Tensor& src = in(input_index);
  return st_.graph.executor().alias(st_, node_.outputs[size_t(i)], src, node_.inputs[size_t(input_index)], shape);
}

int KernelContext::num_implicit_inputs() const { return int(node_.implicit_inputs.size()); }

const Tensor& KernelContext::implicit_input(int i) const {
  return st_.values[size_t(node_.implicit_inputs[size_t(i)])];
}

void* KernelContext::scratch(size_t bytes) {
  size_t need = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  st_.scratch_peak += need;
  if (st_.scratch_used + need <= st_.scratch.capacity) {
    void* p = st_.scratch.data() + st_.scratch_used;
    st_.scratch_used += need;
    return p;
  }
  st_.scratch_overflow.push_back(alloc_buffer(need));
  return st_.scratch_overflow.back().get();
}

ThreadPool* KernelContext::pool() const { return st_.pool; }

std::vector<Tensor> KernelContext::run_subgraph(const Graph& g, const std::vector<Tensor>& inputs) {
  // Bind the subgraph's captured names from this node's implicit inputs.
  std::vector<Tensor> captured;
  captured.reserve(g.captured().size());
  for (int c : g.captured()) {
    const std::string& nm = g.value(c).name;
    const Tensor* found = nullptr;
    for (size_t k = 0; k < node_.implicit_inputs.size(); ++k)
      if (st_.graph.value(node_.implicit_inputs[k]).name == nm) found = &st_.values[size_t(node_.implicit_inputs[k])];
    if (!found || !found->defined()) throw RuntimeError(str("outer value '", nm, "' is not available"));
    captured.push_back(*found);
  }
  auto& sub = st_.substates[&g];
  if (!sub) sub = std::make_unique<RunState>(g, st_.pool);
  std::vector<Tensor> outs;
  g.executor().run(*sub, inputs, captured, outs);
  return outs;
}

}  // namespace fi
