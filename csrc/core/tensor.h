// Tensor: element type, shape and a pointer to contiguous row-major data. The data is either
// owned (a heap buffer shared through `owner`) or a view (arena slot, caller's array), in which
// case `owner` may be empty and the memory outlives the tensor by construction.
// String tensors hold an array of std::string and are always owned.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "core/shape.h"

namespace fi {

constexpr size_t kAlignment = 64;

// Allocates `bytes` aligned to kAlignment (zero-filled unless `zero` is false) and returns the owner.
// recycle: large buffers come from and go back to the buffer cache (core/buffer_cache.h).
std::shared_ptr<void> alloc_buffer(size_t bytes, bool zero = true, bool recycle = false);
// Allocates `bytes` (not zeroed) straight from the OS when large (mmap; freed with munmap), else
// like alloc_buffer: for one-off buffers that must not leave a fragmented heap behind.
std::shared_ptr<void> alloc_mapped_buffer(size_t bytes);
// Allocates `n` default-constructed strings.
std::shared_ptr<void> alloc_strings(int64_t n);
// How many buffers alloc_buffer/alloc_strings have made so far (tests check steady-state runs).
uint64_t buffer_allocation_count();

class Tensor {
 public:
  Tensor() = default;
  Tensor(DataType dt, Shape shape, void* data, std::shared_ptr<void> owner = {})
      : dtype_(dt), shape_(shape), data_(data), owner_(std::move(owner)) {}

  // A new owned tensor (zero-filled unless `zero` is false; strings empty).
  static Tensor empty(DataType dt, const Shape& shape, bool zero = true);
  // An uninitialised tensor a run returns to its caller: its buffer, when large, is recycled
  // (core/buffer_cache.h), so steady-state runs do not page-fault on fresh memory.
  static Tensor empty_output(DataType dt, const Shape& shape);
  // An uninitialised tensor for a run that traces a new shape (graph/executor.cc): its memory,
  // when large, goes back to the OS when freed (alloc_mapped_buffer). The trace's values, freed
  // in a different order than made, would otherwise leave the heap fragmented and the process's
  // peak memory above the planned arena the next runs use.
  static Tensor empty_mapped(DataType dt, const Shape& shape);

  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_[size_t(i)]; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool defined() const { return dtype_ != DataType::Undefined; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <class T> T* data() { return static_cast<T*>(data_); }
  template <class T> const T* data() const { return static_cast<const T*>(data_); }

  const std::shared_ptr<void>& owner() const { return owner_; }
  // True when the data is the whole of a heap buffer alloc_buffer made (not recycled, mapped, a
  // model file's bytes or a caller's array) and no other tensor shares it: its holder may
  // overwrite it (a kernel packing a folded weight in place).
  bool exclusive_heap() const;
  // Same data, another shape of the same number of elements.
  Tensor reshaped(const Shape& s) const { return Tensor(dtype_, s, data_, owner_); }
  // A deep copy that owns its data.
  Tensor clone() const;
  // Elements as int64 (from any integer type); throws InvalidArgument for other types.
  std::vector<int64_t> to_int64_vector() const;
  // Element 0 as double (from any numeric type).
  double scalar_as_double() const;

  void reset() { *this = Tensor(); }

 private:
  enum class Source { Heap, Recycled, Mapped };
  static Tensor make(DataType dt, const Shape& shape, bool zero, Source src);

  DataType dtype_ = DataType::Undefined;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;
};

}  // namespace fi
