// Kernel entry points exposed as fastinfer._core.kernels for the kernel tests and bench/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_kernels(py::module_& m) {
  py::module_ k = m.def_submodule("kernels", "direct access to kernels, for tests and benchmarks");
  (void)k;
}
