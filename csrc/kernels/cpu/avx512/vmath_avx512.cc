// The vectorised fp32 math's AVX-512 table (traits: avx512/vmath_traits.h).
// GCC 12 reports its own _mm512_undefined_ps() pass-through operands as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/cpu/avx512/vmath_traits.h"
#include "kernels/cpu/vmath_impl.h"

namespace fi::kernels {

const VmathTable& vmath_table_avx512() {
  static const VmathTable t = vm::make_table<simd::Avx512Math>();
  return t;
}

}  // namespace fi::kernels
