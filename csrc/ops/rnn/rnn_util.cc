#include "ops/rnn/rnn_util.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"

namespace fi {

template <class T>
T RnnActivation::operator()(T x) const {
  T a = T(alpha), b = T(beta);
  switch (kind) {
    case Relu: return x > T(0) ? x : T(0);
    case Tanh: return std::tanh(x);
    case Sigmoid: return x >= T(0) ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
    case Affine: return a * x + b;
    case LeakyRelu: return x >= T(0) ? x : a * x;
    case ThresholdedRelu: return x > a ? x : T(0);
    case ScaledTanh: return a * std::tanh(b * x);
    case HardSigmoid: return std::max(T(0), std::min(T(1), a * x + b));
    case Elu: return x >= T(0) ? x : a * (std::exp(x) - T(1));
    case Softsign: return x / (T(1) + std::fabs(x));
    case Softplus: return std::log1p(std::exp(-std::fabs(x))) + std::max(x, T(0));
  }
  return x;
}
template float RnnActivation::operator()(float) const;
template double RnnActivation::operator()(double) const;

std::vector<RnnActivation> parse_rnn_activations(const Attributes& a, const std::vector<std::string>& defaults,
                                                 int num_directions) {
  std::vector<std::string> names = a.get_strings("activations");
  size_t per = defaults.size();
  if (names.empty()) {
    for (int d = 0; d < num_directions; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  } else if (names.size() == per && num_directions == 2) {
    std::vector<std::string> twice = names;
    names.insert(names.end(), twice.begin(), twice.end());
  }
  FI_CHECK(names.size() == per * size_t(num_directions), InvalidModel, "activations must list ",
           per * size_t(num_directions), " functions, got ", names.size());
  std::vector<float> alphas = a.get_floats("activation_alpha"), betas = a.get_floats("activation_beta");
  size_t ai = 0, bi = 0;
  std::vector<RnnActivation> out;
  for (std::string n : names) {
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    RnnActivation f;
    float da = 0, db = 0;
    bool ua = false, ub = false;
    if (n == "relu") f.kind = RnnActivation::Relu;
    else if (n == "tanh") f.kind = RnnActivation::Tanh;
    else if (n == "sigmoid") f.kind = RnnActivation::Sigmoid;
    else if (n == "affine") f.kind = RnnActivation::Affine, da = 1, ua = ub = true;
    else if (n == "leakyrelu") f.kind = RnnActivation::LeakyRelu, da = 0.01f, ua = true;
    else if (n == "thresholdedrelu") f.kind = RnnActivation::ThresholdedRelu, da = 1, ua = true;
    else if (n == "scaledtanh") f.kind = RnnActivation::ScaledTanh, da = 1, db = 1, ua = ub = true;
    else if (n == "hardsigmoid") f.kind = RnnActivation::HardSigmoid, da = 0.2f, db = 0.5f, ua = ub = true;
    else if (n == "elu") f.kind = RnnActivation::Elu, da = 1, ua = true;
    else if (n == "softsign") f.kind = RnnActivation::Softsign;
    else if (n == "softplus") f.kind = RnnActivation::Softplus;
    else throw InvalidModel(str("unknown activation function '", n, "'"));
    f.alpha = ua && ai < alphas.size() ? alphas[ai++] : da;
    f.beta = ub && bi < betas.size() ? betas[bi++] : db;
    out.push_back(f);
  }
  return out;
}

template <class T>
void gemm_nt(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
             bool accumulate) {
  for (int64_t i = 0; i < M; ++i) {
    const T* a = A + i * lda;
    T* c = C + i * ldc;
    int64_t j = 0;
    for (; j + 4 <= N; j += 4) {  // four dot products share each load of a
      const T* b0 = B + j * ldb;
      const T* b1 = b0 + ldb;
      const T* b2 = b1 + ldb;
      const T* b3 = b2 + ldb;
      T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t k = 0; k < K; ++k) {
        T x = a[k];
        s0 += x * b0[k];
        s1 += x * b1[k];
        s2 += x * b2[k];
        s3 += x * b3[k];
      }
      if (accumulate) c[j] += s0, c[j + 1] += s1, c[j + 2] += s2, c[j + 3] += s3;
      else c[j] = s0, c[j + 1] = s1, c[j + 2] = s2, c[j + 3] = s3;
    }
    for (; j < N; ++j) {
      const T* b = B + j * ldb;
      T s = 0;
      for (int64_t k = 0; k < K; ++k) s += a[k] * b[k];
      c[j] = accumulate ? c[j] + s : s;
    }
  }
}
template void gemm_nt<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                             bool);
template void gemm_nt<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t, double*,
                              int64_t, bool);

}  // namespace fi
