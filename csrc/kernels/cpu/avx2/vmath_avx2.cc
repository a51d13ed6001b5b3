// The vectorised fp32 math's AVX2+FMA table (traits: avx2/vmath_traits.h).
#include "kernels/cpu/avx2/vmath_traits.h"
#include "kernels/cpu/vmath_impl.h"

namespace fi::kernels {

const VmathTable& vmath_table_avx2() {
  static const VmathTable t = vm::make_table<simd::Avx2Math>();
  return t;
}

}  // namespace fi::kernels
