#pragma once

#include <string>

#include "slimlm/common.h"

namespace slimlm {

struct CpuFeatures {
  bool avx2, fma, f16c, avx512f, avx512dq, avx512bw, avx512vl, avx512bf16, avx512vnni;
};

const CpuFeatures& cpuFeatures();
bool isaSupported(Isa isa);
const char* isaName(Isa isa);
/// The ISA named `name` (throws for an unknown name).
Isa parseIsa(const std::string& name);
/// SLIMLM_CPU_ISA if set (throws if unknown or unsupported), else the best supported ISA.
Isa bestIsa();

}  // namespace slimlm
