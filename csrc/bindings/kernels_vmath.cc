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
// in place computes in a copy of x. repeat > 1 runs the function that many times (benchmarks).
py::array_t<float> vmath(const std::string& name, FArray x, int64_t offset, bool inplace, int64_t repeat) {
  const int64_t n = x.size();
  if (offset < 0 || offset > n) throw py::value_error("offset out of range");
  py::array_t<float> y(n);
  float* py_ = y.mutable_data();
  std::memcpy(py_, x.data(), size_t(n) * sizeof(float));
  const float* src = (inplace ? py_ : x.data()) + offset;
  float* dst = py_ + offset;
  const int64_t m = n - offset;
  namespace k = fi::kernels;
  using Fn = void (*)(const float*, float*, int64_t);
  Fn fn = nullptr;
  Activation act = Activation::None;
  bool is_act = false;
  int elu = 0;
  if (name == "exp") fn = k::f32_exp;
  else if (name == "expm1") fn = k::f32_expm1;
  else if (name == "sigmoid") fn = k::f32_sigmoid;
  else if (name == "tanh") fn = k::f32_tanh;
  else if (name == "erf") fn = k::f32_erf;
  else if (name == "log") fn = k::f32_log;
  else if (name == "softplus") fn = k::f32_softplus;
  else if (name == "softmax_row") fn = k::f32_softmax_row;
  else if (name == "log_softmax_row") fn = k::f32_log_softmax_row;
  else if (name == "elu") elu = 1;
  else if (name == "selu") elu = 2;
  else {
    is_act = true;
    if (name == "silu") act = Activation::Silu;
    else if (name == "gelu_erf") act = Activation::GeluErf;
    else if (name == "gelu_tanh") act = Activation::GeluTanh;
    else if (name == "hard_swish") act = Activation::HardSwish;
    else if (name == "act_sigmoid") act = Activation::Sigmoid;
    else if (name == "act_tanh") act = Activation::Tanh;
    else if (name != "none") throw py::value_error("unknown vmath function " + name);
  }
  py::gil_scoped_release nogil;
  for (int64_t r = 0; r < repeat; ++r) {
    if (fn) fn(src, dst, m);
    else if (is_act) k::f32_activation(act, src, dst, m);
    else if (elu == 1) k::f32_elu(src, dst, m, 1.f, 1.f, 1.f);
    else k::f32_elu(src, dst, m, 1.67326319217681884765625f, 1.05070102214813232421875f, 1.f);
  }
  return y;
}

// softmax(scale * x + mask) of one row.
py::array_t<float> vmath_softmax_masked(FArray x, py::object mask, float scale) {
  const int64_t n = x.size();
  FArray m;
  if (!mask.is_none()) {
    m = FArray(mask);
    if (m.size() != n) throw py::value_error("mask must have x's size");
  }
  py::array_t<float> y(n);
  fi::kernels::f32_softmax_row_masked(x.data(), mask.is_none() ? nullptr : m.data(), scale, y.mutable_data(), n);
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
        py::arg("repeat") = 1, "y[offset:] = f(x[offset:]) with the kernels/vmath.h function of that name (exp, expm1, sigmoid, tanh, "
        "erf, log, softplus, silu, gelu_erf, gelu_tanh, hard_swish, act_sigmoid, act_tanh, elu, selu, none, softmax_row, "
        "log_softmax_row) at the ISA tier in force.");
  k.def("vmath_softmax_masked", &vmath_softmax_masked, py::arg("x"), py::arg("mask") = py::none(),
        py::arg("scale") = 1.f, "softmax(scale * x + mask) of one row.");
  k.def("vmath_norm", &vmath_norm, py::arg("x"), py::arg("gamma"), py::arg("beta") = py::none(),
        py::arg("eps") = 1e-5f, py::arg("rms") = false, "One layer-norm (or RMS-norm) row: (y, mean, inv_std).");
}
