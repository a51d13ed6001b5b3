// numpy <-> fi::Tensor conversion for the binding. Inputs are viewed without a copy (the caller
// keeps the array alive for the call); outputs hand their buffer to numpy through a capsule.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "core/tensor.h"

namespace fi::py_convert {

namespace py = pybind11;

// `arr` must be C-contiguous with the item size of `dt` (exotic types arrive as uint8/uint16
// views from the Python layer); strings arrive as an object array of str or bytes.
Tensor view_array(int dtype_code, const py::array& arr);
// As view_array, but the tensor owns a copy of the data (initializers, attributes).
Tensor copy_array(int dtype_code, const py::array& arr);
// A numpy array over the tensor's data (no copy when the tensor owns it). Exotic types come
// back as uint8/uint16 arrays; the Python layer views them with ml_dtypes.
py::array to_array(const Tensor& t);

}  // namespace fi::py_convert
