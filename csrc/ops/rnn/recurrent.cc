// RNN, GRU and LSTM (one kernel, three cell kinds). Inputs X [seq, batch, in] (layout 0) or
// [batch, seq, in] (layout 1), W [dirs, G*H, in], R [dirs, G*H, H], B [dirs, 2*G*H],
// sequence_lens [batch], initial_h (and initial_c) [dirs, batch, H] ([batch, dirs, H] in layout 1),
// P [dirs, 3*H] (LSTM peepholes). Outputs Y [seq, dirs, batch, H] ([batch, seq, dirs, H]), Y_h and
// Y_c shaped like initial_h. Gate order: GRU z,r,h; LSTM i,o,f,c. Steps past a batch entry's
// sequence length give zeros in Y and keep the state. Computation is in float (double for double).
#include <algorithm>
#include <cstring>

#include "core/dispatch_type.h"
#include "ops/registry.h"
#include "ops/rnn/rnn_util.h"

namespace fi {

namespace {

enum class Cell { Rnn, Gru, Lstm };

template <class Acc>
std::vector<Acc> to_acc(const Tensor& t) {
  std::vector<Acc> v(size_t(t.numel()));
  dispatch_float(t.dtype(), "RNN", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = t.data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = Acc(float(p[i]));
  });
  return v;
}

template <>
std::vector<double> to_acc<double>(const Tensor& t) {
  std::vector<double> v(size_t(t.numel()));
  const double* p = t.data<double>();
  std::copy(p, p + v.size(), v.begin());
  return v;
}

// Swaps the first two axes of a [a, b, inner] buffer.
template <class Acc>
std::vector<Acc> swap01(const std::vector<Acc>& x, int64_t a, int64_t b, int64_t inner) {
  std::vector<Acc> y(x.size());
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      std::copy_n(&x[size_t((i * b + j) * inner)], inner, &y[size_t((j * a + i) * inner)]);
  return y;
}

class RecurrentKernel : public OpKernel {
 public:
  RecurrentKernel(const OpInit& init, Cell cell) : cell_(cell) {
    const Attributes& a = init.attrs();
    gates_ = cell == Cell::Rnn ? 1 : cell == Cell::Gru ? 3 : 4;
    std::string dir = a.get_string("direction", "forward");
    if (dir == "forward") ndir_ = 1;
    else if (dir == "reverse") ndir_ = 1, reverse_ = true;
    else if (dir == "bidirectional") ndir_ = 2;
    else throw InvalidModel(str("direction must be forward, reverse or bidirectional, got '", dir, "'"));
    hidden_ = a.get_int("hidden_size", -1);
    FI_CHECK(!a.has("hidden_size") || hidden_ > 0, InvalidModel, "hidden_size must be positive, got ", hidden_);
    std::vector<std::string> dflt;
    if (cell == Cell::Rnn) dflt = {"Tanh"};
    else if (cell == Cell::Gru) dflt = {"Sigmoid", "Tanh"};
    else dflt = {"Sigmoid", "Tanh", "Tanh"};
    acts_ = parse_rnn_activations(a, dflt, ndir_);
    per_dir_ = int(dflt.size());
    if (const Attribute* c = a.find("clip")) {
      clip_ = c->f;
      FI_CHECK(clip_ > 0, InvalidModel, "clip must be positive, got ", clip_);
    }
    layout_ = int(a.get_int("layout", 0));
    FI_CHECK(layout_ == 0 || layout_ == 1, InvalidModel, "layout must be 0 or 1, got ", layout_);
    lbr_ = a.get_int("linear_before_reset", 0) != 0;
    input_forget_ = a.get_int("input_forget", 0) != 0;
    for (int i = 0; i < 3; ++i) {  // constant W, R, B converted once
      const Tensor* t = init.constant_input(1 + i);
      if (!t) continue;
      if (t->dtype() == DataType::Double) const_d_[i] = to_acc<double>(*t);
      else if (dtype_is_float(t->dtype()) && t->dtype() != DataType::Double) const_f_[i] = to_acc<float>(*t);
    }
  }

  void compute(KernelContext& ctx) const override {
    DataType dt = ctx.in(0).dtype();
    if (dt == DataType::Double) run<double>(ctx);
    else dispatch_float(dt, "RNN", [&](auto) { run<float>(ctx); });
  }

 private:
  template <class Acc>
  void run(KernelContext& ctx) const {
    const Tensor& xt = ctx.in(0);
    const Tensor& wt = ctx.in(1);
    const Tensor& rt = ctx.in(2);
    DataType dt = xt.dtype();
    FI_CHECK(xt.rank() == 3 && wt.rank() == 3 && rt.rank() == 3, InvalidArgument, "X, W and R must have rank 3");
    FI_CHECK(wt.dtype() == dt && rt.dtype() == dt, InvalidArgument, "X, W and R must share a type");
    const int64_t seq = layout_ ? xt.dim(1) : xt.dim(0), batch = layout_ ? xt.dim(0) : xt.dim(1), in = xt.dim(2);
    const int64_t H = hidden_ > 0 ? hidden_ : rt.dim(2), G = gates_;
    FI_CHECK(wt.shape() == (Shape{ndir_, G * H, in}), InvalidArgument, "W must have shape ",
             Shape{ndir_, G * H, in}.str(), ", got ", wt.shape().str());
    FI_CHECK(rt.shape() == (Shape{ndir_, G * H, H}), InvalidArgument, "R must have shape ",
             Shape{ndir_, G * H, H}.str(), ", got ", rt.shape().str());
    auto check_opt = [&](int i, const Shape& want, const char* what) -> const Tensor* {
      const Tensor* t = ctx.input(i);
      if (!t) return nullptr;
      FI_CHECK(t->shape() == want, InvalidArgument, what, " must have shape ", want.str(), ", got ", t->shape().str());
      FI_CHECK(i == 4 || t->dtype() == dt, InvalidArgument, what, " must have type ", dtype_name(dt));
      return t;
    };
    Shape hshape = layout_ ? Shape{batch, ndir_, H} : Shape{ndir_, batch, H};
    const Tensor* bt = check_opt(3, Shape{ndir_, 2 * G * H}, "B");
    const Tensor* lt = check_opt(4, Shape{batch}, "sequence_lens");
    const Tensor* h0t = check_opt(5, hshape, "initial_h");
    const Tensor* c0t = cell_ == Cell::Lstm ? check_opt(6, hshape, "initial_c") : nullptr;
    const Tensor* pt = cell_ == Cell::Lstm ? check_opt(7, Shape{ndir_, 3 * H}, "P") : nullptr;

    std::vector<int64_t> lens(size_t(batch), seq);
    if (lt) {
      lens = lt->to_int64_vector();
      for (int64_t l : lens) FI_CHECK(l >= 0 && l <= seq, InvalidArgument, "sequence length ", l, " out of [0, ", seq, "]");
    }
    std::vector<Acc> X = to_acc<Acc>(xt);
    std::vector<Acc> wbuf, rbuf, bbuf(size_t(ndir_ * 2 * G * H), Acc(0));
    const Acc* W = weights<Acc>(0, wt, wbuf);
    const Acc* R = weights<Acc>(1, rt, rbuf);
    const Acc* B = bt ? weights<Acc>(2, *bt, bbuf) : bbuf.data();
    if (layout_) X = swap01(X, batch, seq, in);
    std::vector<Acc> h0 = h0t ? to_acc<Acc>(*h0t) : std::vector<Acc>(size_t(ndir_ * batch * H), Acc(0));
    std::vector<Acc> c0 = c0t ? to_acc<Acc>(*c0t) : std::vector<Acc>(size_t(ndir_ * batch * H), Acc(0));
    if (layout_) h0 = swap01(h0, batch, ndir_, H), c0 = swap01(c0, batch, ndir_, H);
    std::vector<Acc> P = pt ? to_acc<Acc>(*pt) : std::vector<Acc>(size_t(ndir_ * 3 * H), Acc(0));

    std::vector<Acc> Y(size_t(seq * ndir_ * batch * H), Acc(0));
    std::vector<Acc> Yh(size_t(ndir_ * batch * H)), Yc(size_t(ndir_ * batch * H));
    for (int d = 0; d < ndir_; ++d) {
      bool rev = reverse_ || d == 1;
      const size_t ho = size_t(d * batch * H);
      std::vector<Acc> h(h0.begin() + long(ho), h0.begin() + long(ho + size_t(batch * H)));
      std::vector<Acc> c(c0.begin() + long(ho), c0.begin() + long(ho + size_t(batch * H)));
      run_direction<Acc>(ctx.pool(), seq, batch, in, H, X.data(), W + d * G * H * in,
                         R + d * G * H * H, B + d * 2 * G * H, P.data() + d * 3 * H, lens, rev,
                         &acts_[size_t(d * per_dir_)], h, c, Y.data() + d * batch * H);
      std::copy(h.begin(), h.end(), Yh.begin() + long(ho));
      std::copy(c.begin(), c.end(), Yc.begin() + long(ho));
    }
    if (ctx.has_output(0)) {
      Shape ys = layout_ ? Shape{batch, seq, ndir_, H} : Shape{seq, ndir_, batch, H};
      if (layout_) {  // [seq, dirs, batch, H] -> [batch, seq, dirs, H]
        std::vector<Acc> z(Y.size());
        for (int64_t t = 0; t < seq; ++t)
          for (int64_t dd = 0; dd < ndir_; ++dd)
            for (int64_t b = 0; b < batch; ++b)
              std::copy_n(&Y[size_t(((t * ndir_ + dd) * batch + b) * H)], H, &z[size_t(((b * seq + t) * ndir_ + dd) * H)]);
        Y.swap(z);
      }
      store(ctx.output(0, dt, ys), Y);
    }
    if (layout_) Yh = swap01(Yh, ndir_, batch, H), Yc = swap01(Yc, ndir_, batch, H);
    if (ctx.num_outputs() > 1 && ctx.has_output(1)) store(ctx.output(1, dt, hshape), Yh);
    if (cell_ == Cell::Lstm && ctx.num_outputs() > 2 && ctx.has_output(2)) store(ctx.output(2, dt, hshape), Yc);
  }

  // Input 1+i (W, R, B) as Acc: the copy made at session creation when it is constant.
  template <class Acc>
  const Acc* weights(int i, const Tensor& t, std::vector<Acc>& buf) const {
    const std::vector<Acc>& c = cached(i, static_cast<Acc*>(nullptr));
    if (!c.empty() && int64_t(c.size()) == t.numel()) return c.data();
    buf = to_acc<Acc>(t);
    return buf.data();
  }
  const std::vector<float>& cached(int i, float*) const { return const_f_[i]; }
  const std::vector<double>& cached(int i, double*) const { return const_d_[i]; }

  template <class Acc>
  static void store(Tensor& y, const std::vector<Acc>& v) {
    dispatch_float(y.dtype(), "RNN", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = y.data<T>();
      for (size_t i = 0; i < v.size(); ++i) p[i] = T(v[i]);
    });
  }

  template <class Acc>
  Acc clipv(Acc x) const {
    if (clip_ > 0) return std::min(Acc(clip_), std::max(Acc(-clip_), x));
    return x;
  }

  // One direction over the sequence: h (and c) hold the state in and out; Y points at
  // Y[0, d, 0, 0] with a time stride of dirs*batch*H.
  template <class Acc>
  void run_direction(ThreadPool* pool, int64_t seq, int64_t batch, int64_t in, int64_t H, const Acc* X, const Acc* W, const Acc* R,
                     const Acc* B, const Acc* P, const std::vector<int64_t>& lens, bool rev,
                     const RnnActivation* act, std::vector<Acc>& h, std::vector<Acc>& c, Acc* Y) const {
    const int64_t G = gates_, GH = G * H;
    const Acc* Wb = B;
    const Acc* Rb = B + GH;
    std::vector<Acc> xw(size_t(seq * batch * GH));
    parallel_for(pool, seq * batch, 8, [&](int64_t lo, int64_t hi) {  // input projection of every step
      gemm_nt<Acc>(hi - lo, GH, in, X + lo * in, in, W, in, xw.data() + lo * GH, GH, false);
    });
    std::vector<Acc> hr(size_t(batch * GH)), hn(size_t(batch * H)), rh(size_t(batch * H));
    const int64_t ystride = ndir_ * batch * H;
    const RnnActivation &f = act[0], &g = act[per_dir_ > 1 ? 1 : 0], &ha = act[per_dir_ > 2 ? 2 : 0];
    int64_t max_len = 0;
    for (int64_t l : lens) max_len = std::max(max_len, l);
    for (int64_t step = 0; step < max_len; ++step) {
      // Each batch entry walks its own valid range; reverse starts at its last valid step.
      gemm_nt<Acc>(batch, GH, H, h.data(), H, R, H, hr.data(), GH, false);
      if (cell_ == Cell::Gru && !lbr_) {
        for (int64_t b = 0; b < batch; ++b) {  // r needs h_{t-1}*R_h recomputed with (r . h)
          if (step >= lens[size_t(b)]) continue;
          int64_t t = rev ? lens[size_t(b)] - 1 - step : step;
          const Acc* x = &xw[size_t((t * batch + b) * GH)];
          for (int64_t j = 0; j < H; ++j) {
            Acc r = f(clipv(x[H + j] + hr[size_t(b * GH + H + j)] + Wb[H + j] + Rb[H + j]));
            rh[size_t(b * H + j)] = r * h[size_t(b * H + j)];
          }
        }
        gemm_nt<Acc>(batch, H, H, rh.data(), H, R + 2 * H * H, H, hn.data(), H, false);
      }
      for (int64_t b = 0; b < batch; ++b) {
        if (step >= lens[size_t(b)]) continue;
        int64_t t = rev ? lens[size_t(b)] - 1 - step : step;
        const Acc* x = &xw[size_t((t * batch + b) * GH)];
        const Acc* r = &hr[size_t(b * GH)];
        Acc* hb = &h[size_t(b * H)];
        Acc* cb = &c[size_t(b * H)];
        for (int64_t j = 0; j < H; ++j) {
          if (cell_ == Cell::Rnn) {
            hb[j] = f(clipv(x[j] + r[j] + Wb[j] + Rb[j]));
          } else if (cell_ == Cell::Gru) {
            Acc z = f(clipv(x[j] + r[j] + Wb[j] + Rb[j]));
            Acc hh;
            if (lbr_) {
              Acc rr = f(clipv(x[H + j] + r[H + j] + Wb[H + j] + Rb[H + j]));
              hh = g(clipv(x[2 * H + j] + rr * (r[2 * H + j] + Rb[2 * H + j]) + Wb[2 * H + j]));
            } else {
              hh = g(clipv(x[2 * H + j] + hn[size_t(b * H + j)] + Rb[2 * H + j] + Wb[2 * H + j]));
            }
            hb[j] = (Acc(1) - z) * hh + z * hb[j];
          } else {
            Acc cp = cb[j];
            Acc i = f(clipv(x[j] + r[j] + Wb[j] + Rb[j] + P[j] * cp));
            Acc fg = input_forget_ ? Acc(1) - i : f(clipv(x[2 * H + j] + r[2 * H + j] + Wb[2 * H + j] + Rb[2 * H + j] + P[2 * H + j] * cp));
            Acc cc = g(clipv(x[3 * H + j] + r[3 * H + j] + Wb[3 * H + j] + Rb[3 * H + j]));
            Acc cn = fg * cp + i * cc;
            Acc o = f(clipv(x[H + j] + r[H + j] + Wb[H + j] + Rb[H + j] + P[H + j] * cn));
            cb[j] = cn;
            hb[j] = o * ha(cn);
          }
        }
        std::copy_n(hb, H, Y + t * ystride + b * H);
      }
    }
  }

  Cell cell_;
  int64_t gates_ = 1, ndir_ = 1, hidden_ = -1;
  bool reverse_ = false, lbr_ = false, input_forget_ = false;
  std::vector<RnnActivation> acts_;
  int per_dir_ = 1;
  float clip_ = 0;
  int layout_ = 0;
  std::vector<float> const_f_[3];
  std::vector<double> const_d_[3];
};

template <Cell C>
std::unique_ptr<OpKernel> make_recurrent(const OpInit& init) {
  return std::make_unique<RecurrentKernel>(init, C);
}

}  // namespace

void register_recurrent(OpRegistry& r) {
  r.add("RNN", 7, make_recurrent<Cell::Rnn>);
  r.add("GRU", 7, make_recurrent<Cell::Gru>);
  r.add("LSTM", 7, make_recurrent<Cell::Lstm>);
}

}  // namespace fi
