// A process-wide cache of large freed buffers, for the tensors a run returns to its caller.
//
// A graph output is a fresh heap buffer per run (it outlives the run, so it cannot live in the
// session's arena). Large ones come from mmap, and each 4 KiB page of a fresh mapping costs a
// page fault on first touch: about 2 us on the VMs we measure on, 20 ms for a 38 MB output,
// more than the kernel that writes it. ONNX Runtime's arena keeps such memory; we keep freed
// buffers of at least kMinBytes here (up to FASTINFER_BUFFER_CACHE_MB in all, 256 by default,
// 0 turns it off) and hand them to the next request of about the same size.
#pragma once
#include <cstddef>

namespace fi {

// A cached kAlignment-aligned buffer of at least `bytes`, or null when none fits (the caller
// allocates a fresh one).
void* buffer_cache_take(size_t bytes);
// Gives back a buffer that came from buffer_cache_take (or std::aligned_alloc) of size `bytes`:
// it is cached, or freed when the cache is full or it is small.
void buffer_cache_give(void* p, size_t bytes);
// Bytes held by the cache now (for tests).
size_t buffer_cache_bytes();

}  // namespace fi
