// If and Loop: run a subgraph (branch or body) through KernelContext::run_subgraph and copy its
// results into the node's outputs. Outer-scope names the subgraphs read are bound by the executor.
#include <limits>

#include "graph/graph.h"
#include "ops/control/control.h"
#include "ops/control/slice_copy.h"
#include "ops/registry.h"

namespace fi {

namespace {

// Copies a tensor produced by a subgraph into output i of the node.
void emit(KernelContext& ctx, int i, const Tensor& t) {
  if (!ctx.has_output(i)) return;
  Tensor& y = ctx.output(i, t.dtype(), t.shape());
  copy_elems(t.dtype(), y.raw(), 0, t.raw(), 0, t.numel());
}

bool bool_scalar(const Tensor& t, const char* what) {
  FI_CHECK(t.dtype() == DataType::Bool, InvalidArgument, what, " must be a bool tensor, got ", dtype_name(t.dtype()));
  FI_CHECK(t.numel() == 1, InvalidArgument, what, " must hold one element, got shape ", t.shape().str());
  return *t.data<bool>();
}

// If: runs then_branch or else_branch on the single-element bool input; the outputs are the taken
// branch's outputs (the branches may differ in shape).
class IfKernel : public OpKernel {
 public:
  explicit IfKernel(const OpInit& init)
      : then_(init.attrs().require_graph("then_branch")), else_(init.attrs().require_graph("else_branch")) {
    size_t n = size_t(init.num_outputs());
    FI_CHECK(then_->outputs().size() == n && else_->outputs().size() == n, InvalidModel,
             "then_branch and else_branch must each have ", n, " outputs, got ", then_->outputs().size(), " and ",
             else_->outputs().size());
    FI_CHECK(then_->inputs().empty() && else_->inputs().empty(), InvalidModel, "If branches take no inputs");
  }
  void compute(KernelContext& ctx) const override {
    bool c = bool_scalar(ctx.in(0), "If condition");
    std::vector<Tensor> outs = ctx.run_subgraph(c ? *then_ : *else_, {});
    for (size_t i = 0; i < outs.size() && int(i) < ctx.num_outputs(); ++i) emit(ctx, int(i), outs[i]);
  }

 private:
  std::shared_ptr<Graph> then_, else_;
};

// Loop: inputs (M, cond, v_initial...), body (iter_num, cond_in, v_in...) -> (cond_out, v_out...,
// scan_out...). Runs while iter < M (when given) and cond (when given); the outputs are the final
// loop-carried values, then each scan output stacked along a new first axis.
class LoopKernel : public OpKernel {
 public:
  explicit LoopKernel(const OpInit& init) : body_(init.attrs().require_graph("body")) {
    FI_CHECK(init.num_inputs() >= 2, InvalidModel, "Loop needs inputs M and cond (either may be empty)");
    n_carried_ = init.num_inputs() - 2;
    FI_CHECK(int(body_->inputs().size()) == 2 + n_carried_, InvalidModel, "Loop body must have ", 2 + n_carried_,
             " inputs (iteration number, condition, ", n_carried_, " loop-carried values), got ",
             body_->inputs().size());
    int nout = int(body_->outputs().size());
    FI_CHECK(nout >= 1 + n_carried_, InvalidModel, "Loop body must have at least ", 1 + n_carried_, " outputs, got ",
             nout);
    n_scan_ = nout - 1 - n_carried_;
    FI_CHECK(init.num_outputs() <= n_carried_ + n_scan_, InvalidModel, "Loop has ", init.num_outputs(),
             " outputs but its body yields only ", n_carried_ + n_scan_);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor* m = ctx.input(0);
    const Tensor* c = ctx.input(1);
    int64_t max_trip = std::numeric_limits<int64_t>::max();
    if (m) {
      FI_CHECK(m->numel() == 1 && dtype_is_integer(m->dtype()), InvalidArgument,
               "Loop M must be a one-element integer tensor, got ", dtype_name(m->dtype()), " ", m->shape().str());
      max_trip = m->to_int64_vector()[0];
    }
    bool cond = c ? bool_scalar(*c, "Loop cond") : true;
    std::vector<Tensor> carried(static_cast<size_t>(n_carried_));
    for (int i = 0; i < n_carried_; ++i) {
      const Tensor* v = ctx.input(2 + i);
      FI_CHECK(v, InvalidArgument, "Loop-carried initial value ", i, " is missing");
      carried[size_t(i)] = *v;
    }
    std::vector<std::vector<Tensor>> scans(static_cast<size_t>(n_scan_));
    int64_t it = 0;
    while (it < max_trip && cond) {
      Tensor iter_t = Tensor::empty(DataType::Int64, Shape{});
      *iter_t.data<int64_t>() = it;
      Tensor cond_t = Tensor::empty(DataType::Bool, Shape{});
      *cond_t.data<bool>() = cond;
      std::vector<Tensor> ins;
      ins.reserve(size_t(2 + n_carried_));
      ins.push_back(iter_t);
      ins.push_back(cond_t);
      for (auto& v : carried) ins.push_back(v);
      std::vector<Tensor> outs = ctx.run_subgraph(*body_, ins);
      cond = bool_scalar(outs[0], "Loop body condition output");
      for (int i = 0; i < n_carried_; ++i) carried[size_t(i)] = outs[size_t(1 + i)];
      for (int k = 0; k < n_scan_; ++k) {
        const Tensor& s = outs[size_t(1 + n_carried_ + k)];
        if (!scans[size_t(k)].empty()) {
          const Tensor& first = scans[size_t(k)][0];
          FI_CHECK(s.dtype() == first.dtype() && s.shape() == first.shape(), InvalidArgument, "Loop scan output ", k,
                   " changes from ", dtype_name(first.dtype()), " ", first.shape().str(), " to ",
                   dtype_name(s.dtype()), " ", s.shape().str(), " between iterations");
        }
        scans[size_t(k)].push_back(s);
      }
      FI_CHECK(it < std::numeric_limits<int64_t>::max() - 1, RuntimeError, "Loop trip count overflows");
      ++it;
    }
    int nout = ctx.num_outputs();
    for (int i = 0; i < n_carried_ && i < nout; ++i) emit(ctx, i, carried[size_t(i)]);
    for (int k = 0; k < n_scan_ && n_carried_ + k < nout; ++k) {
      int o = n_carried_ + k;
      if (!ctx.has_output(o)) continue;
      const auto& list = scans[size_t(k)];
      if (list.empty()) {
        const TypeInfo& info = body_->value(body_->outputs()[size_t(1 + n_carried_ + k)]).info;
        Shape s{0};
        if (info.has_shape)
          for (int64_t d : info.dims) s.push_back(d < 0 ? 0 : d);
        DataType dt = info.dtype == DataType::Undefined ? DataType::Float : info.dtype;
        ctx.output(o, dt, s);
        continue;
      }
      Shape s = list[0].shape();
      s.insert(0, int64_t(list.size()));
      Tensor& y = ctx.output(o, list[0].dtype(), s);
      int64_t per = list[0].numel();
      for (size_t j = 0; j < list.size(); ++j)
        copy_elems(y.dtype(), y.raw(), int64_t(j) * per, list[j].raw(), 0, per);
    }
  }

 private:
  std::shared_ptr<Graph> body_;
  int n_carried_ = 0, n_scan_ = 0;
};

}  // namespace

void register_if_loop(OpRegistry& r) {
  r.add("If", 1, make_kernel<IfKernel>);
  r.add("Loop", 1, make_kernel<LoopKernel>);
}

}  // namespace fi
