#include "core/cpu_features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <cpuid.h>
#define FI_X86 1
#endif

namespace fi {

namespace {

#ifdef FI_X86
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}
#endif

CpuFeatures probe() {
  CpuFeatures f;
#ifdef FI_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  bool osxsave = c & (1u << 27);
  bool avx = c & (1u << 28);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  bool ymm_os = (xcr0 & 0x6) == 0x6;
  bool zmm_os = (xcr0 & 0xe6) == 0xe6;
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = avx && ymm_os && (b & (1u << 5));
    f.avx512f = zmm_os && (b & (1u << 16));
    f.avx512dq = f.avx512f && (b & (1u << 17));
    f.avx512bw = f.avx512f && (b & (1u << 30));
    f.avx512vl = f.avx512f && (b & (1u << 31));
    f.avx512vnni = f.avx512f && (c & (1u << 11));
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512bf16 = f.avx512f && (a & (1u << 5));
    f.avxvnni = f.avx2 && (a & (1u << 4));
  }
  f.fma = f.fma && ymm_os;
  char brand[49] = {};
  if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i) {
      __cpuid(0x80000002u + i, a, b, c, d);
      std::memcpy(brand + 16 * i, &a, 4);
      std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &c, 4);
      std::memcpy(brand + 16 * i + 12, &d, 4);
    }
  }
  f.brand = brand;
  while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
#endif
  return f;
}

IsaTier hardware_tier() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma) return IsaTier::Avx512;
  if (f.avx2 && f.fma) return IsaTier::Avx2;
  return IsaTier::Ref;
}

IsaTier parse_tier(const std::string& s) {
  if (s == "ref" || s == "scalar") return IsaTier::Ref;
  if (s == "avx2") return IsaTier::Avx2;
  if (s == "avx512") return IsaTier::Avx512;
  throw InvalidArgument(str("FASTINFER_ISA must be one of ref, avx2, avx512; got '", s, "'"));
}

std::atomic<int> g_tier{-1};

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = probe();
  return f;
}

const char* isa_name(IsaTier t) {
  switch (t) {
    case IsaTier::Avx512: return "avx512";
    case IsaTier::Avx2: return "avx2";
    default: return "ref";
  }
}

IsaTier set_isa_tier(const std::string& name) {
  IsaTier want = parse_tier(name);
  IsaTier hw = hardware_tier();
  IsaTier t = int(want) < int(hw) ? want : hw;
  g_tier.store(int(t));
  return t;
}

IsaTier isa_tier() {
  int t = g_tier.load(std::memory_order_relaxed);
  if (t >= 0) return IsaTier(t);
  const char* env = std::getenv("FASTINFER_ISA");
  IsaTier hw = hardware_tier();
  IsaTier chosen = hw;
  if (env && *env) {
    IsaTier want = parse_tier(env);
    chosen = int(want) < int(hw) ? want : hw;
  }
  int expected = -1;
  g_tier.compare_exchange_strong(expected, int(chosen));
  return IsaTier(g_tier.load());
}

}  // namespace fi
