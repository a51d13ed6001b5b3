// Scan: runs the body once per position of the scan inputs, threading N state values through.
// Opset 9+: inputs (state..., scan_input...), each scan input sliced along scan_input_axes (read
// backwards where scan_input_directions is 1); outputs (final state..., scan_output...), each scan
// output stacked along scan_output_axes (written backwards where scan_output_directions is 1).
// Opset 8: a leading optional sequence_lens input and a batch axis 0 on every input and output;
// scan inputs are [batch, seq, ...], `directions` applies per scan input, and the positions past a
// batch entry's sequence length are zero in the scan outputs.
#include <cstring>

#include "graph/graph.h"
#include "ops/control/control.h"
#include "ops/control/slice_copy.h"
#include "ops/registry.h"

namespace fi {

namespace {

class ScanKernel : public OpKernel {
 public:
  explicit ScanKernel(const OpInit& init) : body_(init.attrs().require_graph("body")) {
    const Attributes& a = init.attrs();
    v8_ = init.opset() < 9;
    int m = int(a.require_int("num_scan_inputs"));
    int first = v8_ ? 1 : 0;
    n_state_ = init.num_inputs() - first - m;
    FI_CHECK(m >= 1 && n_state_ >= 0, InvalidModel, "num_scan_inputs ", m, " does not fit ", init.num_inputs(),
             " inputs");
    n_scan_in_ = m;
    FI_CHECK(int(body_->inputs().size()) == n_state_ + m, InvalidModel, "Scan body must have ", n_state_ + m,
             " inputs, got ", body_->inputs().size());
    int nbo = int(body_->outputs().size());
    FI_CHECK(nbo >= n_state_, InvalidModel, "Scan body must have at least ", n_state_, " outputs, got ", nbo);
    n_scan_out_ = nbo - n_state_;
    FI_CHECK(init.num_outputs() <= nbo, InvalidModel, "Scan has ", init.num_outputs(), " outputs but its body yields ",
             nbo);
    auto list = [&](const char* name, int n) {
      std::vector<int64_t> v = a.get_ints(name);
      if (v.empty()) v.assign(size_t(n), 0);
      FI_CHECK(int(v.size()) == n, InvalidModel, name, " must have ", n, " entries, got ", v.size());
      return v;
    };
    if (v8_) {
      in_dirs_ = list("directions", m);
      in_axes_.assign(size_t(m), 0);
      out_axes_.assign(size_t(n_scan_out_), 0);
      out_dirs_.assign(size_t(n_scan_out_), 0);
    } else {
      in_axes_ = list("scan_input_axes", m);
      in_dirs_ = list("scan_input_directions", m);
      out_axes_ = list("scan_output_axes", n_scan_out_);
      out_dirs_ = list("scan_output_directions", n_scan_out_);
    }
    for (int64_t d : in_dirs_) FI_CHECK(d == 0 || d == 1, InvalidModel, "scan directions must be 0 or 1, got ", d);
    for (int64_t d : out_dirs_) FI_CHECK(d == 0 || d == 1, InvalidModel, "scan directions must be 0 or 1, got ", d);
  }

  void compute(KernelContext& ctx) const override {
    if (v8_) compute_v8(ctx);
    else compute_v9(ctx);
  }

 private:
  struct Result {
    std::vector<Tensor> states, scans;
  };

  // One scan over `len` positions; scan inputs sliced along in_axes (normalised).
  Result run(KernelContext& ctx, std::vector<Tensor> states, const std::vector<const Tensor*>& xs,
             const std::vector<int>& axes, int64_t len) const {
    std::vector<AxisView> views;
    std::vector<Shape> slice_shapes;
    for (size_t j = 0; j < xs.size(); ++j) {
      views.emplace_back(xs[j]->shape(), axes[j]);
      Shape s = xs[j]->shape();
      s.erase(size_t(axes[j]));
      slice_shapes.push_back(s);
    }
    Result r;
    std::vector<AxisView> out_views;
    std::vector<Shape> elem_shapes;
    for (int64_t t = 0; t < len; ++t) {
      std::vector<Tensor> ins = states;
      for (size_t j = 0; j < xs.size(); ++j) {
        Tensor s = Tensor::empty(xs[j]->dtype(), slice_shapes[j]);
        int64_t pos = in_dirs_[j] ? len - 1 - t : t;
        gather_slice(s.dtype(), views[j], xs[j]->raw(), pos, s.raw());
        ins.push_back(s);
      }
      std::vector<Tensor> outs = ctx.run_subgraph(*body_, ins);
      for (int i = 0; i < n_state_; ++i) states[size_t(i)] = outs[size_t(i)];
      for (int k = 0; k < n_scan_out_; ++k) {
        const Tensor& e = outs[size_t(n_state_ + k)];
        if (t == 0) {
          int64_t ax = normalize_axis(out_axes_[size_t(k)], e.rank() + 1, "scan_output_axes");
          Shape s = e.shape();
          s.insert(size_t(ax), len);
          r.scans.push_back(Tensor::empty(e.dtype(), s));
          out_views.emplace_back(s, int(ax));
          elem_shapes.push_back(e.shape());
        } else {
          FI_CHECK(e.dtype() == r.scans[size_t(k)].dtype() && e.shape() == elem_shapes[size_t(k)], InvalidArgument,
                   "Scan output ", k, " changes from ", elem_shapes[size_t(k)].str(), " to ", e.shape().str(),
                   " between iterations");
        }
        int64_t pos = out_dirs_[size_t(k)] ? len - 1 - t : t;
        scatter_slice(e.dtype(), out_views[size_t(k)], e.raw(), r.scans[size_t(k)].raw(), pos);
      }
    }
    if (len == 0) {
      for (int k = 0; k < n_scan_out_; ++k) {
        const TypeInfo& info = body_->value(body_->outputs()[size_t(n_state_ + k)]).info;
        Shape s;
        if (info.has_shape)
          for (int64_t d : info.dims) s.push_back(d < 0 ? 0 : d);
        int64_t ax = normalize_axis(out_axes_[size_t(k)], s.rank() + 1, "scan_output_axes");
        s.insert(size_t(ax), 0);
        r.scans.push_back(Tensor::empty(info.dtype == DataType::Undefined ? DataType::Float : info.dtype, s));
      }
    }
    r.states = std::move(states);
    return r;
  }

  static void emit(KernelContext& ctx, int i, const Tensor& t) {
    if (i >= ctx.num_outputs() || !ctx.has_output(i)) return;
    Tensor& y = ctx.output(i, t.dtype(), t.shape());
    copy_elems(t.dtype(), y.raw(), 0, t.raw(), 0, t.numel());
  }

  void compute_v9(KernelContext& ctx) const {
    std::vector<Tensor> states;
    for (int i = 0; i < n_state_; ++i) states.push_back(ctx.in(i));
    std::vector<const Tensor*> xs;
    std::vector<int> axes;
    int64_t len = -1;
    for (int j = 0; j < n_scan_in_; ++j) {
      const Tensor& x = ctx.in(n_state_ + j);
      FI_CHECK(x.rank() >= 1, InvalidArgument, "Scan input ", j, " must have rank >= 1");
      int ax = int(normalize_axis(in_axes_[size_t(j)], x.rank(), "scan_input_axes"));
      FI_CHECK(len < 0 || x.dim(ax) == len, InvalidArgument, "Scan inputs differ in sequence length: ", len, " vs ",
               x.dim(ax));
      len = x.dim(ax);
      xs.push_back(&x);
      axes.push_back(ax);
    }
    Result r = run(ctx, std::move(states), xs, axes, len);
    for (int i = 0; i < n_state_; ++i) emit(ctx, i, r.states[size_t(i)]);
    for (int k = 0; k < n_scan_out_; ++k) emit(ctx, n_state_ + k, r.scans[size_t(k)]);
  }

  void compute_v8(KernelContext& ctx) const {
    std::vector<const Tensor*> states, xs;
    for (int i = 0; i < n_state_; ++i) states.push_back(&ctx.in(1 + i));
    for (int j = 0; j < n_scan_in_; ++j) xs.push_back(&ctx.in(1 + n_state_ + j));
    int64_t batch = -1, seq = -1;
    auto check_batch = [&](const Tensor& t, int min_rank) {
      FI_CHECK(t.rank() >= min_rank, InvalidArgument, "Scan-8 inputs need a batch axis");
      FI_CHECK(batch < 0 || t.dim(0) == batch, InvalidArgument, "Scan-8 inputs differ in batch size");
      batch = t.dim(0);
    };
    for (auto* s : states) check_batch(*s, 1);
    for (auto* x : xs) {
      check_batch(*x, 2);
      FI_CHECK(seq < 0 || x->dim(1) == seq, InvalidArgument, "Scan inputs differ in sequence length");
      seq = x->dim(1);
    }
    std::vector<int64_t> lens(size_t(batch), seq);
    if (const Tensor* sl = ctx.input(0)) {
      lens = sl->to_int64_vector();
      FI_CHECK(int64_t(lens.size()) == batch, InvalidArgument, "sequence_lens must have ", batch, " entries");
      for (int64_t l : lens) FI_CHECK(l >= 0 && l <= seq, InvalidArgument, "sequence length ", l, " out of [0, ", seq, "]");
    }
    if (batch == 0) {
      for (int i = 0; i < n_state_; ++i) emit(ctx, i, *states[size_t(i)]);
      for (int k = 0; k < n_scan_out_; ++k)
        if (n_state_ + k < ctx.num_outputs() && ctx.has_output(n_state_ + k))
          ctx.output(n_state_ + k, DataType::Float, Shape{0, seq < 0 ? 0 : seq});
      return;
    }
    std::vector<Tensor*> outs(size_t(n_state_ + n_scan_out_), nullptr);
    std::vector<int> axes(size_t(n_scan_in_), 0);
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<Tensor> st;
      for (auto* s : states) {
        Shape sh = s->shape();
        sh.erase(0);
        Tensor t = Tensor::empty(s->dtype(), sh);
        gather_slice(t.dtype(), AxisView(s->shape(), 0), s->raw(), b, t.raw());
        st.push_back(t);
      }
      std::vector<Tensor> xb;
      std::vector<const Tensor*> xp;
      for (auto* x : xs) {
        Shape sh = x->shape();
        sh.erase(0);
        Tensor full = Tensor::empty(x->dtype(), sh);
        gather_slice(full.dtype(), AxisView(x->shape(), 0), x->raw(), b, full.raw());
        sh[0] = lens[size_t(b)];
        xb.push_back(full.reshaped(sh));  // the first `len` rows of the sequence
      }
      for (auto& t : xb) xp.push_back(&t);
      Result r = run(ctx, std::move(st), xp, axes, lens[size_t(b)]);
      std::vector<const Tensor*> per(r.states.size() + r.scans.size());
      for (size_t i = 0; i < r.states.size(); ++i) per[i] = &r.states[i];
      for (size_t k = 0; k < r.scans.size(); ++k) per[r.states.size() + k] = &r.scans[k];
      for (size_t i = 0; i < per.size() && int(i) < ctx.num_outputs(); ++i) {
        if (!ctx.has_output(int(i))) continue;
        const Tensor& e = *per[i];
        bool is_scan = int(i) >= n_state_;
        if (is_scan && lens[size_t(b)] == 0) continue;  // stays zero; the shape comes from another entry
        Shape want = e.shape();
        if (is_scan) want[0] = seq;
        want.insert(0, batch);
        if (!outs[i]) {
          outs[i] = &ctx.output(int(i), e.dtype(), want);
          if (e.dtype() != DataType::String) std::memset(outs[i]->raw(), 0, outs[i]->nbytes());
        }
        Tensor& y = *outs[i];
        FI_CHECK(y.dtype() == e.dtype() && y.shape() == want, InvalidArgument, "Scan output ", i,
                 " differs in type or shape between batch entries");
        int64_t per_b = y.numel() / (batch ? batch : 1);
        copy_elems(e.dtype(), y.raw(), b * per_b, e.raw(), 0, e.numel());
      }
    }
    for (int k = 0; k < n_scan_out_; ++k) {  // every entry had length 0: shape from the body's declaration
      size_t i = size_t(n_state_ + k);
      if (outs[i] || int(i) >= ctx.num_outputs() || !ctx.has_output(int(i))) continue;
      const TypeInfo& info = body_->value(body_->outputs()[i]).info;
      Shape s{batch, seq};
      if (info.has_shape)
        for (int64_t d : info.dims) s.push_back(d < 0 ? 0 : d);
      Tensor& y = ctx.output(int(i), info.dtype == DataType::Undefined ? DataType::Float : info.dtype, s);
      if (y.dtype() != DataType::String) std::memset(y.raw(), 0, y.nbytes());
    }
  }

  std::shared_ptr<Graph> body_;
  bool v8_ = false;
  int n_state_ = 0, n_scan_in_ = 0, n_scan_out_ = 0;
  std::vector<int64_t> in_axes_, in_dirs_, out_axes_, out_dirs_;
};

}  // namespace

void register_scan(OpRegistry& r) { r.add("Scan", 8, make_kernel<ScanKernel>); }

}  // namespace fi
