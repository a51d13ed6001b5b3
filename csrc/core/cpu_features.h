// CPU features probed once from CPUID/XGETBV, and the ISA tier the kernels may use.
// FASTINFER_ISA=ref|avx2|avx512 caps the tier (never raises it above what the CPU has).
#pragma once
#include <string>

namespace fi {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx512bf16 = false, avxvnni = false;
  std::string brand;
};

enum class IsaTier { Ref = 0, Avx2 = 1, Avx512 = 2 };

// What the CPU and OS support (probed once).
const CpuFeatures& cpu_features();
// The best tier the CPU supports, capped by FASTINFER_ISA; read once at first call.
IsaTier isa_tier();
const char* isa_name(IsaTier t);
// Overrides the tier (still capped by the CPU); for tests and bench. Returns the tier in force.
IsaTier set_isa_tier(const std::string& name);

}  // namespace fi
