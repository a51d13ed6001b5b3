// kernels/vmath.h exposed as fastinfer._core.kernels.vmath / vmath_norm, for tests and bench/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>

#include "kernels/vmath.h"

namespace py = pybind11;

namespace {

using FArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using fi::kernels::Activation;

// y = f(x[offset:]) into y[offset:] of a fresh buffer of x's size (offset: misaligned starts);
// in place computes in a copy of x.
py::array_t<float> vmath(const std::string& name, FArray x, int64_t offset, bool inplace) {
  const int64_t n = x.size();
  if (offset < 0 || offset > n) throw py::value_error("offset out of range");
  py::array_t<float> y(n);
  float* py_ = y.mutable_data();
  std::memcpy(py_, x.data(), size_t(n) * sizeof(float));
  const float* src = (inplace ? py_ : x.data()) + offset;
  float* dst = py_ + offset;
  const int64_t m = n - offset;
  namespace k = fi::kernels;
  py::gil_scoped_release nogil;
  if (name == "exp") k::f32_exp(src, dst, m);
  else if (name == "expm1") k::f32_expm1(src, dst, m);
  else if (name == "sigmoid") k::f32_sigmoid(src, dst, m);
  else if (name == "tanh") k::f32_tanh(src, dst, m);
  else if (name == "erf") k::f32_erf(src, dst, m);
  else if (name == "silu") k::f32_activation(Activation::Silu, src, dst, m);
  else if (name == "gelu_erf") k::f32_activation(Activation::GeluErf, src, dst, m);
  else if (name == "gelu_tanh") k::f32_activation(Activation::GeluTanh, src, dst, m);
  else if (name == "hard_swish") k::f32_activation(Activation::HardSwish, src, dst, m);
  else if (name == "act_sigmoid") k::f32_activation(Activation::Sigmoid, src, dst, m);
  else if (name == "act_tanh") k::f32_activation(Activation::Tanh, src, dst, m);
  else if (name == "elu") k::f32_elu(src, dst, m, 1.f, 1.f, 1.f);
  else if (name == "selu") k::f32_elu(src, dst, m, 1.67326319217681884765625f, 1.05070102214813232421875f, 1.f);
  else if (name == "none") k::f32_activation(Activation::None, src, dst, m);
  else if (name == "softmax_row") k::f32_softmax_row(src, dst, m);
  else if (name == "log_softmax_row") k::f32_log_softmax_row(src, dst, m);
  else {
    py::gil_scoped_acquire gil;
    throw py::value_error("unknown vmath function " + name);
  }
  return y;
}

// Layer norm (rms=False, with mean and inv_std) or RMS norm of one row.
py::tuple vmath_norm(FArray x, FArray gamma, py::object beta, float eps, bool rms) {
  const int64_t n = x.size();
  if (gamma.size() != n) throw py::value_error("gamma must have x's size");
  FArray b;
  if (!beta.is_none()) {
    b = FArray(beta);
    if (b.size() != n) throw py::value_error("beta must have x's size");
  }
  py::array_t<float> y(n);
  float mean = 0.f, inv = 0.f;
  const float* pb = beta.is_none() ? nullptr : b.data();
  if (rms) fi::kernels::f32_rmsnorm_row(x.data(), gamma.data(), pb, y.mutable_data(), n, eps);
  else fi::kernels::f32_layernorm_row_stats(x.data(), gamma.data(), pb, y.mutable_data(), n, eps, &mean, &inv);
  return py::make_tuple(y, mean, inv);
}

}  // namespace

void bind_vmath(py::module_& k) {
  k.def("vmath", &vmath, py::arg("name"), py::arg("x"), py::arg("offset") = 0, py::arg("inplace") = false,
        "y[offset:] = f(x[offset:]) with the kernels/vmath.h function of that name (exp, expm1, sigmoid, tanh, "
        "erf, silu, gelu_erf, gelu_tanh, hard_swish, act_sigmoid, act_tanh, elu, selu, none, softmax_row, "
        "log_softmax_row) at the ISA tier in force.");
  k.def("vmath_norm", &vmath_norm, py::arg("x"), py::arg("gamma"), py::arg("beta") = py::none(),
        py::arg("eps") = 1e-5f, py::arg("rms") = false, "One layer-norm (or RMS-norm) row: (y, mean, inv_std).");
}
