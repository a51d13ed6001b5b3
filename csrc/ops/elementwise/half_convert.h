// Batch float16 <-> float conversion for the elementwise engines: F16C instructions when the CPU
// has them (and the ISA tier is not capped to ref), else the scalar conversions of core/dtype.h.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace fi {
namespace ew {

void half_to_float(const Float16* src, float* dst, int64_t n);
void float_to_half(const float* src, Float16* dst, int64_t n);

}  // namespace ew
}  // namespace fi
