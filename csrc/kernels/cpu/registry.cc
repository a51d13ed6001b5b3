// Kernel selection tables, built from each family's list and filtered by the ISA tier in force
// (the CPU's best, capped by FASTINFER_ISA).
#include <cstring>

#include "core/cpu_features.h"
#include "kernels/dwconv.h"
#include "kernels/gemm.h"

namespace fi::kernels {

namespace {
constexpr int tier_ref = int(IsaTier::Ref);
constexpr int tier_avx2 = int(IsaTier::Avx2);
constexpr int tier_avx512 = int(IsaTier::Avx512);
}  // namespace

const std::vector<F32GemmKernel>& f32_gemm_kernels() {
  static const std::vector<F32GemmKernel> table = {
#define FI_GEMM_KERNEL(isa, name, mr, nr) {#name, tier_##isa, mr, nr, &name, &name##_direct, &name##_indirect},
#include "kernels/cpu/f32_gemm.inc"
#undef FI_GEMM_KERNEL
  };
  return table;
}

bool f32_gemm_supported(const F32GemmKernel& k) { return k.tier <= int(isa_tier()); }

const F32GemmKernel& select_f32_gemm(int64_t m, int64_t n, int64_t k) {
  (void)k;
  // The first kernel of the highest allowed tier: its default tile (see cpu/f32_gemm.inc); with
  // AVX-512, 6x64 from kF32WideTileMinRows rows when N fills its 64 columns.
  const F32GemmKernel* best = nullptr;
  for (const F32GemmKernel& e : f32_gemm_kernels()) {
    if (!f32_gemm_supported(e)) continue;
    if (!best || e.tier > best->tier) best = &e;
  }
  if (best->tier == 2 && m >= kF32WideTileMinRows && n >= 64)
    if (const F32GemmKernel* wide = find_f32_gemm("f32_gemm_6x64__avx512")) return *wide;
  return *best;  // the ref kernel is always supported
}

const F32GemmKernel* find_f32_gemm(const char* name) {
  for (const F32GemmKernel& e : f32_gemm_kernels())
    if (std::strcmp(e.name, name) == 0) return &e;
  return nullptr;
}

const std::vector<F32DwConvKernel>& f32_dwconv_kernels() {
  static const std::vector<F32DwConvKernel> table = {
#define FI_DWCONV_KERNEL(isa, name, kh, kw, sw) {#name, tier_##isa, kh, kw, sw, &name},
#include "kernels/cpu/f32_dwconv.inc"
#undef FI_DWCONV_KERNEL
  };
  return table;
}

bool f32_dwconv_supported(const F32DwConvKernel& k) { return k.tier <= int(isa_tier()); }

bool f32_dwconv_fits(const F32DwConvKernel& k, const DwConvGeom& g) {
  return (k.kh == 0 || k.kh == g.kh) && (k.kw == 0 || k.kw == g.kw) && (k.sw == 0 || k.sw == g.stride_w);
}

const F32DwConvKernel& select_f32_dwconv(const DwConvGeom& g) {
  const F32DwConvKernel* best = nullptr;
  auto specific = [](const F32DwConvKernel& k) { return (k.kh != 0) + (k.kw != 0) + (k.sw != 0); };
  for (const F32DwConvKernel& e : f32_dwconv_kernels()) {
    if (!f32_dwconv_supported(e) || !f32_dwconv_fits(e, g)) continue;
    if (!best || e.tier > best->tier || (e.tier == best->tier && specific(e) > specific(*best))) best = &e;
  }
  return *best;  // the ref kernel fits everything
}

const F32DwConvKernel* find_f32_dwconv(const char* name) {
  for (const F32DwConvKernel& e : f32_dwconv_kernels())
    if (std::strcmp(e.name, name) == 0) return &e;
  return nullptr;
}

}  // namespace fi::kernels
