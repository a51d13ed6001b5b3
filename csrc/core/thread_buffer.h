// Per-thread scratch that outlives a call: a 64-byte-aligned float buffer of at least n floats,
// one per thread and Tag, grown when a call needs more and kept for the thread's lifetime, so the
// next call's scratch is already in this core's caches. Distinct tags for buffers one thread uses
// at the same time (a MobileNet block's window while its GEMMs pack A).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fi {

template <class Tag>
float* thread_buffer(size_t floats) {
  thread_local std::vector<float> buf;
  if (buf.size() < floats + 16) buf.resize(floats + 16);
  auto addr = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<float*>((addr + 63) & ~uintptr_t(63));
}

}  // namespace fi
