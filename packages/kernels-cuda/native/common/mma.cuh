// The sm_80 warp-level matrix instructions the tensor-core GEMM is built from, as inline PTX:
// cp.async (global -> shared, 16 bytes, zero-filling what lies outside the matrix), ldmatrix
// (8x8 tiles of 16-bit values from shared memory into the mma fragment layout, optionally
// transposed) and mma.sync m16n8k16 with f32 accumulators.
#pragma once

#include <cstdint>
#include <type_traits>

#include "common/gpu.h"

#if !defined(SLIMLM_GPU_MMA_SYNC)
#error "common/mma.cuh is NVIDIA PTX; AMD builds use the tiled GEMM (common/gpu.h)"
#endif

namespace slimlm::cuda {

__device__ __forceinline__ uint32_t sharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/// Copies `bytes` (0..16) from global `src` to shared `dst` and zero-fills the rest of the 16.
__device__ __forceinline__ void copyAsync16(void* dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(dst)), "l"(src),
               "r"(bytes));
}

__device__ __forceinline__ void commitAsync() { asm volatile("cp.async.commit_group;\n" ::); }

/// Waits until at most `Pending` committed groups are still in flight.
template <int Pending>
__device__ __forceinline__ void waitAsync() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

/// Four 8x8 tiles of 16-bit values; lane l gives the address of row l % 8 of tile l / 8.
__device__ __forceinline__ void loadMatrix4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}

/// The same, each tile transposed (the addresses then point at the tiles' columns).
__device__ __forceinline__ void loadMatrix4Transposed(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}

/// d = a (16x16, row) * b (16x8, col) + d, f32 accumulators; T is __half or __nv_bfloat16.
template <typename T>
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

}  // namespace slimlm::cuda
