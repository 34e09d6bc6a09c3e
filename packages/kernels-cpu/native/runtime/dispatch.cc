// Chooses the kernel table for this CPU at load: the best ISA whose instructions the CPU and the
// OS (saved register state, XCR0) both support, unless SLIMLM_CPU_ISA names one.
#include "runtime/dispatch.h"

#include <cpuid.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace slimlm {
namespace {

uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f{};
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  const bool avx = (c >> 28) & 1;
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymmState = (xcr0 & 0x6) == 0x6;
  const bool zmmState = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = avx && ymmState && ((b >> 5) & 1);
  f.avx512f = zmmState && ((b >> 16) & 1);
  f.avx512dq = zmmState && ((b >> 17) & 1);
  f.avx512bw = zmmState && ((b >> 30) & 1);
  f.avx512vl = zmmState && ((b >> 31) & 1);
  f.avx512vnni = zmmState && ((c >> 11) & 1);
  unsigned a1, b1, c1, d1;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512bf16 = zmmState && ((a1 >> 5) & 1);
  return f;
}

}  // namespace

const CpuFeatures& cpuFeatures() {
  static const CpuFeatures features = detect();
  return features;
}

bool isaSupported(Isa isa) {
  const CpuFeatures& f = cpuFeatures();
  switch (isa) {
    case Isa::avx512: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma && f.f16c;
    case Isa::avx2: return f.avx2 && f.fma && f.f16c;
    default: return true;
  }
}

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

Isa parseIsa(const std::string& name) {
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
    if (name == isaName(isa)) return isa;
  }
  throw std::invalid_argument("unknown ISA '" + name + "' (expected avx512, avx2 or scalar)");
}

Isa bestIsa() {
  const char* forced = std::getenv("SLIMLM_CPU_ISA");
  if (forced != nullptr && *forced != '\0') {
    const Isa isa = parseIsa(forced);
    if (!isaSupported(isa)) throw std::runtime_error(std::string("SLIMLM_CPU_ISA=") + forced + " but this CPU does not support it");
    return isa;
  }
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    if (isaSupported(isa)) return isa;
  }
  return Isa::scalar;
}

}  // namespace slimlm
