// Entry points of kernels/vmath.h: each call picks the function table of the ISA tier in force
// (isa_tier(), capped by FASTINFER_ISA) and runs it.
#include <cmath>

#include "core/cpu_features.h"
#include "kernels/cpu/vmath_table.h"

namespace fi::kernels {

namespace {
const VmathTable& table() {
  switch (isa_tier()) {
    case IsaTier::Avx512: return vmath_table_avx512();
    case IsaTier::Avx2: return vmath_table_avx2();
    default: return vmath_table_ref();
  }
}
}  // namespace

void f32_exp(const float* x, float* y, int64_t n) { table().exp(x, y, n); }
void f32_expm1(const float* x, float* y, int64_t n) { table().expm1(x, y, n); }
void f32_sigmoid(const float* x, float* y, int64_t n) { table().sigmoid(x, y, n); }
void f32_tanh(const float* x, float* y, int64_t n) { table().tanh(x, y, n); }
void f32_erf(const float* x, float* y, int64_t n) { table().erf(x, y, n); }
void f32_log(const float* x, float* y, int64_t n) { table().log(x, y, n); }
void f32_softplus(const float* x, float* y, int64_t n) { table().softplus(x, y, n); }
void f32_activation(Activation act, const float* x, float* y, int64_t n) { table().activation(act, x, y, n); }

void f32_elu(const float* x, float* y, int64_t n, float alpha, float gamma, float beta) {
  table().elu(x, y, n, alpha, gamma, beta);
}

void f32_softmax_row(const float* x, float* y, int64_t n) { table().softmax_row(x, y, n); }
void f32_softmax_row_masked(const float* x, const float* mask, float scale, float* y, int64_t n) {
  table().softmax_row_masked(x, mask, scale, y, n);
}
void f32_log_softmax_row(const float* x, float* y, int64_t n) { table().log_softmax_row(x, y, n); }

void f32_layernorm_row(const float* x, const float* gamma, const float* beta, float* y, int64_t n, float eps) {
  table().norm_row(x, gamma, beta, y, n, eps, false, nullptr, nullptr);
}
void f32_layernorm_row_stats(const float* x, const float* gamma, const float* beta, float* y, int64_t n, float eps,
                             float* mean, float* inv_std) {
  table().norm_row(x, gamma, beta, y, n, eps, false, mean, inv_std);
}
void f32_rmsnorm_row(const float* x, const float* gamma, const float* beta, float* y, int64_t n, float eps) {
  table().norm_row(x, gamma, beta, y, n, eps, true, nullptr, nullptr);
}

float f32_reduce_max(const float* x, int64_t n) { return n > 0 ? table().reduce_max(x, n) : -INFINITY; }
float f32_reduce_sum(const float* x, int64_t n) { return n > 0 ? table().reduce_sum(x, n) : 0.f; }

}  // namespace fi::kernels
