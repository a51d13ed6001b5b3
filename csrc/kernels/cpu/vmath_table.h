// The per-ISA function table behind kernels/vmath.h: one instance per tier (ref, avx2, avx512),
// each made from the traits template in vmath_impl.h; vmath.cc picks one per call from isa_tier().
#pragma once
#include <cstdint>

#include "kernels/vmath.h"

namespace fi::kernels {

struct VmathTable {
  using Map = void (*)(const float* x, float* y, int64_t n);
  Map exp, expm1, sigmoid, tanh, erf, log, softplus;
  void (*activation)(Activation act, const float* x, float* y, int64_t n);
  void (*elu)(const float* x, float* y, int64_t n, float alpha, float gamma, float beta);
  Map softmax_row, log_softmax_row;
  void (*softmax_row_masked)(const float* x, const float* mask, float scale, float* y, int64_t n);
  // Layer norm (rms: no mean subtraction, RMSNormalization) over one row; mean/inv_std may be null.
  void (*norm_row)(const float* x, const float* gamma, const float* beta, float* y, int64_t n, float eps,
                   bool rms, float* mean, float* inv_std);
  float (*reduce_max)(const float* x, int64_t n);
  float (*reduce_sum)(const float* x, int64_t n);
};

const VmathTable& vmath_table_ref();
const VmathTable& vmath_table_avx2();
const VmathTable& vmath_table_avx512();

}  // namespace fi::kernels
