// The one portability header. kernels-cuda's sources are written in CUDA's spelling, and this is
// the only file that knows they are also compiled for AMD GPUs (@slimlm/kernels-rocm builds the
// same files with hipcc and SLIMLM_HIP defined). Every difference the kernels must respect is
// stated here, once:
//
// - Runtime API: HIP's functions and types under the CUDA names the sources use (only those).
// - 16-bit floats: `half` and `bfloat16` name each vendor's storage type; halfToFloat,
//   floatToHalf, bf16ToFloat and floatToBf16 convert on the host and the device alike (round to
//   nearest even, as core's half.ts).
// - Warps: every kernel works in 32-lane warps (kWarpLanes), and lanes talk through shuffleXor /
//   shuffle (and order shared memory with __syncwarp, which AMD builds get from here). AMD's CDNA GPUs (gfx908, gfx90a, gfx940) run 64-lane wavefronts: each holds two
//   32-lane warps, and every shuffle is given width 32 so that it stays inside its warp. RDNA
//   (gfx1030) runs 32-lane waves, as NVIDIA does.
// - Shared memory: a block may ask for at most kMaxSharedBytesPerBlock (64 KiB of LDS on AMD);
//   plans are sized against it (plans.h).
// - Matrix instructions: the tensor-core GEMM is NVIDIA's mma.sync / ldmatrix / cp.async
//   (SLIMLM_GPU_MMA_SYNC); AMD builds run the portable tiled GEMM instead, and capabilities()
//   says which one a build has.
// - Atomic adds on 16-bit floats, which HIP 5.2 lacks: a compare-and-swap on the 32-bit word.
#pragma once

#include <cstdint>
#include <string>

#if defined(SLIMLM_HIP)

#include <hip/hip_bfloat16.h>
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>

// ---- runtime API: CUDA's names, HIP's functions ----
#define cudaDeviceProp hipDeviceProp_t
#define cudaDriverGetVersion hipDriverGetVersion
#define cudaError_t hipError_t
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaFree hipFree
#define cudaFuncAttributeMaxDynamicSharedMemorySize hipFuncAttributeMaxDynamicSharedMemorySize
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaGetErrorName hipGetErrorName
#define cudaGetErrorString hipGetErrorString
#define cudaGetLastError hipGetLastError
#define cudaMalloc hipMalloc
#define cudaMemGetInfo hipMemGetInfo
#define cudaMemcpyAsync hipMemcpyAsync
#define cudaMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemsetAsync hipMemsetAsync
#define cudaRuntimeGetVersion hipRuntimeGetVersion
#define cudaSetDevice hipSetDevice
#define cudaStreamCreate hipStreamCreate
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaStream_t hipStream_t
#define cudaSuccess hipSuccess

/// hipFuncSetAttribute takes the kernel as `const void*` where CUDA's template takes it typed.
template <typename Kernel>
inline hipError_t cudaFuncSetAttribute(Kernel* kernel, hipFuncAttribute attribute, int value) {
  return hipFuncSetAttribute(reinterpret_cast<const void*>(kernel), attribute, value);
}

#else

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

/// The build has NVIDIA's warp-level matrix instructions (the tensor-core GEMM).
#define SLIMLM_GPU_MMA_SYNC 1

#endif

/// SLIMLM_HD marks helpers that host and device code share (plain inline functions for g++).
#if defined(__CUDACC__) || defined(__HIPCC__)
#define SLIMLM_HD __host__ __device__ __forceinline__
#else
#define SLIMLM_HD inline
#endif

namespace slimlm::cuda {

/// "cuda" or "rocm": the backend this build registers.
#if defined(SLIMLM_HIP)
inline constexpr const char* kBackendName = "rocm";
#else
inline constexpr const char* kBackendName = "cuda";
#endif

/// Lanes per warp in every kernel (a 64-lane AMD wavefront holds two).
constexpr int kWarpLanes = 32;

/// The most shared memory (static + dynamic) a block may use: AMD's LDS per workgroup, or the
/// opt-in limit of the smallest NVIDIA target (sm_80: 163 KiB).
#if defined(SLIMLM_HIP)
constexpr int64_t kMaxSharedBytesPerBlock = 64 * 1024;
#else
constexpr int64_t kMaxSharedBytesPerBlock = 163 * 1024;
#endif

// ---- device properties the two runtimes report differently ----

/// The device's name; on AMD with its architecture, e.g. "AMD Instinct MI210 (gfx90a:sramecc+:xnack-)".
inline std::string deviceName(const cudaDeviceProp& props) {
#if defined(SLIMLM_HIP)
  return std::string(props.name) + " (" + props.gcnArchName + ")";
#else
  return props.name;
#endif
}

/// The most dynamic shared memory a block may ask for (HIP 5.2 reports no opt-in limit: a
/// block's LDS is all there is).
inline size_t sharedMemoryPerBlockOptin(const cudaDeviceProp& props) {
#if defined(SLIMLM_HIP)
  return props.sharedMemPerBlock;
#else
  return props.sharedMemPerBlockOptin;
#endif
}

// ---- 16-bit floats ----

#if defined(SLIMLM_HIP)
using half = __half;
using bfloat16 = hip_bfloat16;  // { uint16_t data; } alike on the host and the device

SLIMLM_HD float bf16ToFloat(bfloat16 v) {
  return __builtin_bit_cast(float, static_cast<uint32_t>(v.data) << 16);
}

SLIMLM_HD bfloat16 floatToBf16(float f) {
  const uint32_t bits = __builtin_bit_cast(uint32_t, f);
  bfloat16 out;
  if ((bits & 0x7fffffffu) > 0x7f800000u) out.data = static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  else out.data = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  return out;
}
#else
using half = __half;
using bfloat16 = __nv_bfloat16;

SLIMLM_HD float bf16ToFloat(bfloat16 v) { return __bfloat162float(v); }
SLIMLM_HD bfloat16 floatToBf16(float f) { return __float2bfloat16_rn(f); }
#endif

SLIMLM_HD float halfToFloat(half v) { return __half2float(v); }
SLIMLM_HD half floatToHalf(float f) { return __float2half_rn(f); }

#if defined(__CUDACC__) || defined(__HIPCC__)

// ---- warp shuffles over 32 lanes ----

#if defined(SLIMLM_HIP)
#if !defined(HIP_ENABLE_WARP_SYNC_BUILTINS)
/// CUDA's __syncwarp, which HIP 5.2 lacks: a wavefront's lanes run in lockstep, so what remains
/// is ordering their shared-memory writes before the reads that follow.
__device__ __forceinline__ void __syncwarp() {
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "wavefront");
  __builtin_amdgcn_wave_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "wavefront");
}
#endif

template <typename T>
__device__ __forceinline__ T shuffleXor(T v, int laneMask) {
  return __shfl_xor(v, laneMask, kWarpLanes);
}
template <typename T>
__device__ __forceinline__ T shuffle(T v, int lane) {
  return __shfl(v, lane, kWarpLanes);
}
#else
constexpr unsigned kFullMask = 0xffffffffu;
template <typename T>
__device__ __forceinline__ T shuffleXor(T v, int laneMask) {
  return __shfl_xor_sync(kFullMask, v, laneMask);
}
template <typename T>
__device__ __forceinline__ T shuffle(T v, int lane) {
  return __shfl_sync(kFullMask, v, lane);
}
#endif

// ---- atomic adds on 16-bit floats ----

#if defined(SLIMLM_HIP)
/// Adds to the 16-bit value at `p` by swapping its whole aligned 32-bit word until no other
/// thread got in between; `add` maps the old 16 bits to the new ones.
template <typename Add>
__device__ __forceinline__ void atomicUpdate16(uint16_t* p, Add add) {
  auto* word = reinterpret_cast<unsigned int*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{3});
  const int shift = (reinterpret_cast<uintptr_t>(p) & 2) ? 16 : 0;
  unsigned int old = *word, assumed;
  do {
    assumed = old;
    const uint16_t next = add(static_cast<uint16_t>(assumed >> shift));
    old = atomicCAS(word, assumed, (assumed & ~(0xffffu << shift)) | (static_cast<unsigned int>(next) << shift));
  } while (old != assumed);
}

__device__ __forceinline__ void atomicAddHalf(half* p, float v) {
  atomicUpdate16(reinterpret_cast<uint16_t*>(p), [v](uint16_t bits) {
    const half sum = floatToHalf(halfToFloat(__builtin_bit_cast(half, bits)) + v);
    return __builtin_bit_cast(uint16_t, sum);
  });
}

__device__ __forceinline__ void atomicAddBf16(bfloat16* p, float v) {
  atomicUpdate16(reinterpret_cast<uint16_t*>(p), [v](uint16_t bits) {
    bfloat16 b;
    b.data = bits;
    return floatToBf16(bf16ToFloat(b) + v).data;
  });
}
#else
__device__ __forceinline__ void atomicAddHalf(half* p, float v) { atomicAdd(p, floatToHalf(v)); }
__device__ __forceinline__ void atomicAddBf16(bfloat16* p, float v) { atomicAdd(p, floatToBf16(v)); }
#endif

#endif  // device code

}  // namespace slimlm::cuda
