// The register-tiled micro-kernel: C[MR x NR] (+)= A panel (kc x MR) * B panel (kc x NR), both
// packed f32 (pack.h). Each step of k broadcasts MR values of A against NR/kLanes vectors of B
// into MR * NR/kLanes accumulators that stay in registers for the whole panel:
//   AVX-512: 12 x 32 (24 zmm accumulators + 2 for B + broadcasts, of 32 registers)
//   AVX2:     6 x 16 (12 ymm accumulators + 2 for B + 1 broadcast, of 16)
//   scalar:   4 x 8  (plain loops the compiler vectorizes with SSE2)
#pragma once

#include "gemm/isa/simd.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

#if defined(__AVX512F__)
constexpr int MR = 12;
constexpr int NR = 32;
#elif defined(__AVX2__)
constexpr int MR = 6;
constexpr int NR = 16;
#else
constexpr int MR = 4;
constexpr int NR = 8;
#endif

#if defined(__AVX2__)

constexpr int NV = NR / kLanes;

/// c: MR rows ldc apart; accumulate adds to what c holds, else overwrites it. a and b are
/// 64-byte aligned packed panels.
inline void microKernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  Vec acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = Vec{};
  }
  for (int64_t p = 0; p < kc; p++) {
    Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = loadAligned(b + v * kLanes);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const Vec av = broadcast(a + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[i][v] = fma(av, bv[v], acc[i][v]);
    }
    a += MR;
    b += NR;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      float* out = c + i * ldc + v * kLanes;
      storeUnaligned(out, accumulate ? add(acc[i][v], loadUnaligned(out)) : acc[i][v]);
    }
  }
}

#else

inline void microKernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; p++) {
    for (int i = 0; i < MR; i++) {
      for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; i++) {
    for (int j = 0; j < NR; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
  }
}

#endif

}  // namespace
}  // namespace SLIMLM_ISA
}  // namespace slimlm
