// Vectorised fp32 math over contiguous arrays: transcendental functions and the activations that
// ops and GEMM/conv epilogues apply. Each entry point picks the best implementation for the ISA in
// force (FASTINFER_ISA caps it) and works for any n, including tails; y may equal x (in place).
// Implementations: kernels/cpu/vmath_impl.h (one template, AVX-512 / AVX2+FMA / one-lane ref traits).
// Max error measured over every 251st float32 of the whole range, denormals, +-inf, NaN (AVX-512 and
// AVX2 / ref, tests/kernels/test_vmath.py): exp 0.91 / 1.21 ulp, expm1 1.56 / 1.67, sigmoid 2.14 /
// 2.21, tanh 2.48, erf 2.35 / 2.37, log 1.06 / 1.09, softplus 1.92. Activations for x > -2: SiLU 2.8,
// HardSwish 2.3, GELU(erf) 4.7 / 7.0, GELU(tanh) 8.5 ulp (1 + tanh/erf is ill-conditioned there);
// further left their error stays below 4e-6 relative (GELU(erf) is 0 below x = -5.55, |exact| < 8e-8).
#pragma once
#include <cstdint>

namespace fi::kernels {

// Activations a kernel can fuse into its epilogue (applied after bias, residual and before clamp).
enum class Activation : int32_t {
  None = 0,
  Sigmoid,    // 1 / (1 + exp(-x))
  Tanh,
  Silu,       // x * sigmoid(x)  (SiLU / Swish)
  GeluErf,    // 0.5 x (1 + erf(x / sqrt 2))
  GeluTanh,   // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  HardSwish,  // x * clamp(x / 6 + 0.5, 0, 1)
};

// y[i] = f(x[i]) for 0 <= i < n.
void f32_exp(const float* x, float* y, int64_t n);
void f32_sigmoid(const float* x, float* y, int64_t n);
void f32_tanh(const float* x, float* y, int64_t n);
void f32_erf(const float* x, float* y, int64_t n);
void f32_expm1(const float* x, float* y, int64_t n);  // exp(x) - 1, accurate near 0
void f32_log(const float* x, float* y, int64_t n);    // -inf at 0, NaN below
void f32_softplus(const float* x, float* y, int64_t n);  // log(1 + exp(x)) without overflow
void f32_activation(Activation act, const float* x, float* y, int64_t n);
// y = gamma * (x > 0 ? x : alpha * expm1(beta * x)): Elu (gamma = beta = 1), Selu (beta = 1),
// Celu (gamma = 1, beta = 1 / alpha).
void f32_elu(const float* x, float* y, int64_t n, float alpha, float gamma, float beta);

// y = softmax(x) over one contiguous row of n: exp(x - max) / sum.
void f32_softmax_row(const float* x, float* y, int64_t n);
// y = softmax(scale * x + mask) over one row (attention scores; mask: n additive values, -inf to
// drop a column, or null). y may equal x.
void f32_softmax_row_masked(const float* x, const float* mask, float scale, float* y, int64_t n);
// y = log softmax(x) = x - max - log(sum exp(x - max)) over one contiguous row of n.
void f32_log_softmax_row(const float* x, float* y, int64_t n);
// y = (x - mean) / sqrt(var + eps) * gamma + beta over one row of n (gamma, beta: n values; beta
// may be null). Mean and variance in float with a two-pass (or Welford) scheme, as ONNX does.
void f32_layernorm_row(const float* x, const float* gamma, const float* beta, float* y, int64_t n, float eps);
// The same, also storing the row's mean and 1 / sqrt(var + eps) (either pointer may be null).
void f32_layernorm_row_stats(const float* x, const float* gamma, const float* beta, float* y, int64_t n, float eps,
                             float* mean, float* inv_std);
// RMS norm: y = x / sqrt(mean(x^2) + eps) * gamma + beta (beta may be null).
void f32_rmsnorm_row(const float* x, const float* gamma, const float* beta, float* y, int64_t n, float eps);

// Largest element (-inf for n == 0; NaN elements may be skipped) and sum (lane-wise order).
float f32_reduce_max(const float* x, int64_t n);
float f32_reduce_sum(const float* x, int64_t n);

}  // namespace fi::kernels
