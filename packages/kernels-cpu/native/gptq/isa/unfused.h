// A value the compiler must not fuse into the operation that uses it. GCC contracts a product and
// the addition or subtraction that uses it into one FMA, which rounds once instead of twice and so
// differs from the reference's torch code; an empty asm that claims to change the value makes it a
// value of its own. Per ISA translation unit (internal linkage: the register class differs).
#pragma once

namespace slimlm {
namespace SLIMLM_ISA {

template <typename T>
static inline T unfused(T x) {
#if defined(__AVX512F__)
  __asm__("" : "+v"(x));
#else
  __asm__("" : "+x"(x));
#endif
  return x;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
