#include "graph/session.h"

#include <chrono>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fi {

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Session::Session(std::shared_ptr<Graph> graph, const SessionOptions& opts)
    : graph_(std::move(graph)), profile_(opts.profile), created_ns_(now_ns()) {
  if (!graph_->prepared()) graph_->prepare();
  // ONNX Runtime's key and meaning: "1" lets the pool's workers wait for work with pause
  // instructions, here only while one of this session's runs is in progress (ThreadPool::RunScope).
  const std::string spin = graph_->config(kAllowSpinningKey, "0");
  FI_CHECK(spin == "0" || spin == "1", InvalidArgument, "session config ", kAllowSpinningKey, " must be \"0\" or \"1\", got \"",
           spin, "\"");
  spin_ = spin == "1";
  const std::string chain = graph_->config(kChainNodesKey, "1");
  FI_CHECK(chain == "0" || chain == "1", InvalidArgument, "session config ", kChainNodesKey, " must be \"0\" or \"1\", got \"",
           chain, "\"");
  if (opts.pool) {
    pool_ = opts.pool;
  } else {
    int n = opts.num_threads > 0 ? opts.num_threads : ThreadPool::hardware_threads();
    if (n > 1) pool_ = std::make_shared<ThreadPool>(n);
  }
}

void Session::validate(const std::vector<Tensor>& inputs) const {
  const auto& gin = graph_->inputs();
  if (inputs.size() != gin.size())
    throw InvalidArgument(str("expected ", gin.size(), " inputs, got ", inputs.size()));
  for (size_t i = 0; i < gin.size(); ++i) {
    const Value& v = graph_->value(gin[i]);
    const Tensor& t = inputs[i];
    if (!t.defined()) {
      if (!v.is_const) throw InvalidArgument(str("input '", v.name, "' was not given"));
      continue;
    }
    const TypeInfo& info = v.info;
    if (info.dtype != DataType::Undefined && t.dtype() != info.dtype)
      throw InvalidArgument(str("input '", v.name, "' has element type ", dtype_name(t.dtype()),
                                ", the model expects ", dtype_name(info.dtype)));
    if (!info.has_shape) continue;
    if (size_t(t.rank()) != info.dims.size())
      throw InvalidArgument(str("input '", v.name, "' has rank ", t.rank(), " (shape ", t.shape().str(),
                                "), the model expects rank ", info.dims.size()));
    for (size_t d = 0; d < info.dims.size(); ++d)
      if (info.dims[d] >= 0 && t.shape()[d] != info.dims[d])
        throw InvalidArgument(str("input '", v.name, "' has shape ", t.shape().str(), ", dimension ", d,
                                  " should be ", info.dims[d]));
  }
}

std::unique_ptr<RunState> Session::acquire() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!free_states_.empty()) {
      auto st = std::move(free_states_.back());
      free_states_.pop_back();
      return st;
    }
  }
  return std::make_unique<RunState>(*graph_, pool_.get());
}

void Session::release(std::unique_ptr<RunState> st) {
  std::lock_guard<std::mutex> lk(mu_);
  free_states_.push_back(std::move(st));
}

std::vector<ProfileEvent> Session::take_profile() {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<ProfileEvent> out;
  out.swap(events_);
  return out;
}

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs) {
  validate(inputs);
  auto st = acquire();
  std::vector<Tensor> outputs;
  static const std::vector<Tensor> no_captures;
  std::vector<NodeTiming> timings;
  if (profile_) {
    timings.reserve(graph_->nodes().size());
    st->timings = &timings;
  }
  try {
    ThreadPool::RunScope in_run(spin_ ? pool_.get() : nullptr);
    graph_->executor().run(*st, inputs, no_captures, outputs);
  } catch (...) {
    st->timings = nullptr;
    release(std::move(st));
    throw;
  }
  st->timings = nullptr;
  const bool traced = st->traced;
  release(std::move(st));
#if defined(__GLIBC__)
  // A run with a new shape signature (the trace) gave every intermediate its own buffer, and
  // kernels made their lazy forms and temporaries; freed, most of that stays in malloc's free
  // lists and the next run's arena would come on top (Inception v1 batch 8: +14 MB of peak RSS).
  // Hand the free pages back to the OS once per new signature, here in the session's own runs
  // only: constant folding at creation runs the executor many times, and its freed memory is
  // best reused there. Steady-state runs are unaffected.
  if (traced) malloc_trim(0);
#endif
  if (profile_) {
    std::lock_guard<std::mutex> lk(mu_);
    int64_t run = runs_++;
    for (const NodeTiming& t : timings) events_.push_back({run, t.node, t.start_ns - created_ns_, t.dur_ns});
  }
  return outputs;
}

}  // namespace fi
