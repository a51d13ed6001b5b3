#include "bindings/convert.h"

#include <cstring>

namespace fi::py_convert {

namespace {

py::dtype numpy_dtype(DataType dt) {
  switch (dt) {
    case DataType::Float: return py::dtype::of<float>();
    case DataType::Double: return py::dtype::of<double>();
    case DataType::Int8: return py::dtype::of<int8_t>();
    case DataType::Int16: return py::dtype::of<int16_t>();
    case DataType::Int32: return py::dtype::of<int32_t>();
    case DataType::Int64: return py::dtype::of<int64_t>();
    case DataType::UInt8: return py::dtype::of<uint8_t>();
    case DataType::UInt16: return py::dtype::of<uint16_t>();
    case DataType::UInt32: return py::dtype::of<uint32_t>();
    case DataType::UInt64: return py::dtype::of<uint64_t>();
    case DataType::Bool: return py::dtype::of<bool>();
    case DataType::Complex64: return py::dtype("complex64");
    case DataType::Complex128: return py::dtype("complex128");
    case DataType::Float16: return py::dtype("float16");
    case DataType::BFloat16: return py::dtype::of<uint16_t>();
    default: return py::dtype::of<uint8_t>();  // float8, int4, uint4, float4: one byte each
  }
}

Shape shape_of(const py::array& arr) {
  Shape s;
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) s.push_back(int64_t(arr.shape(i)));
  return s;
}

Tensor strings_from(const py::array& arr) {
  Shape s = shape_of(arr);
  Tensor t = Tensor::empty(DataType::String, s);
  auto* out = t.data<std::string>();
  py::array flat = py::array(arr.attr("reshape")(-1));
  int64_t n = s.numel();
  for (int64_t i = 0; i < n; ++i) {
    py::object o = flat[py::int_(i)];
    if (py::isinstance<py::bytes>(o)) out[i] = o.cast<std::string>();
    else if (py::isinstance<py::str>(o)) out[i] = o.cast<std::string>();
    else out[i] = py::str(o).cast<std::string>();
  }
  return t;
}

}  // namespace

Tensor view_array(int dtype_code, const py::array& arr) {
  if (!dtype_valid(dtype_code)) throw InvalidArgument(str("unsupported element type code ", dtype_code));
  DataType dt = DataType(dtype_code);
  if (dt == DataType::String) return strings_from(arr);
  if (!(arr.flags() & py::array::c_style))
    throw InvalidArgument("internal: array must be C-contiguous");
  if (size_t(arr.itemsize()) != dtype_size(dt))
    throw InvalidArgument(str("array item size ", arr.itemsize(), " does not match element type ", dtype_name(dt)));
  return Tensor(dt, shape_of(arr), const_cast<void*>(arr.data()));
}

Tensor copy_array(int dtype_code, const py::array& arr) {
  Tensor v = view_array(dtype_code, arr);
  if (v.dtype() == DataType::String) return v;
  return v.clone();
}

py::array to_array(const Tensor& t) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  if (t.dtype() == DataType::String) {
    py::array out(py::dtype("O"), shape);
    auto** dst = static_cast<PyObject**>(out.mutable_data());
    const auto* src = t.data<std::string>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      PyObject* s = PyUnicode_DecodeUTF8(src[i].data(), py::ssize_t(src[i].size()), "surrogateescape");
      if (!s) throw py::error_already_set();
      Py_XDECREF(dst[i]);
      dst[i] = s;
    }
    return out;
  }
  py::dtype dtype = numpy_dtype(t.dtype());
  if (!t.owner()) {
    py::array out(dtype, shape);
    if (t.nbytes()) std::memcpy(out.mutable_data(), t.raw(), t.nbytes());
    return out;
  }
  auto* keep = new std::shared_ptr<void>(t.owner());
  py::capsule cap(keep, [](void* p) { delete static_cast<std::shared_ptr<void>*>(p); });
  return py::array(dtype, shape, {}, t.raw(), cap);
}

}  // namespace fi::py_convert
