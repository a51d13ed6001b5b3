// Entry points of kernels/vmath.h. Plain C++ for now; ISA versions plug in here.
#include <cmath>

#include "kernels/vmath.h"

namespace fi::kernels {

namespace {
template <class F>
void map(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
}  // namespace

void f32_exp(const float* x, float* y, int64_t n) { map(x, y, n, [](float v) { return std::exp(v); }); }
void f32_sigmoid(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return 1.f / (1.f + std::exp(-v)); });
}
void f32_tanh(const float* x, float* y, int64_t n) { map(x, y, n, [](float v) { return std::tanh(v); }); }
void f32_erf(const float* x, float* y, int64_t n) { map(x, y, n, [](float v) { return std::erf(v); }); }

void f32_activation(Activation act, const float* x, float* y, int64_t n) {
  switch (act) {
    case Activation::None:
      if (x != y) map(x, y, n, [](float v) { return v; });
      return;
    case Activation::Sigmoid: return f32_sigmoid(x, y, n);
    case Activation::Tanh: return f32_tanh(x, y, n);
    case Activation::Silu: return map(x, y, n, [](float v) { return v / (1.f + std::exp(-v)); });
    case Activation::GeluErf:
      return map(x, y, n, [](float v) { return 0.5f * v * (1.f + std::erf(v * 0.70710678118654752f)); });
    case Activation::GeluTanh:
      return map(x, y, n, [](float v) {
        return 0.5f * v * (1.f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
      });
    case Activation::HardSwish:
      return map(x, y, n, [](float v) { return v * std::fmin(std::fmax(v / 6.f + 0.5f, 0.f), 1.f); });
  }
}

void f32_softmax_row(const float* x, float* y, int64_t n) {
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::fmax(mx, x[i]);
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i) sum += (y[i] = std::exp(x[i] - mx));
  float inv = 1.f / sum;
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

void f32_layernorm_row(const float* x, const float* gamma, const float* beta, float* y, int64_t n, float eps) {
  if (n <= 0) return;
  float mean = 0.f;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= float(n);
  float var = 0.f;
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= float(n);
  float inv = 1.f / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * inv * gamma[i] + (beta ? beta[i] : 0.f);
}

}  // namespace fi::kernels
