#include "core/tensor.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

#include "core/buffer_cache.h"
#include "core/dispatch_type.h"

namespace fi {

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ",";
    s += std::to_string(d_[i]);
  }
  return s + "]";
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= (rank == 0 ? 1 : rank))
    throw InvalidArgument(str(what, " ", axis, " is out of range for rank ", rank));
  return axis < 0 ? axis + rank : axis;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out;
  out.resize(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else throw InvalidArgument(str("shapes ", a.str(), " and ", b.str(), " cannot be broadcast"));
  }
  return out;
}

namespace {
std::atomic<uint64_t> g_buffer_allocs{0};

// The deleter of alloc_buffer's plain heap buffers (a named type: Tensor::exclusive_heap asks for it).
struct HeapFree {
  void operator()(void* q) const { std::free(q); }
};

// FASTINFER_POISON_ALLOCS=1 fills new buffers with 0xA5 in place of zeros or whatever memory
// held: a test mode that catches kernels relying on zero-filled outputs.
bool poison_allocs() {
  static const bool poison = [] {
    const char* e = std::getenv("FASTINFER_POISON_ALLOCS");
    return e && *e && *e != '0';
  }();
  return poison;
}

// Buffers of 2 MiB and more start on a 2 MiB boundary and ask for transparent huge pages (Linux,
// where THP is often in "madvise" mode). Packed weights and the arena, streamed from memory on
// every run, then cost one TLB entry per 2 MiB, not 512 (ResNet-50 at batch 1: 0.98x the time,
// Zen 4), and one page fault per 2 MiB when first written, not 512: a fault costs about 2 us per
// 4 KiB page on these VMs, and BERT-base's 48 weights of 768 x 768 (2.25 MiB each) were copied
// and then packed at session creation through some 55K of them. Only whole 2 MiB pages inside
// the buffer are advised, so it holds no more memory than without.
constexpr size_t kHugePage = size_t(2) << 20;

void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = kHugePage;
  if (bytes < kHuge) return;
  const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}
}  // namespace

uint64_t buffer_allocation_count() { return g_buffer_allocs.load(std::memory_order_relaxed); }

std::shared_ptr<void> alloc_buffer(size_t bytes, bool zero, bool recycle) {
  g_buffer_allocs.fetch_add(1, std::memory_order_relaxed);
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  void* p = recycle ? buffer_cache_take(rounded) : nullptr;
  if (!p) {  // fresh memory (a cached buffer was advised when it was made)
    if (rounded < kHugePage || posix_memalign(&p, kHugePage, rounded) != 0)
      p = std::aligned_alloc(kAlignment, rounded);
    if (!p) throw RuntimeError(str("out of memory allocating ", bytes, " bytes"));
    advise_huge_pages(p, rounded);
  }
  if (poison_allocs()) std::memset(p, 0xA5, rounded);
  else if (zero) std::memset(p, 0, rounded);
  if (recycle) return std::shared_ptr<void>(p, [rounded](void* q) { buffer_cache_give(q, rounded); });
  return std::shared_ptr<void>(p, HeapFree());
}

std::shared_ptr<void> alloc_mapped_buffer(size_t bytes) {
#if defined(__unix__) || defined(__APPLE__)
  constexpr size_t kMinMapped = size_t(256) << 10;  // smaller ones come from malloc's free lists
  if (bytes >= kMinMapped) {
    g_buffer_allocs.fetch_add(1, std::memory_order_relaxed);
    // Populated at once: the kernel writes every element anyway, and one call that maps all pages
    // costs less than a fault per 4 KiB page on first touch (a VM's faults are slow): MiniLM's first
    // call at a new shape, 2x128, 73.5 -> 67.8 ms (steady 57.5).
#if defined(MAP_POPULATE)
    constexpr int kPopulate = MAP_POPULATE;
#else
    constexpr int kPopulate = 0;
#endif
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | kPopulate, -1, 0);
    if (p == MAP_FAILED) throw RuntimeError(str("out of memory allocating ", bytes, " bytes"));
    if (poison_allocs()) std::memset(p, 0xA5, bytes);
    return std::shared_ptr<void>(p, [bytes](void* q) { munmap(q, bytes); });
  }
#endif
  return alloc_buffer(bytes, /*zero=*/false);
}

std::shared_ptr<void> alloc_strings(int64_t n) {
  g_buffer_allocs.fetch_add(1, std::memory_order_relaxed);
  auto* p = new std::string[size_t(n > 0 ? n : 1)];
  return std::shared_ptr<void>(p, [](void* q) { delete[] static_cast<std::string*>(q); });
}

Tensor Tensor::empty(DataType dt, const Shape& shape, bool zero) { return make(dt, shape, zero, Source::Heap); }

Tensor Tensor::empty_output(DataType dt, const Shape& shape) { return make(dt, shape, false, Source::Recycled); }

Tensor Tensor::empty_mapped(DataType dt, const Shape& shape) { return make(dt, shape, false, Source::Mapped); }

Tensor Tensor::make(DataType dt, const Shape& shape, bool zero, Source src) {
  for (int64_t d : shape)
    if (d < 0) throw InvalidArgument(str("negative dimension in shape ", shape.str()));
  if (dt == DataType::String) {
    auto owner = alloc_strings(shape.numel());
    void* p = owner.get();
    return Tensor(dt, shape, p, std::move(owner));
  }
  size_t es = dtype_size(dt);
  if (es == 0) throw NotImplemented(str("element type code ", int(dt), " is not supported"));
  const size_t bytes = size_t(shape.numel()) * es;
  auto owner = src == Source::Mapped ? alloc_mapped_buffer(bytes) : alloc_buffer(bytes, zero, src == Source::Recycled);
  void* p = owner.get();
  return Tensor(dt, shape, p, std::move(owner));
}

bool Tensor::exclusive_heap() const {
  return owner_ && owner_.use_count() == 1 && data_ == owner_.get() && std::get_deleter<HeapFree>(owner_) != nullptr;
}

Tensor Tensor::clone() const {
  Tensor t = Tensor::empty(dtype_, shape_, /*zero=*/false);
  if (dtype_ == DataType::String) {
    const auto* s = data<std::string>();
    auto* d = t.data<std::string>();
    for (int64_t i = 0; i < numel(); ++i) d[i] = s[i];
  } else if (nbytes()) {
    std::memcpy(t.raw(), data_, nbytes());
  }
  return t;
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel()));
  if (dtype_ == DataType::Bool) {
    for (size_t i = 0; i < v.size(); ++i) v[i] = data<bool>()[i];
    return v;
  }
  if (!dtype_is_integer(dtype_))
    throw InvalidArgument(str("expected an integer tensor, got ", dtype_name(dtype_)));
  dispatch_integer(dtype_, "to_int64", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = int64_t(p[i]);
  });
  return v;
}

double Tensor::scalar_as_double() const {
  if (numel() < 1) throw InvalidArgument("expected a scalar, got an empty tensor");
  if (dtype_ == DataType::Bool) return data<bool>()[0] ? 1.0 : 0.0;
  return dispatch_numeric(dtype_, "scalar", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return static_cast<double>(data<T>()[0]);
  });
}

}  // namespace fi
