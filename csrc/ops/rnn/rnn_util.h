// Shared pieces of the recurrent ops (RNN, GRU, LSTM): activation functions with their
// alpha/beta, and a small row-major GEMM helper C[M,N] += A[M,K] * B[N,K]^T.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "graph/attribute.h"

namespace fi {

struct RnnActivation {
  enum Kind { Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus };
  Kind kind = Tanh;
  float alpha = 0, beta = 0;
  template <class T> T operator()(T x) const;
};

// Reads `activations`, `activation_alpha`, `activation_beta`: `per_dir` functions per direction
// (defaults used when the attribute is absent); alpha/beta are consumed in order by the functions
// that take them. Throws InvalidModel on unknown names or a wrong count.
std::vector<RnnActivation> parse_rnn_activations(const Attributes& a, const std::vector<std::string>& defaults,
                                                 int num_directions);

// C[M,N] (= or +=) A[M,K] * B[N,K]^T, all row-major with leading dimensions lda/ldb/ldc.
template <class T>
void gemm_nt(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
             bool accumulate);

}  // namespace fi
