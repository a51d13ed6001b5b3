// Helpers shared by the data-movement ops of the shape family: dispatch on element size,
// strided copies (transposes, slices, broadcasts) and checks on sizes that come from inputs.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/dispatch_type.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace fi {

// An opaque element of N bytes with alignment 1 (inputs may be unaligned).
template <size_t N>
struct Elem {
  unsigned char b[N];
};

// Calls fn(TypeTag<T>{}) with T = std::string for strings, else Elem<size of dt>.
template <class Fn>
decltype(auto) dispatch_by_size(DataType dt, const char* what, Fn&& fn) {
  if (dt == DataType::String) return fn(TypeTag<std::string>{});
  switch (dt == DataType::Undefined ? 0 : dtype_size(dt)) {
    case 1: return fn(TypeTag<Elem<1>>{});
    case 2: return fn(TypeTag<Elem<2>>{});
    case 4: return fn(TypeTag<Elem<4>>{});
    case 8: return fn(TypeTag<Elem<8>>{});
    case 16: return fn(TypeTag<Elem<16>>{});
    default: break;
  }
  throw NotImplemented(str(what, ": element type ", dtype_name(dt), " is not supported"));
}

// Largest number of elements an op may create from sizes read from its inputs.
constexpr int64_t kMaxOutputElements = int64_t(1) << 40;

// Product of dims, throwing InvalidArgument on a negative dim or a product above kMaxOutputElements.
int64_t checked_numel(const Shape& s, const char* what);

// Drops size-1 dims and merges dims that are contiguous in the source, in place.
void coalesce_dims(Shape& shape, Shape& strides);

// Row-major strides (in elements) of a contiguous tensor of `shape`.
inline Shape contiguous_strides_of(const Shape& shape) {
  Shape s;
  s.resize(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

// Offset in the source of the first element of outer row `idx` over dims [0, ndims).
inline int64_t outer_offset(int64_t idx, const Shape& shape, const Shape& strides, int ndims) {
  int64_t off = 0;
  for (int k = ndims - 1; k >= 0; --k) {
    off += (idx % shape[size_t(k)]) * strides[size_t(k)];
    idx /= shape[size_t(k)];
  }
  return off;
}

// dst (contiguous, of `shape`) [i0..ik] = src[sum i_k * strides_k]; strides in elements, may be
// zero (broadcast) or negative (reversed slices). When the source's unit-stride dim is not the
// last one (transposes), 32x32 tiles of that dim against the last keep both sides cache-friendly.
template <class T>
void strided_copy(ThreadPool* pool, T* dst, const T* src, Shape shape, Shape strides) {
  int64_t n = shape.numel();
  if (n == 0) return;
  coalesce_dims(shape, strides);
  int r = shape.rank();
  if (r == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner = shape[size_t(r - 1)], is = strides[size_t(r - 1)];
  int kdim = -1;  // a dim contiguous in the source other than the last: tile it against the last
  for (int k = r - 2; k >= 0 && is != 1 && inner > 1; --k)
    if (strides[size_t(k)] == 1) {
      kdim = k;
      break;
    }
  if (kdim >= 0) {
    constexpr int64_t B = 32;
    const int64_t rows = shape[size_t(kdim)], cols = inner;
    const Shape ocs = contiguous_strides_of(shape);
    Shape bshape, bsrc, bdst;  // the remaining (batch) dims
    for (int k = 0; k < r - 1; ++k)
      if (k != kdim) {
        bshape.push_back(shape[size_t(k)]);
        bsrc.push_back(strides[size_t(k)]);
        bdst.push_back(ocs[size_t(k)]);
      }
    const int64_t batch = n / (rows * cols), tr = (rows + B - 1) / B, tc = (cols + B - 1) / B;
    const int64_t ostride = ocs[size_t(kdim)];
    const int nb = bshape.rank();
    parallel_for(pool, batch * tr * tc, 4, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t bi = t / (tr * tc), rem = t % (tr * tc);
        int64_t i0 = rem / tc * B, j0 = rem % tc * B;
        const T* s = src + outer_offset(bi, bshape, bsrc, nb);
        T* d = dst + outer_offset(bi, bshape, bdst, nb);
        int64_t i1 = std::min(i0 + B, rows), j1 = std::min(j0 + B, cols);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) d[i * ostride + j] = s[i + j * is];
      }
    });
    return;
  }
  const int64_t outer = n / inner;
  parallel_for(pool, outer, copy_grain(inner * int64_t(sizeof(T))), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const T* s = src + outer_offset(o, shape, strides, r - 1);
      T* d = dst + o * inner;
      if (is == 1) {
        std::copy(s, s + inner, d);
      } else {
        for (int64_t j = 0; j < inner; ++j) d[j] = s[j * is];
      }
    }
  });
}

// Copies a strided view of `src` (element strides, starting `offset` elements in) into `dst`,
// whose shape is the view's shape. Any element type.
void strided_copy_tensor(ThreadPool* pool, Tensor& dst, const Tensor& src, int64_t offset, const Shape& strides);

// Copies all elements of src into dst (same type and count).
void copy_tensor_data(Tensor& dst, const Tensor& src);

// Reads an integer index tensor (int32 or int64) as int64; InvalidArgument for other types.
std::vector<int64_t> read_indices(const Tensor& t, const char* what);

}  // namespace fi
