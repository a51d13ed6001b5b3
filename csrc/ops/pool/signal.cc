// Signal ops: DFT (17, 20), STFT (17), Hann/Hamming/BlackmanWindow (17), MelWeightMatrix (17).
// Signals are [..., length, 1 (real) or 2 (complex)] tensors; transforms run in double per
// signal, parallel over the signals, with an O(n log n) plan per transform length.
#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "core/dispatch_type.h"
#include "ops/pool/pool_ops.h"
#include "ops/registry.h"

namespace fi {

namespace {

using cd = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;

// Largest transform length accepted (the plans hold O(n) tables).
constexpr int64_t kMaxDftLength = int64_t(1) << 26;

// exp(sign * 2 pi i k / n) for k in [0, count).
std::vector<cd> twiddles(int64_t n, int64_t count, double sign) {
  std::vector<cd> t(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    double a = sign * 2 * kPi * double(k) / double(n);
    t[size_t(k)] = cd(std::cos(a), std::sin(a));
  }
  return t;
}

// In-place iterative radix-2 FFT of a power-of-two length n; tw = twiddles(n, n / 2, sign).
void fft_pow2(cd* a, int64_t n, const std::vector<cd>& tw) {
  for (int64_t i = 1, j = 0; i < n; ++i) {
    int64_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (int64_t len = 2; len <= n; len <<= 1) {
    int64_t half = len / 2, step = n / len;
    for (int64_t i = 0; i < n; i += len)
      for (int64_t j = 0; j < half; ++j) {
        cd u = a[i + j], v = a[i + j + half] * tw[size_t(j * step)];
        a[i + j] = u + v;
        a[i + j + half] = u - v;
      }
  }
}

// out[k] = sum_t in[t] exp(sign * 2 pi i k t / n) for every k < n: radix-2 for powers of two,
// direct sums for short lengths, Bluestein's chirp transform otherwise. Immutable once built;
// run() takes the caller's scratch so one plan serves many threads.
class DftPlan {
 public:
  DftPlan(int64_t n, double sign) : n_(n) {
    if ((n & (n - 1)) == 0) {
      kind_ = 0;
      tw_ = twiddles(n, n / 2, sign);
    } else if (n <= 64) {
      kind_ = 1;
      tw_ = twiddles(n, n, sign);
    } else {
      kind_ = 2;
      m_ = 1;
      while (m_ < 2 * n - 1) m_ <<= 1;
      chirp_.resize(size_t(n));
      for (int64_t k = 0; k < n; ++k) {
        int64_t k2 = (k * k) % (2 * n);  // exp(sign * pi i k^2 / n), reduced for precision
        double a = sign * kPi * double(k2) / double(n);
        chirp_[size_t(k)] = cd(std::cos(a), std::sin(a));
      }
      tw_ = twiddles(m_, m_ / 2, -1.0);
      itw_ = twiddles(m_, m_ / 2, 1.0);
      fb_.assign(size_t(m_), cd(0));
      fb_[0] = std::conj(chirp_[0]);
      for (int64_t k = 1; k < n; ++k) fb_[size_t(k)] = fb_[size_t(m_ - k)] = std::conj(chirp_[size_t(k)]);
      fft_pow2(fb_.data(), m_, tw_);
    }
  }
  // Scratch entries run() needs.
  int64_t scratch_size() const { return kind_ == 2 ? m_ : n_; }
  void run(const cd* in, cd* out, cd* scratch) const {
    if (kind_ == 0) {
      std::copy(in, in + n_, out);
      fft_pow2(out, n_, tw_);
    } else if (kind_ == 1) {
      for (int64_t k = 0; k < n_; ++k) {
        cd s = 0;
        int64_t idx = 0;
        for (int64_t t = 0; t < n_; ++t) {
          s += in[t] * tw_[size_t(idx)];
          idx += k;
          if (idx >= n_) idx -= n_;
        }
        out[k] = s;
      }
    } else {
      std::fill(scratch, scratch + m_, cd(0));
      for (int64_t k = 0; k < n_; ++k) scratch[k] = in[k] * chirp_[size_t(k)];
      fft_pow2(scratch, m_, tw_);
      for (int64_t k = 0; k < m_; ++k) scratch[k] *= fb_[size_t(k)];
      fft_pow2(scratch, m_, itw_);
      double inv = 1.0 / double(m_);
      for (int64_t k = 0; k < n_; ++k) out[k] = scratch[k] * inv * chirp_[size_t(k)];
    }
  }

 private:
  int64_t n_, m_ = 0;
  int kind_ = 0;
  std::vector<cd> tw_, itw_, chirp_, fb_;
};

int64_t scalar_int(const Tensor& t, const char* what) {
  FI_CHECK(t.numel() == 1, InvalidArgument, what, " must be a scalar, got shape ", t.shape().str());
  FI_CHECK(dtype_is_integer(t.dtype()), InvalidArgument, what, " must be an integer tensor");
  return t.to_int64_vector()[0];
}

// DFT over one axis of [..., length, 1|2]; output [..., n or n/2+1, 2] (or [..., n, 1] for an
// inverse one-sided transform).
class DftKernel : public OpKernel {
 public:
  explicit DftKernel(const OpInit& init) : opset_(init.opset()) {
    inverse_ = init.attrs().get_int("inverse", 0) != 0;
    onesided_ = init.attrs().get_int("onesided", 0) != 0;
    axis_ = opset_ >= 20 ? -2 : init.attrs().get_int("axis", 1);
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    int r = x.rank();
    FI_CHECK(r >= 2, InvalidArgument, "DFT: input must have rank >= 2, got ", x.shape().str());
    int64_t comp = x.dim(r - 1);
    FI_CHECK(comp == 1 || comp == 2, InvalidArgument, "DFT: last dim must be 1 or 2, got ", comp);
    int64_t axis = axis_;
    if (opset_ >= 20 && ctx.input(2)) axis = scalar_int(*ctx.input(2), "DFT axis");
    FI_CHECK(axis >= -r && axis < r, InvalidArgument, "DFT: axis ", axis, " out of range for rank ", r);
    if (axis < 0) axis += r;
    FI_CHECK(axis != r - 1, InvalidArgument, "DFT: axis cannot be the last (complex) dim");
    int64_t len = x.dim(int(axis));
    int64_t n = (inverse_ && onesided_) ? 2 * (len - 1) : len;
    if (ctx.input(1)) n = scalar_int(*ctx.input(1), "DFT dft_length");
    FI_CHECK(n >= 1 && n <= kMaxDftLength, InvalidArgument, "DFT: dft_length must be in [1, 2^26], got ", n);
    bool irfft = inverse_ && onesided_;
    int64_t nout = irfft ? n : (onesided_ ? n / 2 + 1 : n);
    Shape ys = x.shape();
    ys[size_t(axis)] = nout;
    ys[size_t(r - 1)] = irfft ? 1 : 2;
    Tensor& y = ctx.output(0, x.dtype(), ys);
    if (y.numel() == 0) return;
    int64_t outer = x.shape().prod(0, int(axis)), inner = x.shape().prod(int(axis) + 1, r - 1);
    DftPlan plan(n, inverse_ ? 1.0 : -1.0);
    double scale = inverse_ ? 1.0 / double(n) : 1.0;
    dispatch_float(x.dtype(), "DFT", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      T* py = y.data<T>();
      parallel_for(ctx.pool(), outer * inner, std::max<int64_t>(1, 4096 / n), [&](int64_t b, int64_t e) {
        std::vector<cd> in(static_cast<size_t>(n)), out(static_cast<size_t>(n)), tmp(size_t(plan.scratch_size()));
        for (int64_t s = b; s < e; ++s) {
          int64_t o = s / inner, i = s - o * inner;
          const T* xs = px + (o * len * inner + i) * comp;
          std::fill(in.begin(), in.end(), cd(0));
          if (irfft) {  // rebuild the Hermitian spectrum from the first n/2+1 bins
            int64_t half = n / 2 + 1;
            for (int64_t k = 0; k < std::min(half, len); ++k) {
              const T* v = xs + k * inner * comp;
              in[size_t(k)] = cd(double(v[0]), comp == 2 ? double(v[1]) : 0.0);
            }
            for (int64_t k = half; k < n; ++k) in[size_t(k)] = std::conj(in[size_t(n - k)]);
          } else {
            for (int64_t t = 0; t < std::min(n, len); ++t) {
              const T* v = xs + t * inner * comp;
              in[size_t(t)] = cd(double(v[0]), comp == 2 ? double(v[1]) : 0.0);
            }
          }
          plan.run(in.data(), out.data(), tmp.data());
          int64_t oc = irfft ? 1 : 2;
          T* ysg = py + (o * nout * inner + i) * oc;
          for (int64_t k = 0; k < nout; ++k) {
            T* w = ysg + k * inner * oc;
            w[0] = T(out[size_t(k)].real() * scale);
            if (!irfft) w[1] = T(out[size_t(k)].imag() * scale);
          }
        }
      });
    });
  }

 private:
  int opset_;
  bool inverse_ = false, onesided_ = false;
  int64_t axis_ = 1;
};

// STFT: signal [batch, length, 1|2], frame_step, optional window [frame_length] and
// frame_length; output [batch, frames, bins, 2] with frames = 1 + (length - frame_length) / step.
class StftKernel : public OpKernel {
 public:
  explicit StftKernel(const OpInit& init) { onesided_ = init.attrs().get_int("onesided", 1) != 0; }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    FI_CHECK(x.rank() == 3, InvalidArgument, "STFT: signal must be [batch, length, 1|2], got ", x.shape().str());
    int64_t comp = x.dim(2), len = x.dim(1), batch = x.dim(0);
    FI_CHECK(comp == 1 || comp == 2, InvalidArgument, "STFT: last dim must be 1 or 2, got ", comp);
    int64_t step = scalar_int(ctx.in(1), "STFT frame_step");
    FI_CHECK(step >= 1, InvalidArgument, "STFT: frame_step must be positive");
    const Tensor* win = ctx.input(2);
    int64_t fl = -1;
    if (ctx.input(3)) fl = scalar_int(*ctx.input(3), "STFT frame_length");
    if (win) {
      FI_CHECK(win->rank() == 1, InvalidArgument, "STFT: window must be 1-D");
      FI_CHECK(win->dtype() == x.dtype(), InvalidArgument, "STFT: window type differs from the signal's");
      if (fl < 0) fl = win->dim(0);
      FI_CHECK(win->dim(0) == fl, InvalidArgument, "STFT: window length ", win->dim(0), " != frame_length ", fl);
    }
    if (fl < 0) fl = len;
    FI_CHECK(fl >= 1 && fl <= len && fl <= kMaxDftLength, InvalidArgument, "STFT: frame_length ", fl,
             " must be in [1, ", len, "]");
    FI_CHECK(!(onesided_ && comp == 2), InvalidArgument, "STFT: onesided needs a real signal");
    int64_t frames = 1 + (len - fl) / step;
    int64_t bins = onesided_ ? fl / 2 + 1 : fl;
    Tensor& y = ctx.output(0, x.dtype(), Shape{batch, frames, bins, 2});
    if (y.numel() == 0) return;
    DftPlan plan(fl, -1.0);
    dispatch_float(x.dtype(), "STFT", [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* px = x.data<T>();
      const T* pw = win ? win->data<T>() : nullptr;
      T* py = y.data<T>();
      parallel_for(ctx.pool(), batch * frames, 1, [&](int64_t b, int64_t e) {
        std::vector<cd> in(static_cast<size_t>(fl)), out(static_cast<size_t>(fl)), tmp(size_t(plan.scratch_size()));
        for (int64_t s = b; s < e; ++s) {
          int64_t bi = s / frames, f = s - bi * frames;
          const T* xs = px + (bi * len + f * step) * comp;
          for (int64_t t = 0; t < fl; ++t) {
            double w = pw ? double(pw[t]) : 1.0;
            in[size_t(t)] = cd(double(xs[t * comp]) * w, comp == 2 ? double(xs[t * comp + 1]) * w : 0.0);
          }
          plan.run(in.data(), out.data(), tmp.data());
          T* ys = py + s * bins * 2;
          for (int64_t k = 0; k < bins; ++k) {
            ys[2 * k] = T(out[size_t(k)].real());
            ys[2 * k + 1] = T(out[size_t(k)].imag());
          }
        }
      });
    });
  }

 private:
  bool onesided_ = true;
};

DataType out_datatype(const OpInit& init, const char* op) {
  int64_t dt = init.attrs().get_int("output_datatype", 1);
  FI_CHECK(dtype_valid(int32_t(dt)), InvalidModel, op, ": bad output_datatype ", dt);
  return DataType(int32_t(dt));
}

void store_doubles(const std::vector<double>& v, Tensor& y, const char* op) {
  dispatch_numeric(y.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = y.data<T>();
    for (size_t i = 0; i < v.size(); ++i) p[i] = T(v[i]);
  });
}

// Hann (0), Hamming (1) and Blackman (2) windows of `size` samples, periodic or symmetric.
template <int Kind>
class WindowKernel : public OpKernel {
 public:
  explicit WindowKernel(const OpInit& init) {
    dt_ = out_datatype(init, "Window");
    periodic_ = init.attrs().get_int("periodic", 1) != 0;
  }
  void compute(KernelContext& ctx) const override {
    int64_t size = scalar_int(ctx.in(0), "window size");
    FI_CHECK(size >= 0 && size <= (int64_t(1) << 32), InvalidArgument, "window size must be in [0, 2^32], got ", size);
    Tensor& y = ctx.output(0, dt_, Shape{size});
    double N = double(periodic_ ? size : size - 1);
    std::vector<double> v(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) {
      double a = 2 * kPi * double(i) / N;
      if (Kind == 0) v[size_t(i)] = 0.5 - 0.5 * std::cos(a);
      else if (Kind == 1) v[size_t(i)] = 25.0 / 46.0 - (1 - 25.0 / 46.0) * std::cos(a);
      else v[size_t(i)] = 0.42 - 0.5 * std::cos(a) + 0.08 * std::cos(2 * a);
      if (!std::isfinite(v[size_t(i)])) v[size_t(i)] = 1.0;  // size 1, symmetric
    }
    store_doubles(v, y, "Window");
  }

 private:
  DataType dt_ = DataType::Float;
  bool periodic_ = true;
};

// MelWeightMatrix: [dft_length / 2 + 1, num_mel_bins] triangular filters on the mel scale.
class MelKernel : public OpKernel {
 public:
  explicit MelKernel(const OpInit& init) { dt_ = out_datatype(init, "MelWeightMatrix"); }
  void compute(KernelContext& ctx) const override {
    int64_t nmel = scalar_int(ctx.in(0), "num_mel_bins");
    int64_t dft = scalar_int(ctx.in(1), "dft_length");
    int64_t rate = scalar_int(ctx.in(2), "sample_rate");
    FI_CHECK(ctx.in(3).numel() == 1 && ctx.in(4).numel() == 1, InvalidArgument, "MelWeightMatrix: edges must be scalars");
    double lo = ctx.in(3).scalar_as_double(), hi = ctx.in(4).scalar_as_double();
    FI_CHECK(nmel >= 0 && nmel < (1 << 20) && dft >= 1 && dft < (1 << 24) && rate > 0, InvalidArgument,
             "MelWeightMatrix: bad num_mel_bins, dft_length or sample_rate");
    int64_t nspec = dft / 2 + 1;
    FI_CHECK(nspec * std::max<int64_t>(nmel, 1) <= (int64_t(1) << 28), InvalidArgument, "MelWeightMatrix: output too large");
    Tensor& y = ctx.output(0, dt_, Shape{nspec, nmel});
    float lmel = float(2595 * std::log1p(float(lo) / 700) / std::log(10.0));
    float hmel = float(2595 * std::log1p(float(hi) / 700) / std::log(10.0));
    float step = (hmel - lmel) / float(nmel + 2);
    std::vector<int64_t> bins(size_t(nmel + 2));
    for (int64_t i = 0; i < nmel + 2; ++i) {
      float m = float(i) * step + lmel;
      float hz = float(700 * std::expm1(double(m) / 2595 * std::log(10.0)));
      bins[size_t(i)] = int64_t(std::floor(float(dft + 1) * hz / float(rate)));
    }
    std::vector<double> v(size_t(nspec * nmel), 0.0);
    auto at = [&](int64_t j, int64_t i) -> double& {
      FI_CHECK(j >= 0 && j < nspec, InvalidArgument, "MelWeightMatrix: frequency bin ", j, " out of range");
      return v[size_t(j * nmel + i)];
    };
    for (int64_t i = 0; i < nmel; ++i) {
      int64_t l = bins[size_t(i)], c = bins[size_t(i + 1)], h = bins[size_t(i + 2)];
      if (c == l) at(c, i) = 1;
      else
        for (int64_t j = l; j <= c; ++j) at(j, i) = double(j - l) / double(c - l);
      if (h > c)
        for (int64_t j = c; j < h; ++j) at(j, i) = double(h - j) / double(h - c);
    }
    store_doubles(v, y, "MelWeightMatrix");
  }

 private:
  DataType dt_ = DataType::Float;
};

}  // namespace

void register_signal_kernels(OpRegistry& r) {
  r.add("DFT", 17, make_kernel<DftKernel>);
  r.add("STFT", 17, make_kernel<StftKernel>);
  r.add("HannWindow", 17, make_kernel<WindowKernel<0>>);
  r.add("HammingWindow", 17, make_kernel<WindowKernel<1>>);
  r.add("BlackmanWindow", 17, make_kernel<WindowKernel<2>>);
  r.add("MelWeightMatrix", 17, make_kernel<MelKernel>);
}

}  // namespace fi
