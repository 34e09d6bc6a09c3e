// Reading and writing elements of any dtype as f32 (or i32) on the device. The dtype is a kernel
// argument, the same for every thread, so the switch is a uniform branch: one kernel serves every
// dtype instead of one instantiation each (compile time and code size stay small).
#pragma once

#include "common/dtype.h"
#include "common/gpu.h"

namespace slimlm::cuda {

__device__ __forceinline__ float loadAsFloat(const void* data, DType type, int64_t i) {
  switch (type) {
    case DType::f16: return halfToFloat(static_cast<const half*>(data)[i]);
    case DType::bf16: return bf16ToFloat(static_cast<const bfloat16*>(data)[i]);
    case DType::i32: return static_cast<float>(static_cast<const int32_t*>(data)[i]);
    case DType::u8: return static_cast<float>(static_cast<const uint8_t*>(data)[i]);
    default: return static_cast<const float*>(data)[i];
  }
}

/// Stores `v` rounded once to the dtype (round to nearest even, as core's half.ts).
__device__ __forceinline__ void storeFloat(void* data, DType type, int64_t i, float v) {
  switch (type) {
    case DType::f16: static_cast<half*>(data)[i] = floatToHalf(v); break;
    case DType::bf16: static_cast<bfloat16*>(data)[i] = floatToBf16(v); break;
    case DType::i32: static_cast<int32_t*>(data)[i] = static_cast<int32_t>(v); break;
    case DType::u8: static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(v); break;
    default: static_cast<float*>(data)[i] = v; break;
  }
}

__device__ __forceinline__ int32_t loadAsInt(const void* data, DType type, int64_t i) {
  return type == DType::u8 ? static_cast<int32_t>(static_cast<const uint8_t*>(data)[i])
                           : static_cast<const int32_t*>(data)[i];
}

/// Stores an integer, wrapping to the dtype as C's conversions do.
__device__ __forceinline__ void storeInt(void* data, DType type, int64_t i, int32_t v) {
  if (type == DType::u8) static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(v);
  else static_cast<int32_t*>(data)[i] = v;
}

}  // namespace slimlm::cuda
